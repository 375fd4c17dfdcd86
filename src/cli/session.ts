/**
 * The logged-in session: control-plane URL, its CA, and the caller's credential (an API
 * key, or an OIDC login: ID token and refresh token), stored in the user's config
 * directory with mode 0600. Read by every command that calls kubegate.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { CliError } from "./cli-error.ts";

export interface Session {
  server: string;
  /** PEM; absent when the server's certificate chains to system roots. */
  caPem?: string;
  /** Exactly one of apiKey and oidc is set. */
  apiKey?: string;
  oidc?: OidcLogin;
}

/** A login at the control plane's identity provider, as a public client. */
export interface OidcLogin {
  issuerUrl: string;
  clientId: string;
  scopes: string[];
  /** The bearer the control plane verifies. */
  idToken: string;
  /** Absent when the provider issued none: the login ends with the ID token. */
  refreshToken?: string;
}

/** $KUBEGATE_CONFIG_DIR, else $XDG_CONFIG_HOME/kubegate, else ~/.config/kubegate. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env["KUBEGATE_CONFIG_DIR"]) return env["KUBEGATE_CONFIG_DIR"];
  const base = env["XDG_CONFIG_HOME"] || join(env["HOME"] || homedir(), ".config");
  return join(base, "kubegate");
}

/** Where cached tokens live: $KUBEGATE_CACHE_DIR, else $XDG_CACHE_HOME/kubegate, else ~/.cache/kubegate. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env["KUBEGATE_CACHE_DIR"]) return env["KUBEGATE_CACHE_DIR"];
  const base = env["XDG_CACHE_HOME"] || join(env["HOME"] || homedir(), ".cache");
  return join(base, "kubegate");
}

const SESSION_FILE = "session.json";

export async function loadSession(env: NodeJS.ProcessEnv = process.env): Promise<Session> {
  const file = join(configDir(env), SESSION_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CliError("not logged in: run `kubegate login --server <control-plane URL>`");
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const s = JSON.parse(text) as Partial<Session>;
    if (typeof s.server !== "string") throw new Error("missing fields");
    const caPem = typeof s.caPem === "string" ? { caPem: s.caPem } : {};
    if (typeof s.apiKey === "string") return { server: s.server, apiKey: s.apiKey, ...caPem };
    const o = s.oidc;
    if (o === undefined || typeof o.issuerUrl !== "string" || typeof o.clientId !== "string" || typeof o.idToken !== "string" || !Array.isArray(o.scopes)) throw new Error("missing fields");
    const oidc: OidcLogin = { issuerUrl: o.issuerUrl, clientId: o.clientId, scopes: o.scopes.map(String), idToken: o.idToken, ...(typeof o.refreshToken === "string" ? { refreshToken: o.refreshToken } : {}) };
    return { server: s.server, oidc, ...caPem };
  } catch {
    throw new CliError(`${file} is damaged: run \`kubegate login\` again`);
  }
}

/** Replaces the file whole (a refresh in another process never reads half of it). */
export async function saveSession(session: Session, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, SESSION_FILE);
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, JSON.stringify(session, null, 2) + "\n", { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return file;
}

/** The lock every process takes before it refreshes the session's login. */
export function sessionLockFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), `${SESSION_FILE}.lock`);
}

export async function removeSession(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = join(configDir(env), SESSION_FILE);
  try {
    await rm(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
