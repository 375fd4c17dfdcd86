/**
 * The data port's defences at the connection level, before any request is admitted:
 * HTTP/2 limits in the spirit of what nghttp2, Go and Envoy shipped after rapid reset
 * (CVE-2023-44487) — bounded concurrent streams, caps on client resets and on PING/SETTINGS
 * frames per session that answer GOAWAY(ENHANCE_YOUR_CALM) — bounded headers, and timeouts
 * for the TLS handshake, for reading a request's headers (slowloris) and for idle connections. None of them
 * applies to a stream once it is flowing: watches, `logs -f` and exec are never cut here.
 */
import type { Http2Session, SecureServerOptions } from "node:http2";
import { constants } from "node:http2";
import type { Logger } from "../log.ts";
import { createRateLimiter } from "../net/rate-limit.ts";

export interface EdgeLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS per client session. */
  maxConcurrentStreams: number;
  /** Streams a client may reset per second on one session (burst the same); then GOAWAY. */
  maxResetsPerSecond: number;
  /** Bytes of request headers (HTTP/1.1 header block, HTTP/2 header list). */
  maxHeaderBytes: number;
  /** Number of request header fields. */
  maxHeaderCount: number;
  /** To a new connection's first byte, and again from it to the end of the TLS handshake. */
  handshakeTimeoutMs: number;
  /** To receive a request's headers: HTTP/1.1 from the connection's start, HTTP/2 until the first stream. */
  headerTimeoutMs: number;
  /** An HTTP/1.1 keep-alive connection or HTTP/2 session with no request in flight is closed after this; an HTTP/2 session with streams is PINGed instead. */
  idleTimeoutMs: number;
}

export const DEFAULT_EDGE_LIMITS: EdgeLimits = {
  maxConcurrentStreams: 250,
  maxResetsPerSecond: 200,
  maxHeaderBytes: 64 * 1024,
  maxHeaderCount: 200,
  handshakeTimeoutMs: 5_000,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
};

/**
 * PING and SETTINGS frames a client may send per second (burst the same). Clients send a
 * handful (keepalives, one SETTINGS); a flood makes the server queue an ACK for each.
 */
const CONTROL_FRAMES_PER_SECOND = 100;

/** What a PING gets to come back before the session is taken for dead. */
const PING_TIMEOUT_MS = 10_000;

/** Options for http2.createSecureServer (with allowHTTP1) that carry the limits. */
export function edgeServerOptions(limits: EdgeLimits): SecureServerOptions & Record<string, unknown> {
  return {
    handshakeTimeout: limits.handshakeTimeoutMs,
    maxHeaderListPairs: limits.maxHeaderCount,
    // HTTP/1.1 (allowHTTP1), read by node's http server.
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headerTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    // The whole-request timeout would cut a slow upload; headersTimeout covers slowloris.
    requestTimeout: 0,
    // How often node checks headersTimeout (default 30 s would make it 10 s + up to 30 s).
    connectionsCheckingInterval: Math.min(1_000, limits.headerTimeoutMs),
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
  };
}

/** Watches one client HTTP/2 session: resets per second, the first stream's arrival, idleness. */
export function guardSession(session: Http2Session, limits: EdgeLimits, log: Logger): void {
  let open = 0;
  let sawStream = false;
  // One bucket each for this session (one key): `rate` a second, with a burst of the same.
  const resets = createRateLimiter({ perSecond: limits.maxResetsPerSecond, burst: limits.maxResetsPerSecond });
  const controlFrames = createRateLimiter({ perSecond: CONTROL_FRAMES_PER_SECOND, burst: CONTROL_FRAMES_PER_SECOND });
  let calmed = false;
  const calm = (why: string) => {
    if (calmed || session.destroyed) return;
    calmed = true;
    log.warn({ remote: session.socket?.remoteAddress, reason: why }, "closing a client HTTP/2 session");
    // GOAWAY first and a graceful close, so the frame is written before the socket goes
    // (a destroy right away drops it); whatever is still open a second later is cut.
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.close();
    setTimeout(() => session.destroy(), 1_000).unref();
  };
  const firstStream = setTimeout(() => {
    if (!sawStream) session.destroy(undefined, constants.NGHTTP2_NO_ERROR);
  }, limits.headerTimeoutMs);
  firstStream.unref();
  session.once("close", () => clearTimeout(firstStream));

  session.on("stream", (stream) => {
    sawStream = true;
    open++;
    stream.once("close", () => {
      open--;
      if (stream.rstCode === constants.NGHTTP2_NO_ERROR) return;
      // Reset before it finished: by the client (rapid reset) or, rarely, by a cut.
      if (resets.take("") > 0) calm(`more than ${limits.maxResetsPerSecond} stream resets per second`);
    });
  });

  const controlFrame = () => {
    if (controlFrames.take("") > 0) calm(`more than ${CONTROL_FRAMES_PER_SECOND} PING and SETTINGS frames per second`);
  };
  session.on("ping", controlFrame);
  session.on("remoteSettings", controlFrame);

  session.setTimeout(limits.idleTimeoutMs, () => {
    if (open === 0) return void session.close();
    // Streams are open but nothing moved: a watch on a quiet resource, or a dead peer.
    const pinged = session.ping((err) => {
      clearTimeout(deadline);
      if (err !== null && !session.destroyed) session.destroy();
    });
    const deadline = setTimeout(() => session.destroy(), PING_TIMEOUT_MS);
    deadline.unref();
    if (!pinged) clearTimeout(deadline);
  });
}
