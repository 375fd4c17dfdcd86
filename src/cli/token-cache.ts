/**
 * Tokens cached on disk (0600) per control plane, API key and cluster, so kubectl's
 * exec plugin answers from a file on every call and mints only near expiry.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Session } from "./session.ts";

/** The `sub` of an ID token, read without jose (the fast path loads nothing). */
function subjectOf(jwt: string): string {
  try {
    const sub = (JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub?: unknown }).sub;
    return typeof sub === "string" ? sub : "";
  } catch {
    return "";
  }
}

export interface CachedToken {
  token: string;
  /** ISO 8601. */
  expiresAt: string;
  issuedAt: string;
}

/**
 * The cache file: the server and credential are hashed so another login never sees these
 * tokens. An OIDC login is named by its issuer and subject, which a refresh keeps.
 */
export function tokenCacheFile(dir: string, session: Session, cluster: string): string {
  const credential = session.apiKey ?? `oidc\u0000${session.oidc?.issuerUrl}\u0000${session.oidc?.clientId}\u0000${subjectOf(session.oidc?.idToken ?? "")}`;
  const who = createHash("sha256").update(`${session.server}\u0000${credential}`).digest("hex").slice(0, 24);
  return join(dir, "tokens", `${who}-${cluster}.json`);
}

/**
 * Still good for a while: refresh at a third of the lifetime left or a minute before
 * expiry, whichever comes first, so a call never hands kubectl a token about to die.
 */
export function fresh(entry: CachedToken, now = Date.now()): boolean {
  return freshBetween(Date.parse(entry.issuedAt), Date.parse(entry.expiresAt), now);
}

/** The same rule for any credential issued at `issuedAtMs` and expiring at `expiresAtMs`. */
export function freshBetween(issuedAtMs: number, expiresAtMs: number, now = Date.now()): boolean {
  return expiresAtMs - now > Math.min(60_000, (expiresAtMs - issuedAtMs) / 3);
}

export async function readCachedToken(file: string): Promise<CachedToken | undefined> {
  try {
    const entry = JSON.parse(await readFile(file, "utf8")) as Partial<CachedToken>;
    if (typeof entry.token === "string" && typeof entry.expiresAt === "string" && typeof entry.issuedAt === "string") return entry as CachedToken;
  } catch {
    // missing or damaged: mint a new one
  }
  return undefined;
}

export async function writeCachedToken(file: string, entry: CachedToken): Promise<void> {
  const dir = join(file, "..");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
