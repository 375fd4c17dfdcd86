/**
 * The one API server an agent talks to: its in-cluster service account (the token file
 * re-read as the kubelet rotates it) or a context of a kubeconfig given to it. Nothing a
 * request says can change this target.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { readKubeconfigTarget, type KubeconfigTarget } from "../kube/kubeconfig-target.ts";
import type { MemberRoute } from "../forward/upstream.ts";
import { identityFromCert } from "../tls/pki.ts";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface ApiserverSource {
  /** A kubeconfig file; without it the in-cluster service account is used. */
  kubeconfig?: string;
  context?: string;
  /** Where the in-cluster token and CA live (tests point it elsewhere). */
  serviceAccountDir?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Front-proxy identity mode: the client certificate (signed by the API server's
   * --requestheader-client-ca-file, its CN in --requestheader-allowed-names) and key the
   * agent presents, instead of its own credential, on requests that carry X-Remote-*.
   */
  frontProxy?: { certFile: string; keyFile: string };
}

/** The front-proxy certificate as loaded, with the CN it announces to the gateway. */
export interface FrontProxyCertificate {
  certPem: string;
  keyPem: string;
  commonName: string;
}

/** Where the agent sends requests: the API server, its own credential, and the front-proxy certificate when it has one. */
export type AgentTarget = KubeconfigTarget & { frontProxy?: FrontProxyCertificate };

/** Reads and checks the front-proxy certificate files (a certificate with a CN, and its key). */
export async function loadFrontProxyCertificate(files: { certFile: string; keyFile: string }): Promise<FrontProxyCertificate> {
  const read = (what: string, path: string) =>
    readFile(path, "utf8").catch((err: Error) => {
      throw new Error(`cannot read the front-proxy ${what} ${path}: ${err.message}`);
    });
  const [certPem, keyPem] = await Promise.all([read("certificate", files.certFile), read("key", files.keyFile)]);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new Error(`${files.certFile} is not a PEM certificate`);
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    throw new Error(`${files.keyFile} is not a PEM private key`);
  }
  if (!matches) throw new Error(`the front-proxy key ${files.keyFile} does not match the certificate ${files.certFile}`);
  const commonName = identityFromCert(cert).user;
  if (commonName === "") throw new Error(`the front-proxy certificate ${files.certFile} has no CN: the API server checks it against --requestheader-allowed-names`);
  return { certPem, keyPem, commonName };
}

/** Reads the target now; call again to pick up a rotated token or front-proxy certificate. */
export async function loadApiserverTarget(src: ApiserverSource): Promise<AgentTarget> {
  const [target, frontProxy] = await Promise.all([loadOwnTarget(src), src.frontProxy === undefined ? undefined : loadFrontProxyCertificate(src.frontProxy)]);
  return frontProxy === undefined ? target : { ...target, frontProxy };
}

async function loadOwnTarget(src: ApiserverSource): Promise<KubeconfigTarget> {
  if (src.kubeconfig !== undefined) return readKubeconfigTarget(src.kubeconfig, src.context, "--kubeconfig");
  const env = src.env ?? process.env;
  const host = env["KUBERNETES_SERVICE_HOST"];
  const port = env["KUBERNETES_SERVICE_PORT"] ?? "443";
  if (host === undefined || host === "")
    throw new Error("not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset): pass --kubeconfig to name the API server and credential");
  const dir = src.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const tokenFile = `${dir}/token`;
  const [token, caPem] = await Promise.all([readFile(tokenFile, "utf8"), readFile(`${dir}/ca.crt`, "utf8")]).catch((err: Error) => {
    throw new Error(`cannot read the pod's service account from ${dir}: ${err.message}`);
  });
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return { serverUrl: `https://${hostPart}:${port}`, caPem, credential: { kind: "bearer", token: token.trim() }, tokenFile };
}

/** The target as a direct-mode route, so the agent reuses the data plane's upstream pools. */
export function apiserverRoute(cluster: string, t: KubeconfigTarget): MemberRoute {
  return {
    name: cluster,
    mode: "direct",
    serverUrl: t.serverUrl,
    caPem: t.caPem,
    credential: t.credential,
    identityMode: "impersonate",
    version: JSON.stringify([t.serverUrl, t.caPem, t.credential]),
  };
}

/** The same API server reached with the front-proxy certificate only (no token, no other certificate). */
export function frontProxyRoute(cluster: string, t: AgentTarget): MemberRoute | undefined {
  if (t.frontProxy === undefined) return undefined;
  const credential = { kind: "front-proxy" as const, certPem: t.frontProxy.certPem, keyPem: t.frontProxy.keyPem };
  return { name: cluster, mode: "direct", serverUrl: t.serverUrl, caPem: t.caPem, credential, identityMode: "front-proxy", version: JSON.stringify([t.serverUrl, t.caPem, credential]) };
}
