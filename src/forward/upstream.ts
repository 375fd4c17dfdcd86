/**
 * How to reach each member: per cluster, one TLS SecureContext (its registered CA and the
 * gateway's client certificate, parsed once), a small pool of HTTP/2 sessions for
 * ordinary requests, and a keep-alive HTTP/1.1 pool for members that do not offer h2.
 * Pools are rebuilt when the cluster's route changes (credential rotation, new CA or URL),
 * which also re-probes the member's protocol. Agent-mode clusters are reached through
 * their tunnel, which the caller supplies (tunnel/pool.ts): this floor knows no tunnel.
 */
import type { ClientRequest, OutgoingHttpHeaders } from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import tls from "node:tls";
import { createH2Pool, type H2Pool } from "./h2-pool.ts";
import type { ClusterCredentialSecret, IdentityMode } from "../store/types.ts";
import { DataPathError } from "./kube-status.ts";

/** What forwarding needs to know of a cluster: where it is and how to authenticate. */
export interface MemberRoute {
  name: string;
  mode: "direct" | "agent";
  serverUrl: string;
  caPem: string;
  /** Front-proxy mode: a direct member's credential is the front-proxy certificate, and nothing else is presented. */
  credential: ClusterCredentialSecret | null;
  identityMode: IdentityMode;
  /** Changes whenever how to reach the cluster changes, so connection pools are rebuilt. */
  version: string;
}

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
  /**
   * Resolves when `request` can open a connection (an agent's tunnel came up here), or
   * rejects with its 503 after `timeoutMs`; absent: `request` can always try.
   */
  waitReady?(timeoutMs: number): Promise<void>;
  /** Ends the upstream's pooled connections; streams on them end with an error. */
  close(): void;
}

/** One request forwarded to a member (forward.ts, forward-h2.ts). */
export interface ForwardOptions {
  upstream: Upstream;
  /** Kubernetes path and query, exactly as the client sent them. */
  target: string;
  headers: Record<string, string | string[]>;
  connectTimeoutMs: number;
  /** Until the member's response headers arrive; streams are never timed out after that. */
  responseTimeoutMs: number;
  /** Called when the member's response headers arrive. */
  onResponse(status: number): void;
  /** Counts bytes sent to the client. */
  onBytesOut(n: number): void;
}

export interface Upstreams {
  get(route: MemberRoute): Upstream;
  /** Closes pools of clusters that are gone or changed. */
  prune(live: ReadonlyMap<string, MemberRoute>): void;
  close(): void;
}

export function agentOffline(cluster: string): DataPathError {
  return new DataPathError("unavailable", `cluster ${JSON.stringify(cluster)} is in agent mode and its agent is not connected`);
}

function build(route: MemberRoute, viaAgent: ((route: MemberRoute) => Upstream) | undefined): Upstream {
  if (route.mode !== "direct") {
    if (viaAgent === undefined) throw agentOffline(route.name);
    return viaAgent(route);
  }
  const url = new URL(route.serverUrl);
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port === "" ? 443 : Number(url.port);
  const servername = isIP(hostname) === 0 ? hostname : undefined;
  const credential = route.credential;
  // A front-proxy cluster whose credential is anything but its certificate is never dialed:
  // the X-Remote-* headers would ride on another identity.
  if (route.identityMode === "front-proxy" && credential?.kind !== "front-proxy")
    throw new DataPathError("badGateway", `cluster ${JSON.stringify(route.name)} is in front-proxy mode but has no front-proxy certificate`);
  const secureContext = tls.createSecureContext({
    ca: route.caPem,
    ...(credential !== null && credential.kind !== "bearer" ? { cert: credential.certPem, key: credential.keyPem } : {}),
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
    authorization: credential?.kind === "bearer" ? `Bearer ${credential.token}` : undefined,
    http1: (options) => https.request({ ...options, path: basePath + options.path, hostname, port, agent }),
    request: (options) => https.request({ ...options, path: basePath + options.path, hostname, port, agent: false, ...tlsOptions }),
    close() {
      h2.close();
      agent.destroy();
    },
  };
}

export interface UpstreamsOptions {
  /** Builds the upstream of an agent-mode cluster; without it they are always offline. */
  viaAgent?: (route: MemberRoute) => Upstream;
}

export function createUpstreams(options: UpstreamsOptions = {}): Upstreams {
  const pools = new Map<string, { version: string; upstream: Upstream }>();
  return {
    get(route) {
      const cached = pools.get(route.name);
      if (cached !== undefined && cached.version === route.version) return cached.upstream;
      if (cached !== undefined) cached.upstream.close();
      const upstream = build(route, options.viaAgent);
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
