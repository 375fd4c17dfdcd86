/**
 * The agent's own credential: read from its state directory, or obtained once by
 * exchanging the bootstrap token, and replaced when older than its maximum age. Written
 * atomically with mode 0600; the bootstrap token is useless after the first exchange.
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import https from "node:https";
import { join } from "node:path";
import { ENROLL_PATH, ROTATE_PATH } from "./protocol.ts";

export interface GatewayEndpoint {
  url: URL;
  caPem: string;
}

/** The gateway refused the secret (401/403): retrying with it cannot help. */
export class CredentialRejectedError extends Error {
  override name = "CredentialRejectedError";
}

export const credentialPath = (stateDir: string) => join(stateDir, "credential");

/** POSTs to an agent endpoint with `secret` as bearer; answers the new credential. */
export function exchange(gateway: GatewayEndpoint, path: string, secret: string, timeoutMs = 15_000): Promise<{ cluster: string; credential: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      hostname: gateway.url.hostname.replace(/^\[|\]$/g, ""),
      port: gateway.url.port === "" ? 443 : Number(gateway.url.port),
      method: "POST",
      path,
      headers: { authorization: `Bearer ${secret}`, "content-length": 0 },
      ca: gateway.caPem,
      agent: false,
      timeout: timeoutMs,
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from the gateway within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: { cluster?: unknown; credential?: unknown; message?: unknown } = {};
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          // Reported below with the status.
        }
        const status = res.statusCode ?? 0;
        if (status === 200 && typeof body.cluster === "string" && typeof body.credential === "string") return resolve({ cluster: body.cluster, credential: body.credential });
        const why = typeof body.message === "string" ? body.message : text.slice(0, 200);
        if (status === 401 || status === 403) return reject(new CredentialRejectedError(`the gateway refused the agent's secret: ${why}`));
        reject(new Error(`the gateway answered ${path} with ${status}: ${why}`));
      });
    });
    req.end();
  });
}

async function store(stateDir: string, credential: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = credentialPath(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${credential}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

export async function readStoredCredential(stateDir: string): Promise<{ credential: string; ageMs: number } | undefined> {
  try {
    const file = credentialPath(stateDir);
    const [text, info] = await Promise.all([readFile(file, "utf8"), stat(file)]);
    const credential = text.trim();
    return credential === "" ? undefined : { credential, ageMs: Date.now() - info.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * The credential to dial with: the stored one (rotated first when older than `maxAgeMs`),
 * or a new one from the bootstrap token. Throws CredentialRejectedError when the gateway
 * refuses the bootstrap token (unknown or already used).
 */
export async function obtainCredential(opts: {
  gateway: GatewayEndpoint;
  stateDir: string;
  bootstrapToken: () => Promise<string | undefined>;
  maxAgeMs: number;
  onIssued(event: "enrolled" | "rotated", cluster: string): void;
}): Promise<string> {
  const stored = await readStoredCredential(opts.stateDir);
  if (stored !== undefined) {
    if (stored.ageMs < opts.maxAgeMs) return stored.credential;
    const next = await exchange(opts.gateway, ROTATE_PATH, stored.credential);
    await store(opts.stateDir, next.credential);
    opts.onIssued("rotated", next.cluster);
    return next.credential;
  }
  const bootstrap = await opts.bootstrapToken();
  if (bootstrap === undefined || bootstrap === "")
    throw new CredentialRejectedError(`no agent credential in ${opts.stateDir} and no bootstrap token: pass --bootstrap-token-file with the token \`kubegate cluster register --agent\` printed`);
  const issued = await exchange(opts.gateway, ENROLL_PATH, bootstrap);
  await store(opts.stateDir, issued.credential);
  opts.onIssued("enrolled", issued.cluster);
  return issued.credential;
}
