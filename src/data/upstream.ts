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
import tls from "node:tls";
import type { TunnelRegistry } from "../tunnel/gateway.ts";
import { agentOffline, createTunnelPool } from "../tunnel/pool.ts";
import { APISERVER_AUTHORITY } from "../tunnel/protocol.ts";
import { createH2Pool, type H2Pool } from "./upstream-h2.ts";
import type { ClusterRouteView } from "./view.ts";

/** What one HTTP/1.1 request to the member needs besides its connection. */
export interface Http1RequestOptions {
  method: string;
  /** Path and query, below basePath. */
  path: string;
  headers: OutgoingHttpHeaders;
  signal?: AbortSignal;
}

export interface Upstream {
  cluster: string;
  /** host[:port] of the member's URL, for :authority. */
  authority: string;
  /** Path prefix of the member's API (usually ""). */
  basePath: string;
  /** Ordinary requests, when the member speaks HTTP/2. */
  h2: H2Pool;
  /** Authorization header value for bearer credentials. */
  authorization: string | undefined;
  /** An ordinary request to a member that negotiated http/1.1, over a keep-alive pool. */
  http1(options: Http1RequestOptions): ClientRequest;
  /**
   * A one-off HTTP/1.1 request on its own connection, for upgrades: a TLS connection to a
   * direct member, a CONNECT stream through an agent's tunnel. Throws a 503 DataPathError
   * when an agent cluster has no tunnel.
   */
  request(options: Http1RequestOptions & { timeout: number }): ClientRequest;
  /** Ends the upstream's pooled connections; streams on them end with an error. */
  close(): void;
}

export interface Upstreams {
  get(route: ClusterRouteView): Upstream;
  /** Closes pools of clusters that are gone or changed. */
  prune(live: Map<string, ClusterRouteView>): void;
  close(): void;
}

/** An agent cluster: every request rides the agent's tunnel, which adds the member credential. */
function buildAgent(route: ClusterRouteView, tunnels: TunnelRegistry): Upstream {
  const request = (options: Http1RequestOptions) => {
    const stream = tunnels.connect(route.name);
    if (stream === undefined) throw agentOffline(route.name);
    // An HTTP/2 stream is a Duplex, which is all http.request needs of its connection.
    return http.request({ ...options, createConnection: () => stream as unknown as Socket });
  };
  return {
    cluster: route.name,
    authority: APISERVER_AUTHORITY,
    basePath: "",
    h2: createTunnelPool(route.name, tunnels),
    authorization: undefined,
    // A tunnel always speaks HTTP/2, so this path is not taken; if it were, a CONNECT
    // stream per request is still correct.
    http1: request,
    request,
    // The registry owns tunnels; they outlive a route change of their cluster.
    close: () => undefined,
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
  const basePath = url.pathname.replace(/\/+$/, "");
  const h2 = createH2Pool({ host: hostname, port, servername, secureContext });
  // LIFO keeps a few warm sockets busy instead of spreading load over cold ones. No cap
  // on sockets: each watch holds one, and a queued watch would look like a hang; and
  // enough free ones kept that a burst does not close and reopen connections.
  const agent = new https.Agent({ keepAlive: true, maxFreeSockets: 1024, scheduling: "lifo", ...tlsOptions });
  return {
    cluster: route.name,
    authority: url.host,
    basePath,
    h2,
    authorization: route.credential?.kind === "bearer" ? `Bearer ${route.credential.token}` : undefined,
    http1: (options) => https.request({ ...options, path: basePath + options.path, hostname, port, agent }),
    request: (options) => https.request({ ...options, path: basePath + options.path, hostname, port, agent: false, ...tlsOptions }),
    close() {
      h2.close();
      agent.destroy();
    },
  };
}

/** `tunnels` carries agent-mode clusters; without it they are always offline. */
export function createUpstreams(tunnels?: TunnelRegistry): Upstreams {
  const pools = new Map<string, { version: string; upstream: Upstream }>();
  return {
    get(route) {
      const cached = pools.get(route.name);
      if (cached !== undefined && cached.version === route.version) return cached.upstream;
      if (cached !== undefined) cached.upstream.close();
      const upstream = build(route, tunnels);
      pools.set(route.name, { version: route.version, upstream });
      return upstream;
    },
    prune(live) {
      for (const [name, pool] of pools) {
        if (live.get(name)?.version !== pool.version) {
          pool.upstream.close();
          pools.delete(name);
        }
      }
    },
    close() {
      for (const pool of pools.values()) pool.upstream.close();
      pools.clear();
    },
  };
}
