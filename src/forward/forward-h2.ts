/**
 * Forwards one ordinary request to the member as a stream on a pooled HTTP/2 session:
 * headers converted to HTTP/2, the body piped with backpressure both ways, no timeout once
 * the response has started. A redirect is never passed on (304 is no redirect); a stream that fails before its
 * response becomes the same Status the HTTP/1.1 path gives; one that fails mid-stream
 * cuts the client's response so it knows the body is incomplete.
 */
import type { ServerResponse } from "node:http";
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { bodyFeed, type BodyFeed } from "./body-replay.ts";
import { clientGone, requestBody, responseStream, sendHead, type ClientRequest, type ClientResponse } from "./client-side.ts";
import { abortResponse, DataPathError } from "./kube-status.ts";
import { redirectRefusal, upstreamFailure } from "./upstream-failure.ts";
import type { ForwardOptions } from "./upstream.ts";

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = constants;

/** Attempts for a request the member refused unprocessed (a GOAWAY racing it); a body is sent again from its copy. */
const ATTEMPTS = 3;

/**
 * HTTP/2 forbids connection-specific headers (RFC 9113 §8.2.2). Sanitizing has removed
 * them already; this is the second fence, since Node refuses to send a request with one.
 */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings", "host"]);

/**
 * Response headers that describe the member's connection, not ours to the client. An
 * HTTP/2 response cannot carry them (nghttp2 rejects it as malformed), so this only
 * re-checks; the HTTP/1.1 path uses sanitizeResponseHeaders, which also honours Connection.
 */
const RESPONSE_HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings", "te", "trailer", "proxy-authenticate"]);

/** The member's HTTP/2 response headers for the client: no pseudo-headers, nothing hop-by-hop. */
export function h2ResponseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ":" */ || RESPONSE_HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The sanitized request headers as an HTTP/2 header block for the member. */
export function h2RequestHeaders(headers: Record<string, string | string[]>, method: string, path: string, authority: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ":method": method, ":scheme": "https", ":authority": authority, ":path": path };
  for (const key in headers) {
    const name = key.toLowerCase();
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 58 /* ":" */) continue;
    if (name === "te" && String(headers[key]).toLowerCase() !== "trailers") continue;
    out[name] = headers[key];
  }
  return out;
}

function streamClosed(code: number | undefined): NodeJS.ErrnoException {
  return Object.assign(new Error(`member closed the stream (HTTP/2 error code ${code ?? "unknown"})`), { code: "ERR_HTTP2_STREAM_ERROR" });
}

/** The client went away (or revocation cut it): nothing is sent, the audit says why. */
export function clientClosed(): DataPathError {
  return Object.assign(new DataPathError("badGateway", "client closed the connection", { detail: "client closed the connection" }), { midStream: true });
}

type Outcome = "done" | "refused";

