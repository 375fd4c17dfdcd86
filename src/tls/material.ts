/**
 * The TLS material kubegate serves with: given cert files, or its own CA and a serving
 * certificate created in the data directory on first start (private keys mode 0600).
 */
import { X509Certificate } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { isIP } from "node:net";
import { join } from "node:path";
import { createCa, issueServerCert, type KeyPair } from "./pki.ts";

export interface TlsMaterial {
  /** The CA clients should trust for our serving certificate. */
  caPem: string;
  certPem: string;
  keyPem: string;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function writeSecret(path: string, content: string): Promise<void> {
  await writeFile(path, content, { mode: 0o600 });
  await chmod(path, 0o600);
}

function covers(certPem: string, host: string): boolean {
  const cert = new X509Certificate(certPem);
  if (cert.validTo && new Date(cert.validTo).getTime() < Date.now() + 7 * 24 * 3600 * 1000) return false;
  return isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
}

/**
 * Loads or creates the material. `hosts` are the names and addresses clients dial; a
 * stored serving certificate that misses one of them is re-issued from the same CA.
 */
export async function loadTlsMaterial(opts: {
  dataDir: string;
  hosts: string[];
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}): Promise<TlsMaterial> {
  if (opts.certFile !== undefined || opts.keyFile !== undefined) {
    if (opts.certFile === undefined || opts.keyFile === undefined) throw new Error("--tls-cert-file and --tls-key-file go together");
    const certPem = await readFile(opts.certFile, "utf8");
    const keyPem = await readFile(opts.keyFile, "utf8");
    const caPem = opts.caFile === undefined ? certPem : await readFile(opts.caFile, "utf8");
    return { caPem, certPem, keyPem };
  }
  const caCrt = join(opts.dataDir, "ca.crt");
  const caKey = join(opts.dataDir, "ca.key");
  let ca: KeyPair;
  const existingCa = await readIfExists(caCrt);
  const existingCaKey = await readIfExists(caKey);
  if (existingCa !== undefined && existingCaKey !== undefined) {
    ca = { certPem: existingCa, keyPem: existingCaKey };
  } else {
    ca = await createCa("kubegate CA");
    await writeSecret(caKey, ca.keyPem);
    await writeFile(caCrt, ca.certPem, { mode: 0o644 });
  }
  const srvCrt = join(opts.dataDir, "server.crt");
  const srvKey = join(opts.dataDir, "server.key");
  const certPem = await readIfExists(srvCrt);
  const keyPem = await readIfExists(srvKey);
  if (certPem !== undefined && keyPem !== undefined && opts.hosts.every((h) => covers(certPem, h))) {
    return { caPem: ca.certPem, certPem, keyPem };
  }
  const names = [...new Set(["localhost", "127.0.0.1", "::1", hostname(), ...opts.hosts])];
  const issued = await issueServerCert(ca, names);
  await writeSecret(srvKey, issued.keyPem);
  await writeFile(srvCrt, issued.certPem, { mode: 0o644 });
  return { caPem: ca.certPem, ...issued };
}
