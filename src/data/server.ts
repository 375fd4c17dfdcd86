/**
 * The data plane's listener: /clusters/{cluster}/… requests and upgrades, /healthz,
 * /readyz (ready only with a fresh view) and /metrics; and the watchdog that re-checks
 * every live stream when the view changes and every quarter second (grant expiry).
 */
import type { IncomingMessage } from "node:http";
import http2, { type Http2ServerRequest, type Http2ServerResponse, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { Duplex } from "node:stream";
import type { ListenAddress } from "../config/serve-config.ts";
import { listen } from "../net/listener.ts";
import type { TlsMaterial } from "../tls/material.ts";
import { bareRequest } from "../forward/client-side.ts";
import { checkFresh, revocation, liveGrants } from "./authenticate.ts";
import { authorize } from "./authorize.ts";
import { DEFAULT_EDGE_LIMITS, edgeServerOptions, guardSession, type EdgeLimits } from "./edge.ts";
import { handleRequest, type HandlerContext } from "./handler.ts";
import type { LiveSession } from "./sessions.ts";
import { handleUpgrade } from "./upgrade-handler.ts";

export interface DataServerOptions {
  ctx: HandlerContext;
  tls: TlsMaterial;
  listen: ListenAddress;
  syncConnected: () => boolean;
  /** Cut streams whose token expires (default: a token expiring mid-stream does not cut it). */
  cutStreamsOnTokenExpiry: boolean;
  /** Connection-level limits and timeouts (default DEFAULT_EDGE_LIMITS). */
  limits?: EdgeLimits;
  /** Agent enrollment and tunnels, mounted by serve/; without it, /agent/ paths are 404. */
  agents?: AgentEndpoints;
}

/** What agents call on this port outside /clusters/ (tunnel/endpoints.ts builds it). */
export interface AgentEndpoints {
  handles(url: string | undefined): boolean;
  request(req: Http2ServerRequest, res: Http2ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Tunnels connected to this process, by cluster, for /metrics. */
  tunnelCounts(): Map<string, number>;
}

export interface DataServer {
  port: number;
  /** Re-checks every live stream now (called on every view change). */
  revalidate(): void;
  close(graceMs?: number): Promise<void>;
}

/** Why a live session must end now, or undefined while it may go on. */
export function sessionVerdict(ctx: HandlerContext, s: LiveSession, cutOnTokenExpiry: boolean): string | undefined {
  const { view, clock } = ctx.access;
  try {
    checkFresh(ctx.access);
  } catch {
    return "control plane unreachable past the staleness bound";
  }
  if (!view.clusters.has(s.cluster)) return "cluster deregistered";
  const revoked = revocation(view, s.claims);
  if (revoked !== undefined) return revoked;
  const now = clock();
  if (cutOnTokenExpiry && s.claims.exp * 1000 <= now) return "token expired";
  const decision = authorize(s.info, liveGrants(view, s.claims), s.cluster, new Date(now));
  return decision.allowed ? undefined : decision.reason;
}

type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

/**
 * HTTP/2 requests to /clusters/ go to the handler as bare streams, without the
 * compatibility request and response node:http2 makes for 'request' (forward/client-side.ts
 * says why). Everything else (health, metrics, agent endpoints, CONNECT, a request that
 * expects 100-continue) keeps the compatibility path. Called after the 'request' listener
 * is added, which is when node:http2 installs its own 'stream' listener.
 */
function takeClusterStreamsBare(server: http2.Http2SecureServer, ctx: HandlerContext): void {
  const compat = server.listeners("stream") as StreamListener[];
  if (compat.length !== 1) throw new Error(`node:http2 has ${compat.length} 'stream' listeners on the data server, expected its compatibility one`);
  const toCompat = compat[0]!;
  server.removeListener("stream", toCompat);
  server.on("stream", ((stream, headers, flags, rawHeaders) => {
    const path = headers[":path"];
    if (path === undefined || !path.startsWith("/clusters/") || headers[":method"] === "CONNECT" || headers["expect"] !== undefined)
      return toCompat(stream, headers, flags, rawHeaders);
    // A client's RST_STREAM with an error code is an 'error' on its stream: its 'close' is what the handler acts on.
    stream.on("error", ignoreStreamError);
    void handleRequest(ctx, bareRequest(stream, headers, rawHeaders), stream);
  }) satisfies StreamListener);
}

function ignoreStreamError(): void {}

export async function startDataServer(opts: DataServerOptions): Promise<DataServer> {
  const { ctx } = opts;
  const limits = opts.limits ?? DEFAULT_EDGE_LIMITS;
  const edge = edgeServerOptions(limits);
  const server = http2.createSecureServer({
    allowHTTP1: true,
    cert: opts.tls.certPem,
    key: opts.tls.keyPem,
    ...edge,
    // Windows large enough that a big LIST is not throttled by flow control, and the
    // memory for them.
    maxSessionMemory: 256,
    settings: { ...edge.settings, initialWindowSize: 4 * 1024 * 1024 },
  });
  server.on("session", (session) => {
    session.setLocalWindowSize(16 * 1024 * 1024);
    guardSession(session, limits, ctx.log);
  });

  const text = (res: http2.Http2ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8") => {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(body);
  };
  server.on("request", (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const url = req.url ?? "/";
    if (url === "/healthz") return text(res, 200, "ok\n");
    if (url === "/readyz") {
      try {
        checkFresh(ctx.access);
        return text(res, 200, "ok\n");
      } catch (err) {
        return text(res, 503, `${(err as Error).message}\n`);
      }
    }
    if (url === "/metrics") {
      const { view, clock } = ctx.access;
      return text(
        res,
        200,
        ctx.metrics.render({
          activeStreams: { request: ctx.sessions.count("request"), watch: ctx.sessions.count("watch"), upgrade: ctx.sessions.count("upgrade") },
          syncStalenessSeconds: view.lastHeardAt === 0 ? -1 : (clock() - view.lastHeardAt) / 1000,
          syncConnected: opts.syncConnected(),
          revision: view.revision,
          agentTunnels: opts.agents?.tunnelCounts(),
        }),
        "text/plain; version=0.0.4",
      );
    }
    if (opts.agents?.handles(url) === true) return opts.agents.request(req, res);
    void handleRequest(ctx, req, res);
  });
  takeClusterStreamsBare(server, ctx);
  server.on("upgrade", (req, socket, head) => {
    if (opts.agents?.handles(req.url) === true) return opts.agents.upgrade(req, socket, head);
    void handleUpgrade(ctx, req, socket, head);
  });

  const revalidate = () => {
    for (const s of ctx.sessions.all()) {
      const why = sessionVerdict(ctx, s, opts.cutStreamsOnTokenExpiry);
      if (why !== undefined) s.cut(why);
    }
  };
  const timer = setInterval(revalidate, 250);
  timer.unref();
  const listener = await listen(server, opts.listen, () => clearInterval(timer), { firstByteTimeoutMs: limits.handshakeTimeoutMs });

  return {
    port: listener.port,
    revalidate,
    async close(graceMs = 5_000) {
      clearInterval(timer);
      for (const s of ctx.sessions.all()) s.cut("data plane shutting down");
      await listener.close(graceMs);
    },
  };
}
