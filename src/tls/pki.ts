/**
 * Certificates for kubegate's own TLS: a private CA, serving certificates it signs,
 * and client certificates (CN = user, O = groups, as Kubernetes reads them).
 * Pure JavaScript (webcrypto + @peculiar/x509), so no openssl binary or native addon.
 */
import "reflect-metadata";
import { webcrypto, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type Key = webcrypto.CryptoKey;
type Keys = webcrypto.CryptoKeyPair;

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate with its private key, both PEM. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

/** Options shared by every certificate we issue. */
export interface IssueOptions {
  /** Validity in days from now (default 365, CA default 3650). */
  days?: number;
  /** Clock for tests. */
  now?: Date;
}

function escapeRdn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, "\\$1");
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString("hex");
}

async function keyToPem(key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<Key> {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return webcrypto.subtle.importKey("pkcs8", Buffer.from(b64, "base64"), ALG, true, ["sign"]);
}

async function newKeys(): Promise<Keys> {
  return webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
}

function validity(opts: IssueOptions | undefined, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const now = opts?.now ?? new Date();
  return {
    notBefore: new Date(now.getTime() - 5 * 60 * 1000), // tolerate small clock skew
    notAfter: new Date(now.getTime() + (opts?.days ?? defaultDays) * DAY_MS),
  };
}

/** Creates a self-signed CA. */
export async function createCa(commonName: string, opts?: IssueOptions): Promise<KeyPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${escapeRdn(commonName)}`,
    ...validity(opts, 3650),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem") + "\n", keyPem: await keyToPem(keys.privateKey) };
}

async function issue(
  ca: KeyPair,
  subject: string,
  extensions: x509.Extension[],
  opts: IssueOptions | undefined,
): Promise<KeyPair> {
  const keys = await newKeys();
  const caCert = new x509.X509Certificate(ca.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: caCert.subject,
    ...validity(opts, 365),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: await importKey(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      ...extensions,
    ],
  });
  return { certPem: cert.toString("pem") + "\n", keyPem: await keyToPem(keys.privateKey) };
}

/** Issues a serving certificate for the given DNS names and IP addresses. */
export async function issueServerCert(ca: KeyPair, hosts: string[], opts?: IssueOptions): Promise<KeyPair> {
  const names = hosts.map((h) => (isIP(h) ? { type: "ip" as const, value: h } : { type: "dns" as const, value: h }));
  return issue(
    ca,
    `CN=${escapeRdn(hosts[0] ?? "kubegate")}`,
    [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
    ],
    opts,
  );
}

/** Issues a client certificate: CN is the user, each O a group (Kubernetes' convention). */
export async function issueClientCert(ca: KeyPair, user: string, groups: string[] = [], opts?: IssueOptions): Promise<KeyPair> {
  const subject = [...groups.map((g) => `O=${escapeRdn(g)}`), `CN=${escapeRdn(user)}`].join(", ");
  return issue(
    ca,
    subject,
    [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
    opts,
  );
}

/** Reads user (CN) and groups (O) from a peer certificate as Kubernetes does. */
export function identityFromCert(cert: X509Certificate | { subject: Record<string, string | string[]> }): {
  user: string;
  groups: string[];
} {
  if (cert instanceof X509Certificate) {
    const lines = cert.subject.split("\n");
    const user = lines.filter((l) => l.startsWith("CN=")).map((l) => l.slice(3))[0] ?? "";
    const groups = lines.filter((l) => l.startsWith("O=")).map((l) => l.slice(2));
    return { user, groups };
  }
  const cn = cert.subject["CN"];
  const o = cert.subject["O"];
  return {
    user: Array.isArray(cn) ? (cn[0] ?? "") : (cn ?? ""),
    groups: o === undefined ? [] : Array.isArray(o) ? o : [o],
  };
}

/** Parses a PEM bundle; throws with a readable message when it holds no valid certificate. */
export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error("no PEM certificate found");
  return blocks.map((b) => new X509Certificate(b));
}
