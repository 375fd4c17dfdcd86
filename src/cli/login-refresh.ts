/**
 * The bearer a session sends: its API key, or its OIDC ID token, refreshed near expiry.
 * A refresh takes the session lock and first re-reads the session, so when twenty exec
 * plugins find the token stale at once, one refreshes and the others use its result
 * (providers rotate refresh tokens: two refreshes with the same one can end the login).
 */
import { CliError } from "./cli-error.ts";
import { withFileLock } from "./file-lock.ts";
import { idTokenTimes, loginWithBrowser, OAuthError, refreshTokens } from "./oidc.ts";
import { loadSession, saveSession, sessionLockFile, type OidcLogin, type Session } from "./session.ts";
import { freshBetween } from "./token-cache.ts";

/** Refreshed as cached cluster tokens are: at a third of the lifetime left or a minute before expiry. */
export function idTokenFresh(idToken: string, now = Date.now()): boolean {
  const { issuedAt, expiresAt } = idTokenTimes(idToken);
  return freshBetween(issuedAt, expiresAt, now);
}

function loginCommand(session: Session): string {
  return `kubegate login --server ${session.server} --oidc`;
}

export interface CredentialOptions {
  /**
   * A person is at the terminal (kubectl said so in ExecCredential spec.interactive, or a
   * command runs in one): a login that cannot be refreshed opens the browser again.
   * Otherwise it fails at once and says to run `kubegate login`.
   */
  interactive: boolean;
}

const sameLogin = (a: OidcLogin, b: OidcLogin) => a.issuerUrl === b.issuerUrl && a.clientId === b.clientId;

/** The session's bearer, as a function Connect calls per request. */
export function sessionCredential(session: Session, opts: CredentialOptions = { interactive: false }): (() => Promise<string>) | string | undefined {
  if (session.apiKey !== undefined) return session.apiKey;
  if (session.oidc === undefined) return undefined;
  let login = session.oidc;
  return async () => {
    if (idTokenFresh(login.idToken)) return login.idToken;
    login = await withFileLock(sessionLockFile(), async () => {
      const latest = await loadSession().catch(() => undefined);
      const stored = latest?.server === session.server && latest.oidc !== undefined && sameLogin(latest.oidc, login) ? latest.oidc : login;
      if (idTokenFresh(stored.idToken)) return stored;
      const next = await renew(session, stored, opts);
      await saveSession({ ...(latest ?? session), oidc: next });
      return next;
    });
    return login.idToken;
  };
}

async function renew(session: Session, stored: OidcLogin, opts: CredentialOptions): Promise<OidcLogin> {
  let why = "the identity provider issued no refresh token";
  if (stored.refreshToken !== undefined) {
    try {
      return { ...stored, ...(await refreshTokens(stored, stored.refreshToken)) };
    } catch (err) {
      // Only a refused refresh token ends the login; an unreachable provider is an outage.
      if (!(err instanceof OAuthError) || err.error !== "invalid_grant") throw err;
      why = "the refresh token has expired or was revoked";
    }
  }
  if (!opts.interactive) throw new CliError(`your login at ${stored.issuerUrl} has ended (${why}): run \`${loginCommand(session)}\``);
  process.stderr.write(`kubegate: your login at ${stored.issuerUrl} has ended (${why}); logging in again.\n`);
  const tokens = await loginWithBrowser(stored, { noBrowser: false, timeoutMs: 300_000, print: (line) => process.stderr.write(line) });
  return { ...stored, refreshToken: undefined, ...tokens };
}
