/**
 * What the local proxy needs to reach one cluster, held in memory only: where the data
 * plane serves it (read from an exec-mode kubeconfig, which carries no token) and a fresh
 * token for it. One control-plane call in flight per cluster and kind; a token is replaced
 * a little before it expires, so no request leaves with one about to lapse.
 */
import { parse } from "yaml";

/** The data plane's address for one cluster. */
export interface ClusterTarget {
  cluster: string;
  hostname: string;
  port: number;
  /** "/clusters/<name>", no trailing slash: the Kubernetes path follows it. */
  basePath: string;
  /** PEM of the data plane's CA; undefined means the system roots. */
  caPem: string | undefined;
}

export interface MintedToken {
  token: string;
  expiresAt: Date;
}

/** The two control-plane calls the proxy makes (MintKubeconfig in exec mode, MintToken). */
export interface AccessSource {
  kubeconfig(cluster: string): Promise<string>;
  mintToken(cluster: string): Promise<MintedToken>;
}

export interface ClusterAccess {
  target(cluster: string): Promise<ClusterTarget>;
  token(cluster: string): Promise<string>;
  /** Forgets `token` (the data plane refused it), so the next call mints another. */
  invalidate(cluster: string, token: string): void;
}

/** Renew this long before expiry: 30 s, or a third of the token's life if that is less. */
export const RENEW_BEFORE_MS = 30_000;

/** Reads the data plane's URL and CA for `cluster` from a kubeconfig kubegate minted. */
export function targetFromKubeconfig(yaml: string, cluster: string): ClusterTarget {
  const doc = parse(yaml) as { clusters?: Array<{ name?: unknown; cluster?: Record<string, unknown> }> } | null;
  const entries = doc?.clusters ?? [];
  const entry = entries.find((e) => e.name === `kubegate-${cluster}`) ?? entries[0];
  const server = entry?.cluster?.["server"];
  if (typeof server !== "string") throw new Error(`the control plane's kubeconfig for cluster ${JSON.stringify(cluster)} has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`the control plane's kubeconfig for cluster ${JSON.stringify(cluster)} has a server that is not a URL`);
  }
  if (url.protocol !== "https:") throw new Error(`the data plane for cluster ${JSON.stringify(cluster)} is not served over https`);
  const caData = entry?.cluster?.["certificate-authority-data"];
  return {
    cluster,
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? 443 : Number(url.port),
    basePath: url.pathname.replace(/\/+$/, ""),
    caPem: typeof caData === "string" && caData !== "" ? Buffer.from(caData, "base64").toString("utf8") : undefined,
  };
}

/** Runs `load` once per key at a time; a failure is not remembered. */
function singleFlight<T>() {
  const inFlight = new Map<string, Promise<T>>();
  return (key: string, load: () => Promise<T>): Promise<T> => {
    const pending = inFlight.get(key);
    if (pending !== undefined) return pending;
    const p = load().finally(() => inFlight.delete(key));
    inFlight.set(key, p);
    return p;
  };
}

export function createClusterAccess(source: AccessSource, clock: () => number = Date.now): ClusterAccess {
  const targets = new Map<string, ClusterTarget>();
  const tokens = new Map<string, { token: string; renewAt: number }>();
  const loadTarget = singleFlight<ClusterTarget>();
  const loadToken = singleFlight<string>();

  return {
    async target(cluster) {
      const known = targets.get(cluster);
      if (known !== undefined) return known;
      return loadTarget(cluster, async () => {
        const target = targetFromKubeconfig(await source.kubeconfig(cluster), cluster);
        targets.set(cluster, target);
        return target;
      });
    },

    async token(cluster) {
      const cached = tokens.get(cluster);
      if (cached !== undefined && clock() < cached.renewAt) return cached.token;
      return loadToken(cluster, async () => {
        const mintedAt = clock();
        const minted = await source.mintToken(cluster);
        const life = minted.expiresAt.getTime() - mintedAt;
        tokens.set(cluster, { token: minted.token, renewAt: minted.expiresAt.getTime() - Math.min(RENEW_BEFORE_MS, life / 3) });
        return minted.token;
      });
    },

    invalidate(cluster, token) {
      if (tokens.get(cluster)?.token === token) tokens.delete(cluster);
    },
  };
}
