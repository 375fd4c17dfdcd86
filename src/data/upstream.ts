/**
 * How to reach each member: per cluster, one TLS SecureContext (its registered CA and the
 * gateway's client certificate, parsed once), a small pool of HTTP/2 sessions for
 * ordinary requests, and a keep-alive HTTP/1.1 pool for members that do not offer h2.
 * Pools are rebuilt when the cluster's route changes (credential rotation, new CA or URL),
 * which also re-probes the member's protocol.
 */
import https from "node:https";
import { isIP } from "node:net";
import tls, { type SecureContext } from "node:tls";
import { DataPathError } from "./status.ts";
import { createH2Pool, type H2Pool } from "./upstream-h2.ts";
import type { ClusterRouteView } from "./view.ts";

export interface Upstream {
  cluster: string;
  hostname: string;
  port: number;
  /** host[:port] of the member's URL, for :authority. */
  authority: string;
  /** Path prefix of the member's API (usually ""). */
  basePath: string;
  /** Ordinary requests, when the member speaks HTTP/2. */
  h2: H2Pool;
  /** Ordinary requests to a member that negotiated http/1.1. */
  agent: https.Agent;
  /** TLS options for one-off connections (upgrades): the shared context, so the CA is not parsed again. */
  tls: { secureContext: SecureContext; servername?: string };
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
  const port = url.port === "" ? 443 : Number(url.port);
  const servername = isIP(hostname) === 0 ? hostname : undefined;
  const secureContext = tls.createSecureContext({
    ca: route.caPem,
    ...(route.credential?.kind === "client-certificate" ? { cert: route.credential.certPem, key: route.credential.keyPem } : {}),
  });
  const tlsOptions = { secureContext, ...(servername === undefined ? {} : { servername }) };
  return {
    cluster: route.name,
    hostname,
    port,
    authority: url.host,
    basePath: url.pathname.replace(/\/+$/, ""),
    h2: createH2Pool({ host: hostname, port, servername, secureContext }),
    // LIFO keeps a few warm sockets busy instead of spreading load over cold ones. No cap
    // on sockets: each watch holds one, and a queued watch would look like a hang; and
    // enough free ones kept that a burst does not close and reopen connections.
    agent: new https.Agent({ keepAlive: true, maxFreeSockets: 1024, scheduling: "lifo", ...tlsOptions }),
    tls: tlsOptions,
    authorization: route.credential?.kind === "bearer" ? `Bearer ${route.credential.token}` : undefined,
  };
}

function destroy(upstream: Upstream): void {
  upstream.h2.close();
  upstream.agent.destroy();
}

export function createUpstreams(): Upstreams {
  const pools = new Map<string, { version: string; upstream: Upstream }>();
  return {
    get(route) {
      const cached = pools.get(route.name);
      if (cached !== undefined && cached.version === route.version) return cached.upstream;
      if (cached !== undefined) destroy(cached.upstream);
      const upstream = build(route);
      pools.set(route.name, { version: route.version, upstream });
      return upstream;
    },
    prune(live) {
      for (const [name, pool] of pools) {
        if (live.get(name)?.version !== pool.version) {
          destroy(pool.upstream);
          pools.delete(name);
        }
      }
    },
    close() {
      for (const pool of pools.values()) destroy(pool.upstream);
      pools.clear();
    },
  };
}
