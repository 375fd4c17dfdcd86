/**
 * kubeconfig documents for kubegate's clusters. Names are `kubegate-<cluster>` for the
 * cluster, user and context entries, so kubegate can always tell its entries from others.
 */
import { stringify } from "yaml";

export const ENTRY_PREFIX = "kubegate-";

/** How kubectl gets a token for one cluster. */
export type KubeconfigAuth =
  | { mode: "exec"; command: string; args: string[]; env?: { name: string; value: string }[] }
  | { mode: "token"; token: string };

export interface KubeconfigEntry {
  cluster: string;
  /** https://<data plane>/clusters/<cluster> */
  server: string;
  caPem: string;
  namespace?: string;
  auth: KubeconfigAuth;
}

export interface NamedEntries {
  cluster: { name: string; cluster: Record<string, unknown> };
  user: { name: string; user: Record<string, unknown> };
  context: { name: string; context: Record<string, unknown> };
}

/** The cluster, user and context entries for one kubegate cluster. */
export function kubeconfigEntries(e: KubeconfigEntry): NamedEntries {
  const name = ENTRY_PREFIX + e.cluster;
  const user: Record<string, unknown> =
    e.auth.mode === "token"
      ? { token: e.auth.token }
      : {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: e.auth.command,
            args: e.auth.args,
            ...(e.auth.env && e.auth.env.length > 0 ? { env: e.auth.env } : {}),
            installHint: "kubegate is needed to get tokens for this cluster: install it (npm install -g kubegate) and run `kubegate login`.",
            provideClusterInfo: false,
            interactiveMode: "IfAvailable",
          },
        };
  return {
    cluster: { name, cluster: { server: e.server, "certificate-authority-data": Buffer.from(e.caPem).toString("base64") } },
    user: { name, user },
    context: { name, context: { cluster: name, user: name, ...(e.namespace ? { namespace: e.namespace } : {}) } },
  };
}

/** A complete kubeconfig holding only kubegate entries; the first is the current context. */
export function buildKubeconfig(entries: KubeconfigEntry[]): string {
  const named = entries.map(kubeconfigEntries);
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    clusters: named.map((n) => n.cluster),
    users: named.map((n) => n.user),
    contexts: named.map((n) => n.context),
    "current-context": named[0]?.context.name ?? "",
  }, { lineWidth: 0 });
}
