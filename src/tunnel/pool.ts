/**
 * An agent cluster's tunnel seen as an upstream, so ordinary requests take the same
 * forwarding path (forward/forward-h2.ts) as direct members: each request is a stream on
 * the agent's session. With no tunnel here a request waits a moment (a new data-plane
 * process is dialed by every agent within one round trip of joining the mesh); then the
 * agent is offline: a 503 that names the cluster.
 */
import http from "node:http";
import type { OutgoingHttpHeaders } from "node:http2";
import type { Socket } from "node:net";
import type { H2Pool } from "../forward/h2-pool.ts";
import { agentOffline, type Http1RequestOptions, type MemberRoute, type Upstream } from "../forward/upstream.ts";
import type { TunnelRegistry } from "./gateway.ts";
import { APISERVER_AUTHORITY } from "./protocol.ts";

/** How long a request waits for an agent's tunnel to come up here before its 503. */
export const TUNNEL_WAIT_MS = 2_000;

/** Waits (at most TUNNEL_WAIT_MS) for a tunnel of the cluster here, else rejects with its 503. */
async function awaitTunnel(tunnels: TunnelRegistry, cluster: string, timeoutMs: number): Promise<void> {
  if (!(await tunnels.waitFor(cluster, Math.min(TUNNEL_WAIT_MS, timeoutMs)))) throw agentOffline(cluster);
}

export function createTunnelPool(cluster: string, tunnels: TunnelRegistry): H2Pool {
  return {
    protocol: "h2",
    open(headers: OutgoingHttpHeaders, endStream: boolean) {
      const session = tunnels.session(cluster);
      return session?.request(headers, { endStream });
    },
    async ready(connectTimeoutMs) {
      await awaitTunnel(tunnels, cluster, connectTimeoutMs);
      return "h2";
    },
    stats() {
      return { sessions: tunnels.count(cluster), streams: 0 };
    },
    close() {
      // The registry owns tunnels; they outlive a route change of their cluster.
    },
  };
}

/** The upstream of an agent cluster: every request rides the agent's tunnel, which adds the member credential. */
export function tunnelUpstream(tunnels: TunnelRegistry): (route: MemberRoute) => Upstream {
  return (route) => {
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
      // Upgrades (exec, attach, port-forward) wait for a tunnel as ordinary requests do.
      waitReady: (timeoutMs) => awaitTunnel(tunnels, route.name, timeoutMs),
      // The registry owns tunnels; they outlive a route change of their cluster.
      close: () => undefined,
    };
  };
}
