/**
 * An agent cluster's tunnel seen as an upstream HTTP/2 pool, so ordinary requests take
 * the same forwarding path (forward-h2.ts) as direct members: each request is a stream on
 * the agent's session. No tunnel means the agent is offline: a 503 that names the cluster.
 */
import type { OutgoingHttpHeaders } from "node:http2";
import { DataPathError } from "../data/status.ts";
import type { H2Pool } from "../data/upstream-h2.ts";
import type { TunnelRegistry } from "./gateway.ts";

export function agentOffline(cluster: string): DataPathError {
  return new DataPathError("unavailable", `cluster ${JSON.stringify(cluster)} is in agent mode and its agent is not connected`);
}

export function createTunnelPool(cluster: string, tunnels: TunnelRegistry): H2Pool {
  return {
    protocol: "h2",
    open(headers: OutgoingHttpHeaders, endStream: boolean) {
      const session = tunnels.session(cluster);
      return session?.request(headers, { endStream });
    },
    ready() {
      // open() found no session: there is nothing to wait for.
      return Promise.reject(agentOffline(cluster));
    },
    stats() {
      return { sessions: tunnels.count(cluster), streams: 0 };
    },
    close() {
      // The registry owns tunnels; they outlive a route change of their cluster.
    },
  };
}