/** Relays one opened stream's response to the client. */
function exchange(res: ClientResponse, stream: ClientHttp2Stream, opts: ForwardOptions, body: BodyFeed | undefined): Promise<Outcome> {
  const cluster = opts.upstream.cluster;
  return new Promise<Outcome>((resolve, reject) => {
    let started = false;
    let ended = false;
    let settled = false;
    let failure: Error | undefined;
    const settle = (outcome: Outcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      res.removeListener("close", onClientClose);
      res.removeListener("drain", onDrain);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(() => {
      failure = Object.assign(new Error("response timeout"), { code: "KUBEGATE_RESPONSE_TIMEOUT" });
      stream.close(NGHTTP2_CANCEL);
    }, opts.responseTimeoutMs);

    const onDrain = () => stream.resume();
    // Every response emits 'close' when it is over (an HTTP/2 one also 'finish'es when the
    // client reset it), so only the member's clean end makes it a success.
    const onClientClose = () => {
      if (ended) return settle("done");
      // Revocation, or the client went away: the member's stream must end too.
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
      settle(clientClosed());
    };
    res.once("close", onClientClose);

    stream.on("response", (headers: IncomingHttpHeaders) => {
      clearTimeout(timer);
      body?.answered();
      const status = Number(headers[":status"]);
      opts.onResponse(status);
      const redirect = redirectRefusal(cluster, status);
      if (redirect !== undefined) {
        failure = redirect;
        stream.close(NGHTTP2_CANCEL);
        return;
      }
      started = true;
      sendHead(res, status, h2ResponseHeaders(headers), true);
      res.on("drain", onDrain);
      // Only now: Node emits 'response' on a later tick than the DATA frames that came in the
      // same read, and a 'data' listener attached earlier would see (and drop) them first.
      stream.on("data", onData);
    });
    // Chunks that arrive in one tick (several DATA frames in one socket read) leave as one
    // write: fewer frames and TLS records toward the client on big LISTs.
    const sink: { cork(): void; uncork(): void } = responseStream(res) ?? res;
    let corked = false;
    const uncork = () => {
      corked = false;
      sink.uncork();
    };
    const onData = (chunk: Buffer) => {
      opts.onBytesOut(chunk.length);
      if (!corked) {
        corked = true;
        sink.cork();
        process.nextTick(uncork);
      }
      if (!(res as ServerResponse).write(chunk)) stream.pause();
    };
    stream.on("end", () => {
      // A stream cut by a dying session or a reset also 'end's, with an error code set.
      if (!started || (stream.rstCode !== undefined && stream.rstCode !== NGHTTP2_NO_ERROR)) return;
      ended = true;
      res.end();
    });
    stream.on("error", (err: Error) => (failure ??= err));
    stream.on("close", () => {
      clearTimeout(timer);
      if (ended || settled) return;
      if (started) {
        // Mid-stream: the client sees its response end abruptly, as the member's did.
        abortResponse(res);
        return settle(Object.assign(upstreamFailure(cluster, failure ?? streamClosed(stream.rstCode)), { midStream: true }));
      }
      if (failure instanceof DataPathError) return settle(failure);
      if (clientGone(res)) return settle(clientClosed());
      // Refused unprocessed (the member sent GOAWAY as we opened it): safe to send again.
      if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return settle("refused");
      settle(upstreamFailure(cluster, failure ?? streamClosed(stream.rstCode)));
    });
    body?.sendTo(stream);
  });
}

/**
 * Forwards over HTTP/2; resolves false, having sent nothing, when the member turned out
 * to speak only http/1.1 (the caller takes the HTTP/1.1 path).
 */
export async function forwardH2(req: ClientRequest, res: ClientResponse, opts: ForwardOptions): Promise<boolean> {
  const { upstream } = opts;
  const method = req.method ?? "GET";
  // admit refuses a body on these.
  const endStream = method === "GET" || method === "HEAD" || method === "OPTIONS";
  // Hold the body until a stream can take it (a new session may be connecting).
  const body = endStream ? undefined : bodyFeed(requestBody(req).pause());
  const headers = h2RequestHeaders(opts.headers, method, upstream.basePath + opts.target, upstream.authority);
  for (let attempt = 1; ; attempt++) {
    let stream: ClientHttp2Stream | undefined;
    try {
      stream = upstream.h2.open(headers, endStream);
      while (stream === undefined) {
        if ((await upstream.h2.ready(opts.connectTimeoutMs)) === "http/1.1") return false;
        if (clientGone(res)) throw clientClosed();
        stream = upstream.h2.open(headers, endStream);
      }
    } catch (err) {
      if (err instanceof DataPathError) throw err;
      throw upstreamFailure(upstream.cluster, err as NodeJS.ErrnoException);
    }
    const outcome = await exchange(res, stream, opts, body);
    if (outcome === "done") return true;
    // A refused body too large to have been kept cannot be sent again.
    if (attempt >= ATTEMPTS || (body !== undefined && !body.replayable())) throw upstreamFailure(upstream.cluster, streamClosed(NGHTTP2_REFUSED_STREAM));
  }
}
