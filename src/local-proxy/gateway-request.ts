/**
 * One request from the local proxy to the data plane: HTTPS verified against the data
 * plane's CA, with the token added after the client's own credentials were stripped, and a
 * bound on the time to connect (never on a stream once it flows).
 */
import type { IncomingHttpHeaders } from "node:http";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { sanitizeRequestHeaders } from "../data/headers.ts";
import type { ClusterTarget } from "./cluster-tokens.ts";
import { CONNECT_TIMEOUT } from "./refusals.ts";

export interface UpstreamRequest {
  target: ClusterTarget;
  token: string;
  method: string;
  /** Kubernetes path and raw query, exactly as the client sent them. */
  path: string;
  headers: IncomingHttpHeaders;
  /** false for upgrades: their connection leaves the pool. */
  agent: https.Agent | false;
  connectTimeoutMs: number;
}

/** "host:port" of the data plane, for messages and logs. */
export function where(target: ClusterTarget): string {
  return `${target.hostname.includes(":") ? `[${target.hostname}]` : target.hostname}:${target.port}`;
}

export function requestUpstream(r: UpstreamRequest): ReturnType<typeof https.request> {
  const upgrade = r.agent === false;
  const headers = sanitizeRequestHeaders(r.headers, { keepUpgrade: upgrade });
  headers["authorization"] = `Bearer ${r.token}`;
  const req = https.request({
    method: r.method,
    hostname: r.target.hostname,
    port: r.target.port,
    path: r.target.basePath + r.path,
    headers,
    agent: r.agent,
    ...(r.target.caPem === undefined ? {} : { ca: r.target.caPem }),
    ...(upgrade ? { ALPNProtocols: ["http/1.1"] } : {}),
  });
  req.on("socket", (socket) => {
    if (!(socket as TLSSocket).connecting) return;
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`no connection within ${r.connectTimeoutMs} ms`), { code: CONNECT_TIMEOUT }));
    }, r.connectTimeoutMs);
    socket.once("secureConnect", () => clearTimeout(timer));
    socket.once("close", () => clearTimeout(timer));
  });
  return req;
}
