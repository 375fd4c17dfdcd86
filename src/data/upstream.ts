/**
 * How to reach each member: per cluster, one TLS SecureContext (its registered CA and the
 * gateway's client certificate, parsed once), a small pool of HTTP/2 sessions for
 * ordinary requests, and a keep-alive HTTP/1.1 pool for members that do not offer h2.
 * Pools are rebuilt when the cluster's route changes (credential rotation, new CA or URL),
 * which also re-probes the member's protocol.
 */
import http, { type ClientRequest, type OutgoingHttpHeaders } from "node:http";
import https from "node:https";
import { isIP, type Socket } from "node:net";
import tls, { type SecureContext } from "node:tls";
import type { TunnelRegistry } from "../tunnel/gateway.ts";
import { agentOffline, createTunnelPool } from "../tunnel/pool.ts";
import { APISERVER_AUTHORITY } from "../tunnel/protocol.ts";
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
  /**
   * A one-off HTTP/1.1 request on its own connection, for upgrades: a TLS connection to a
   * direct member, a CONNECT stream through an agent's tunnel. Throws a 503 DataPathError
   * when an agent cluster has no tunnel.
   */
  request(options: { method: string; path: string; headers: OutgoingHttpHeaders; timeout: number }): ClientRequest;
}

export interface Upstreams {
  get(route: ClusterRouteView): Upstream;
  /** Closes pools of clusters that are gone or changed. */
  prune(live: Map<string, ClusterRouteView>): void;
  close(): void;
}

/** An agent cluster: every request rides the agent's tunnel, which adds the member credential. */
function buildAgent(route: ClusterRouteView, tunnels: TunnelRegistry): Upstream {
  return {
    cluster: route.name,
    hostname: APISERVER_AUTHORITY,
    port: 443,
    authority: APISERVER_AUTHORITY,
    basePath: "",
    h2: createTunnelPool(route.name, tunnels),
    // Never used: a tunnel always speaks HTTP/2, so the HTTP/1.1 path is not taken.
    agent: new https.Agent(),
    tls: { secureContext: tls.createSecureContext() },
    authorization: undefined,
    request(options) {
      const stream = tunnels.connect(route.name);
      if (stream === undefined) throw agentOffline(route.name);
      // An HTTP/2 stream is a Duplex, which is all http.request needs of its connection.
      return http.request({ ...options, createConnection: () => stream as unknown as Socket });
    },
  };
}

function build(route: ClusterRouteView, tunnels: TunnelRegistry | undefined): Upstream {
  if (route.mode !== "direct") {
    if (tunnels === undefined) throw agentOffline(route.name);
    return buildAgent(route, tunnels);
  }
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
    request: (options) => https.request({ ...options, hostname, port, agent: false, ...tlsOptions }),
  };
}

function destroy(upstream: Upstream): void {
  upstream.h2.close();
  upstream.agent.destroy();
}

/** `tunnels` carries agent-mode clusters; without it they are always offline. */
export function createUpstreams(tunnels?: TunnelRegistry): Upstreams {
  const pools = new Map<string, { version: string; upstream: Upstream }>();
  return {
    get(route) {
      const cached = pools.get(route.name);
      if (cached !== undefined && cached.version === route.version) return cached.upstream;
      if (cached !== undefined) destroy(cached.upstream);
      const upstream = build(route, tunnels);
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
