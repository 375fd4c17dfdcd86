/** Kubeconfig files for pointing kubectl (or any client) at the fake. */
import type { KeyPair } from "../../../src/tls/pki.ts";

/** Who the kubeconfig authenticates as. */
export interface KubeconfigUser {
  /** A bearer token (default: the admin token). */
  token?: string;
  /** A client certificate (takes precedence over token). */
  clientCert?: KeyPair;
  /** Namespace of the context (default "default"). */
  namespace?: string;
  /** `as` / `as-groups` in the user entry: kubectl impersonates on every call. */
  impersonate?: string;
  impersonateGroups?: string[];
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Renders a kubeconfig (JSON is valid YAML, and kubectl reads it). */
export function renderKubeconfig(server: string, caPem: string, user: KubeconfigUser & { token: string }): string {
  const u: Record<string, unknown> = user.clientCert ? { "client-certificate-data": b64(user.clientCert.certPem), "client-key-data": b64(user.clientCert.keyPem) } : { token: user.token };
  if (user.impersonate) u["as"] = user.impersonate;
  if (user.impersonateGroups) u["as-groups"] = user.impersonateGroups;
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "fake", cluster: { server, "certificate-authority-data": b64(caPem) } }],
      users: [{ name: "fake-user", user: u }],
      contexts: [{ name: "fake", context: { cluster: "fake", user: "fake-user", namespace: user.namespace ?? "default" } }],
      "current-context": "fake",
      preferences: {},
    },
    null,
    2,
  );
}
