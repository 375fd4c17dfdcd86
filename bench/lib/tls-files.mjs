/**
 * Certificates for benchmark servers that are not kubegate (nginx): a CA and a serving
 * certificate for 127.0.0.1 from kubegate's own PKI (dist/src/tls/pki.js), written as PEM
 * files into a temp dir.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { importDist } from "./paths.mjs";

/** Writes ca.crt, server.crt and server.key into `dir`; returns their paths and the CA PEM. */
export async function writeServingCert(dir, hosts = ["127.0.0.1", "localhost"]) {
  const { createCa, issueServerCert } = await importDist("src/tls/pki.js");
  const ca = await createCa("kubegate-bench-ca");
  const serving = await issueServerCert(ca, hosts);
  const files = { caFile: join(dir, "ca.crt"), certFile: join(dir, "server.crt"), keyFile: join(dir, "server.key") };
  await writeFile(files.caFile, ca.certPem);
  await writeFile(files.certFile, serving.certPem);
  await writeFile(files.keyFile, serving.keyPem, { mode: 0o600 });
  return { ...files, caPem: ca.certPem };
}
