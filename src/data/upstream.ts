/**
 * How to reach each member: a keep-alive TLS connection pool per cluster that verifies
 * the member against its registered CA and presents the gateway's credential. Pools are
 * rebuilt when the cluster's route changes (credential rotation, new CA or URL).
 */
import https from "node:https";
import { isIP } from "node:net";
import { DataPathError } from "./status.ts";
import type { ClusterRouteView } from "./view.ts";

export interface Upstream {
  cluster: string;
  hostname: string;
  port: number;
  /** Path prefix of the member's API (usually ""). */
  basePath: string;
  agent: https.Agent;
  /** TLS options for one-off connections (upgrades). */
  tls: Pick<https.AgentOptions, "ca" | "servername" | "cert" | "key">;
  /** Authorization header value for bearer credentials. */
  authorization: string | undefined;
}

export interface Upstreams {
  get(route: ClusterRouteView): Upstream;
  /** Closes pools of clusters that are gone or changed. */
  prune(live: Map<string, ClusterRouteView>): void;
  close(): void;
}

function build(route: ClusterRouteView): Upstream {
  if (route.mode !== "direct")
    throw new DataPathError("unavailable", `cluster ${JSON.stringify(route.name)} is in agent mode and its agent is not connected`);
  const url = new URL(route.serverUrl);
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const tls: Pick<https.AgentOptions, "ca" | "servername" | "cert" | "key"> = {
    ca: route.caPem,
    ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
    ...(route.credential?.kind === "client-certificate" ? { cert: route.credential.certPem, key: route.credential.keyPem } : {}),
  };
  return {
    cluster: route.name,
    hostname,
    port: url.port === "" ? 443 : Number(url.port),
    basePath: url.pathname.replace(/\/+$/, ""),
    // LIFO keeps a few warm sockets busy instead of spreading load over cold ones.
    // No cap on sockets: each watch holds one, and a queued watch would look like a hang.
    agent: new https.Agent({ keepAlive: true, maxFreeSockets: 64, scheduling: "lifo", ...tls }),
    tls,
    authorization: route.credential?.kind === "bearer" ? `Bearer ${route.credential.token}` : undefined,
  };
}

export function createUpstreams(): Upstreams {
  const pools = new Map<string, { version: string; upstream: Upstream }>();
  return {
    get(route) {
      const cached = pools.get(route.name);
      if (cached !== undefined && cached.version === route.version) return cached.upstream;
      cached?.upstream.agent.destroy();
      const upstream = build(route);
      pools.set(route.name, { version: route.version, upstream });
      return upstream;
    },
    prune(live) {
      for (const [name, pool] of pools) {
        if (live.get(name)?.version !== pool.version) {
          pool.upstream.agent.destroy();
          pools.delete(name);
        }
      }
    },
    close() {
      for (const pool of pools.values()) pool.upstream.agent.destroy();
      pools.clear();
    },
  };
}
