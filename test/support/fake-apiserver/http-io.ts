/**
 * The small surface of node:http and node:http2 (compat) requests and responses
 * the fake uses, so one handler serves HTTP/1.1 and HTTP/2 alike.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { TLSSocket } from "node:tls";
import { type ApiError, type StatusBody, apiError } from "./status.ts";

/** A request on either protocol. */
export type Req = IncomingMessage | Http2ServerRequest;
/** A response on either protocol. */
export type Res = ServerResponse | Http2ServerResponse;

/** The TLS socket under a request (the session socket for HTTP/2). */
export function tlsSocketOf(req: Req): TLSSocket {
  const stream = (req as Http2ServerRequest).stream;
  return (stream ? stream.session?.socket : req.socket) as TLSSocket;
}

/** Headers with lowercased names; repeated headers stay arrays (from rawHeaders, so HTTP/2 duplicates survive). */
export function headerRecord(rawHeaders: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name.startsWith(":")) continue;
    const value = rawHeaders[i + 1]!;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/** All values of a header as a list. */
export function headerValues(headers: Record<string, string | string[]>, name: string): string[] {
  const v = headers[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Writes a JSON body with a status code. */
export function sendJson(res: Res, code: number, body: unknown, contentType = "application/json"): void {
  const data = Buffer.from(JSON.stringify(body));
  (res as ServerResponse).writeHead(code, { "content-type": contentType, "content-length": String(data.length), "cache-control": "no-cache, private" });
  (res as ServerResponse).end(data);
}

/** Writes an ApiError (or any Status body) as kube-apiserver does. */
export function sendStatus(res: Res, status: StatusBody, code = status.code ?? 500): void {
  if (res.headersSent) {
    (res as ServerResponse).destroy?.();
    return;
  }
  sendJson(res, code, status);
}

/** Sends the error; unexpected errors become a 500 InternalError. */
export function sendError(res: Res, err: unknown): void {
  const e = (err as ApiError)?.name === "ApiError" ? (err as ApiError) : apiError(500, "InternalError", `Internal error occurred: ${(err as Error)?.message ?? String(err)}`);
  sendStatus(res, e.status, e.code);
}

/** Sends status line and headers now, for streams (watch, follow logs) whose body comes later. */
export function startStream(res: Res, contentType: string): void {
  (res as ServerResponse).writeHead(200, { "content-type": contentType, "cache-control": "no-cache, private" });
  const r = res as ServerResponse;
  if (typeof r.flushHeaders === "function") r.flushHeaders();
  const sock = (res as ServerResponse).socket;
  sock?.setNoDelay?.(true);
}

/** Reads the whole body (bounded). */
export async function readBody(req: Req, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw apiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 8388608");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
