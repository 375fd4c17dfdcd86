/**
 * Browser sessions for the web console. The cookie holds the person's credential (API key
 * or OIDC ID token) sealed with the store's encryption key, so it is useless outside
 * kubegate, shared by every control-plane replica, and each call still authenticates the
 * credential itself: revoking the key or the ID token's expiry ends the session too.
 * HttpOnly keeps it from scripts; `__Host-`, Secure and SameSite=Strict keep it on this
 * origin; and it counts only on Connect or gRPC-Web calls, whose headers a cross-site form
 * cannot send.
 */
import { decodeJwt } from "jose";
import { createSealer } from "../store/seal.ts";
import { errors } from "../errors.ts";
import type { Authenticator } from "./authenticator.ts";
import type { SessionStarter } from "./deps.ts";

export const SESSION_COOKIE = "__Host-kubegate_session";
/** The longest a console session lasts, whatever the credential. */
export const SESSION_MAX_MS = 12 * 3_600_000;
const SEAL_CONTEXT = "console-session";

export interface ConsoleSessions {
  /** The Set-Cookie value for a session with `credential`, ending at `expiresAt`. */
  cookie(credential: string, expiresAt: Date): string;
  /** The Set-Cookie value that clears the session. */
  clearCookie(): string;
  /**
   * The credential of a request that sends no Authorization header, from its session
   * cookie; undefined without one. Throws Unauthenticated for a cookie that is altered,
   * ended, or sent on a call that is not Connect or gRPC-Web.
   */
  credentialOf(headers: Headers): string | undefined;
}

function cookieValue(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function createConsoleSessions(key: Buffer, clock: () => Date): ConsoleSessions {
  const sealer = createSealer(key);
  const attributes = "Path=/; Secure; HttpOnly; SameSite=Strict";
  return {
    cookie(credential, expiresAt) {
      const sealed = sealer.seal(JSON.stringify({ c: credential, e: expiresAt.getTime() }), SEAL_CONTEXT);
      const maxAge = Math.max(0, Math.round((expiresAt.getTime() - clock().getTime()) / 1000));
      return `${SESSION_COOKIE}=${sealed}; ${attributes}; Max-Age=${maxAge}`;
    },
    clearCookie: () => `${SESSION_COOKIE}=; ${attributes}; Max-Age=0`,
    credentialOf(headers) {
      const value = cookieValue(headers.get("cookie"), SESSION_COOKIE);
      if (value === undefined || value === "") return undefined;
      // Connect sends connect-protocol-version, gRPC-Web x-grpc-web: a form or an image
      // from another site can send neither (and SameSite=Strict already keeps the cookie home).
      if (!headers.has("connect-protocol-version") && !headers.has("x-grpc-web"))
        throw errors.unauthenticated("the console session cookie counts only on Connect and gRPC-Web calls");
      let session: { c?: unknown; e?: unknown };
      try {
        session = JSON.parse(sealer.open(value, SEAL_CONTEXT)) as { c?: unknown; e?: unknown };
      } catch {
        throw errors.unauthenticated("the console session cookie is not one this kubegate issued: log in again");
      }
      if (typeof session.c !== "string" || typeof session.e !== "number" || session.e <= clock().getTime())
        throw errors.unauthenticated("the console session has ended: log in again");
      return session.c;
    },
  };
}

/**
 * Starts sessions: the credential must authenticate now; the session ends after
 * SESSION_MAX_MS, or at the ID token's own expiry when that comes first.
 */
export function sessionStarter(authenticator: Authenticator, sessions: ConsoleSessions, clock: () => Date): SessionStarter {
  return {
    async start(credential) {
      const caller = await authenticator.authenticate(`Bearer ${credential}`);
      if (caller.authenticatedBy === "internal") throw errors.invalid("credential", "the data plane's own secret opens no console session");
      let end = clock().getTime() + SESSION_MAX_MS;
      if (caller.authenticatedBy === "oidc") end = Math.min(end, (decodeJwt(credential).exp ?? 0) * 1000);
      const expiresAt = new Date(end);
      return { caller, cookie: sessions.cookie(credential, expiresAt), expiresAt };
    },
    clearCookie: () => sessions.clearCookie(),
  };
}
