/**
 * The agent's side of each tunnel stream: an ordinary request is forwarded to the API
 * server over the agent's own pool (the data plane's forwarder, reused); a CONNECT stream
 * becomes one HTTP/1.1 connection whose upgrade (exec, attach, port-forward) is relayed to
 * the API server. The agent adds its credential and nothing else of identity: the
 * impersonation headers are the data plane's, set after its checks.
 *
 * Front-proxy identity mode: a request carrying X-Remote-User (which only the data plane
 * can have set: it strips every client X-Remote-* header) goes out with the front-proxy
 * certificate and no other credential, and never with an Impersonate-* header; without a
 * front-proxy certificate the agent refuses it rather than send it on its own credential.
 * Requests without it (the data plane's own: /version, RBAC bindings) use the agent's
 * credential and lose any X-Remote-* header.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Duplex } from "node:stream";
import { forward } from "../forward/forward.ts";
import { HOP_BY_HOP } from "../forward/hop-by-hop.ts";
import { upstreamFailure } from "../forward/upstream-failure.ts";
import type { Upstream } from "../forward/upstream.ts";
import { DataPathError, writeStatus, writeStatusToSocket } from "../forward/kube-status.ts";
import type { Logger } from "../log.ts";
import { headerBlock, splice } from "../forward/upgrade-relay.ts";
import { APISERVER_AUTHORITY } from "./protocol.ts";

/** Hop-by-hop headers, Host, and the two credentials only the agent may set. */
const DROP = new Set([...HOP_BY_HOP, "host", "authorization", "proxy-authorization"]);

export interface AgentForwardContext {
  /**
   * The API server, as it is now (the token may have rotated since the last request): with
   * the agent's own credential, or with the front-proxy certificate (a 502 DataPathError
   * when the agent has none).
   */
  upstream(frontProxy: boolean): Upstream;
  log: Logger;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

/** Whether the data plane asserted the user in front-proxy mode (X-Remote-User). */
export const assertsFrontProxyUser = (headers: IncomingMessage["headers"]) => headers["x-remote-user"] !== undefined;

/**
 * The tunnel request's headers for the API server: the agent's credential in place of any
 * other, and only the header family of the identity mode the request is sent in.
 */
export function apiserverHeaders(headers: IncomingMessage["headers"], upstream: Upstream, frontProxy: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const other = frontProxy ? "impersonate-" : "x-remote-";
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || DROP.has(name) || name.startsWith(other)) continue;
    out[name] = value;
  }
  if (upstream.authorization !== undefined) out["authorization"] = upstream.authorization;
  return out;
}

/** Only origin-form paths: an absolute URL or authority form could name another host. */
function checkPath(path: string | undefined): string {
  if (path === undefined || !path.startsWith("/") || path.startsWith("//"))
    throw new DataPathError("invalid", "the agent forwards only paths of its own API server", { status: 400 });
  return path;
}

export async function forwardRequest(ctx: AgentForwardContext, req: Http2ServerRequest, res: Http2ServerResponse): Promise<void> {
  try {
    const target = checkPath(req.url);
    const frontProxy = assertsFrontProxyUser(req.headers);
    const upstream = ctx.upstream(frontProxy);
    await forward(req, res, {
      upstream,
      target,
      headers: apiserverHeaders(req.headers, upstream, frontProxy),
      connectTimeoutMs: ctx.connectTimeoutMs,
      responseTimeoutMs: ctx.responseTimeoutMs,
      onResponse: () => undefined,
      onBytesOut: () => undefined,
    });
  } catch (err) {
    if (err instanceof DataPathError) {
      if (!(err as { midStream?: boolean }).midStream) writeStatus(res, err);
      return;
    }
    ctx.log.error({ err }, "unexpected error forwarding a tunnel request");
    writeStatus(res, new DataPathError("internal", "internal error in the kubegate agent"));
  }
}

/** Relays one upgrade from a CONNECT stream's HTTP/1.1 connection to the API server. */
function relayUpgrade(ctx: AgentForwardContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on("error", () => socket.destroy());
  let proxyReq: http.ClientRequest;
  let upstream: Upstream;
  try {
    const path = checkPath(req.url);
    const frontProxy = assertsFrontProxyUser(req.headers);
    upstream = ctx.upstream(frontProxy);
    const headers: OutgoingHttpHeaders = { ...apiserverHeaders(req.headers, upstream, frontProxy), connection: "Upgrade", upgrade: req.headers.upgrade ?? "" };
    proxyReq = upstream.request({ method: req.method ?? "GET", path, headers, timeout: ctx.responseTimeoutMs });
  } catch (err) {
    writeStatusToSocket(socket, err instanceof DataPathError ? err : new DataPathError("internal", "internal error in the kubegate agent"));
    return;
  }
  socket.once("close", () => proxyReq.destroy());
  proxyReq.on("timeout", () => proxyReq.destroy(Object.assign(new Error("response timeout"), { code: "KUBEGATE_RESPONSE_TIMEOUT" })));
  proxyReq.on("error", (err) => {
    if (!socket.destroyed) writeStatusToSocket(socket, upstreamFailure(upstream.cluster, err));
  });
  proxyReq.on("response", (res) => {
    // No upgrade: relay the answer and close, so nothing else rides on this connection.
    const { connection: _c, "keep-alive": _k, "transfer-encoding": _t, "content-length": _l, ...headers } = res.headers;
    socket.write(headerBlock(`HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ""}`, { ...headers, connection: "close" }));
    res.pipe(socket);
    res.on("error", () => socket.destroy());
  });
  proxyReq.on("upgrade", (res, upSocket, upHead) => {
    proxyReq.setTimeout(0);
    socket.write(headerBlock("HTTP/1.1 101 Switching Protocols", { ...res.headers }));
    splice(socket, upSocket, { clientHead: head, upstreamHead: upHead });
  });
  proxyReq.end();
}

/**
 * An HTTP/1.1 server that never listens: each CONNECT stream is handed to it as a
 * connection. Only upgrades are expected there; an ordinary request is refused.
 */
export function createConnectServer(ctx: AgentForwardContext): http.Server {
  const server = http.createServer((_req, res) => {
    res.writeHead(400, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "a tunnel CONNECT stream carries upgrades only", reason: "BadRequest", code: 400 }));
  });
  server.on("upgrade", (req, socket, head) => relayUpgrade(ctx, req, socket, head));
  return server;
}

/** Accepts a CONNECT stream only for the fixed API server authority; anything else is refused. */
export function acceptConnect(server: http.Server, log: Logger, req: Http2ServerRequest, res: Http2ServerResponse): void {
  const authority = req.headers[":authority"];
  if (authority !== APISERVER_AUTHORITY) {
    log.warn({ authority }, "refused a tunnel CONNECT to an address other than the API server");
    res.writeHead(403);
    res.end();
    return;
  }
  res.writeHead(200);
  server.emit("connection", req.stream);
}
