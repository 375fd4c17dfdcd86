/**
 * Kubernetes Status objects, so kubectl prints the data plane's refusals as it prints the
 * API server's own. Denials say little; the audit log says the rest.
 */
import type { Duplex } from "node:stream";
import { kinds, type ErrorKind } from "../errors.ts";
import { clientGone, responseStream, sendHead, type ClientResponse } from "./client-side.ts";
import { headerBlock } from "./upgrade-relay.ts";

export interface StatusBody {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure";
  message: string;
  reason: string;
  code: number;
  details?: StatusDetails;
}

/** What a Status says about the object it is about, as Kubernetes' StatusDetails. */
export interface StatusDetails {
  name?: string;
  group?: string;
  /** The resource, as the API server fills it (e.g. "configmaps"). */
  kind?: string;
  retryAfterSeconds?: number;
}

/** A refusal on the data path: what kind (from the error catalogue), and words for the client. */
export class DataPathError extends Error {
  override name = "DataPathError";
  readonly kind: ErrorKind;
  /** Overrides the catalogue's HTTP status where Kubernetes uses another (e.g. 400 for bad paths). */
  readonly status: number;
  /** For the audit log only. */
  readonly detail: string;
  readonly retryAfterSeconds: number | undefined;
  /** The object the refusal is about, for the Status' details. */
  readonly details: StatusDetails | undefined;
  constructor(kind: ErrorKind, message: string, opts: { status?: number; detail?: string; retryAfterSeconds?: number; details?: StatusDetails; cause?: Error } = {}) {
    // The cause (the socket's or TLS error) is for kubegate's own words, never the client's.
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.kind = kind;
    this.status = opts.status ?? kinds[kind].http;
    this.detail = opts.detail ?? message;
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.details = opts.details;
  }
}

export function statusBody(err: DataPathError): StatusBody {
  const details: StatusDetails = { ...err.details };
  if (err.retryAfterSeconds !== undefined) details.retryAfterSeconds = err.retryAfterSeconds;
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: err.message,
    reason: kinds[err.kind].reason,
    code: err.status,
    ...(Object.keys(details).length === 0 ? {} : { details }),
  };
}

/**
 * Ends a response that has already started, so the client knows it is incomplete: an
 * HTTP/2 stream is reset with INTERNAL_ERROR (NO_ERROR would mean "complete"), an
 * HTTP/1.1 connection is cut before the body's end.
 */
export function abortResponse(res: ClientResponse): void {
  const stream = responseStream(res);
  if (stream === undefined) {
    res.destroy();
    return;
  }
  // Destroyed with an error, the stream is reset with INTERNAL_ERROR and nothing else;
  // close() would end its writable side first, and the client could read END_STREAM
  // (complete) before the reset. Both a bare stream and one under a compatibility
  // response have an 'error' listener.
  if (!stream.destroyed) stream.destroy(Object.assign(new Error("response aborted"), { code: "ERR_HTTP2_STREAM_ERROR" }));
}

/** Writes the Status as the response, if headers have not gone out yet. */
export function writeStatus(res: ClientResponse, err: DataPathError): void {
  if (res.headersSent) {
    abortResponse(res);
    return;
  }
  // A client that has gone takes no response (on a bare stream node:http2 would throw).
  if (clientGone(res)) return;
  const body = JSON.stringify(statusBody(err));
  const headers: Record<string, string | number> = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  };
  if (err.retryAfterSeconds !== undefined) headers["retry-after"] = err.retryAfterSeconds;
  if (err.status === 401) headers["www-authenticate"] = 'Bearer realm="kubegate"';
  sendHead(res, err.status, headers, false);
  res.end(body);
}

/** Answers an upgrade request on its raw socket with a Status and closes the connection. */
export function writeStatusToSocket(socket: Duplex, err: DataPathError, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(statusBody(err));
  const reason = kinds[err.kind].reason;
  const head = headerBlock(`HTTP/1.1 ${err.status} ${reason}`, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
    "cache-control": "no-store",
    connection: "close",
    ...headers,
  });
  socket.end(head + body);
}
