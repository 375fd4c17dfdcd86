/**
 * The one API server an agent talks to: its in-cluster service account (the token file
 * re-read as the kubelet rotates it) or a context of a kubeconfig given to it. Nothing a
 * request says can change this target.
 */
import { readFile } from "node:fs/promises";
import { readKubeconfigTarget, type KubeconfigTarget } from "../kube/kubeconfig-target.ts";
import type { MemberRoute } from "../forward/upstream.ts";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface ApiserverSource {
  /** A kubeconfig file; without it the in-cluster service account is used. */
  kubeconfig?: string;
  context?: string;
  /** Where the in-cluster token and CA live (tests point it elsewhere). */
  serviceAccountDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** Reads the target now; call again to pick up a rotated token. */
export async function loadApiserverTarget(src: ApiserverSource): Promise<KubeconfigTarget> {
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
    version: JSON.stringify([t.serverUrl, t.caPem, t.credential]),
  };
}
