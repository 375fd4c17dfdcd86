/**
 * The client's side of one forwarded request, in the three shapes it comes in: an
 * HTTP/1.1 request and response, node:http2's compatibility request and response, or a
 * bare HTTP/2 stream (the data plane's fast path). node:http2 builds its compatibility
 * objects, a Readable and a Stream with a dozen stream listeners between them, for every
 * stream before 'request'; measured in the bench, that is about a fifth of what a small
 * GET costs the data plane. The data plane takes /clusters/ streams bare instead, and
 * builds the compatibility pair only when a member turns out to speak HTTP/1.1 (the
 * http2-proxy path needs it).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Http2ServerRequest, Http2ServerResponse, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { Readable } from "node:stream";

/** An HTTP/2 request taken from its stream as it arrived: what handlers read of a request, without the compatibility objects. */
export interface BareRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: "2.0";
  /** The request's stream: its body as a Readable, and where its response goes. */
  readonly stream: ServerHttp2Stream;
  readonly rawHeaders: string[];
}

export type ClientRequest = IncomingMessage | Http2ServerRequest | BareRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse | ServerHttp2Stream;

/** A BareRequest for a stream; its response is the stream itself. */
export function bareRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): BareRequest {
  return { method: headers[":method"] ?? "GET", url: headers[":path"] ?? "/", headers, httpVersion: "2.0", stream, rawHeaders };
}

export function isBareRequest(req: ClientRequest): req is BareRequest {
  return !("on" in req);
}

/** A bare stream as a response (a compatibility response has a `stream`, an HTTP/1.1 one neither). */
export function isBareResponse(res: ClientResponse): res is ServerHttp2Stream {
  return "respond" in res;
}

/** The request body as a Readable. */
export function requestBody(req: ClientRequest): Readable {
  return isBareRequest(req) ? req.stream : req;
}

/** The HTTP/2 stream under a response, or undefined over HTTP/1.1. */
export function responseStream(res: ClientResponse): ServerHttp2Stream | undefined {
  if (isBareResponse(res)) return res;
  return "stream" in res && res.stream !== undefined ? res.stream : undefined;
}

/** Whether the client has gone (reset its stream, or closed its connection). */
export function clientGone(res: ClientResponse): boolean {
  return (responseStream(res) ?? (res as ServerResponse)).destroyed;
}

/**
 * Writes the response head; `flush` sends it at once (a watch may send its first event much
 * later), which a bare stream always does. `headers` is the caller's to give away.
 */
export function sendHead(res: ClientResponse, status: number, headers: Record<string, string | string[] | number>, flush: boolean): void {
  if (isBareResponse(res)) {
    headers[":status"] = status;
    res.respond(headers);
    return;
  }
  (res as ServerResponse).writeHead(status, headers);
  if (flush && "flushHeaders" in res && typeof res.flushHeaders === "function") res.flushHeaders();
}

/** node:http2's compatibility pair for a bare request not yet read from, for code that needs it (http2-proxy). */
export function compatPair(req: BareRequest): { req: Http2ServerRequest; res: Http2ServerResponse } {
  type RequestCtor = new (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, options: undefined, rawHeaders: string[]) => Http2ServerRequest;
  type ResponseCtor = new (stream: ServerHttp2Stream) => Http2ServerResponse;
  return {
    req: new (Http2ServerRequest as unknown as RequestCtor)(req.stream, req.headers, undefined, req.rawHeaders),
    res: new (Http2ServerResponse as unknown as ResponseCtor)(req.stream),
  };
}
