/**
 * Where one context of an existing kubeconfig points: server URL, the CA to verify it
 * with, and a static credential (a token, a token file, or a client certificate). Used by
 * `cluster register --from-kubeconfig` and by an agent that runs outside its cluster.
 */
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import type { ClusterCredentialSecret } from "../store/types.ts";

/** A kubeconfig that cannot be used, with a message naming the file and what is missing. */
export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

export interface KubeconfigTarget {
  serverUrl: string;
  caPem: string;
  credential: ClusterCredentialSecret;
  /** Set when the token came from a file, so a holder can re-read it as it rotates. */
  tokenFile?: string;
}

interface KubeconfigDoc {
  "current-context"?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name: string; cluster?: Record<string, unknown> }[];
  users?: { name: string; user?: Record<string, unknown> }[];
}

async function readText(what: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new KubeconfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

const b64 = (s: unknown) => (typeof s === "string" ? Buffer.from(s, "base64").toString("utf8") : undefined);
const str = (s: unknown) => (typeof s === "string" ? s : undefined);

/** `what` names the file in errors, as the user gave it (e.g. the flag "--kubeconfig"). */
export async function readKubeconfigTarget(file: string, contextName: string | undefined, what = "kubeconfig"): Promise<KubeconfigTarget> {
  let doc: KubeconfigDoc;
  const text = await readText(what, file);
  try {
    doc = parse(text) as KubeconfigDoc;
  } catch (err) {
    throw new KubeconfigError(`${file} is not a kubeconfig: ${(err as Error).message}`);
  }
  const name = contextName ?? doc?.["current-context"];
  if (!name) throw new KubeconfigError(`${file} has no current-context: pass --context`);
  const ctx = doc.contexts?.find((c) => c.name === name)?.context;
  if (ctx === undefined) throw new KubeconfigError(`${file} has no context ${JSON.stringify(name)}`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (cluster === undefined || typeof cluster["server"] !== "string") throw new KubeconfigError(`${file}: context ${name} names no cluster with a server`);
  const caFile = str(cluster["certificate-authority"]);
  const caPem = b64(cluster["certificate-authority-data"]) ?? (caFile === undefined ? undefined : await readText("certificate-authority", caFile));
  if (caPem === undefined) throw new KubeconfigError(`${file}: cluster of context ${name} has no certificate-authority(-data); kubegate verifies every member`);
  const tokenFile = str(user["tokenFile"]);
  const token = str(user["token"]) ?? (tokenFile === undefined ? undefined : (await readText("tokenFile", tokenFile)).trim());
  const certFile = str(user["client-certificate"]);
  const keyFile = str(user["client-key"]);
  const cert = b64(user["client-certificate-data"]) ?? (certFile === undefined ? undefined : await readText("client-certificate", certFile));
  const key = b64(user["client-key-data"]) ?? (keyFile === undefined ? undefined : await readText("client-key", keyFile));
  if (token !== undefined) return { serverUrl: cluster["server"], caPem, credential: { kind: "bearer", token }, ...(str(user["token"]) === undefined && tokenFile !== undefined ? { tokenFile } : {}) };
  if (cert !== undefined && key !== undefined) return { serverUrl: cluster["server"], caPem, credential: { kind: "client-certificate", certPem: cert, keyPem: key } };
  throw new KubeconfigError(`${file}: the user of context ${name} has no token or client certificate (exec and auth-provider users are not supported; give a token file)`);
}
