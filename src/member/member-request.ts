/**
 * One JSON request to a member's API as the gateway itself, for the RBAC reconciler and the
 * health probe: no
 * impersonation (the gateway's own role, or the agent's, is what writes bindings), the
 * upstream's credential when it has one (an agent cluster's tunnel adds the agent's), over
 * the same HTTP/2 pool (or HTTP/1.1 keep-alive pool) the data path uses. The whole body is
 * read and parsed: these are small objects and lists, never watches.
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { DataPathError } from "../forward/kube-status.ts";
import { upstreamFailure } from "../forward/upstream-failure.ts";
import type { Upstream } from "../forward/upstream.ts";

const USER_AGENT = "kubegate-rbac-reconciler";
/** A page of 500 bindings is well under a megabyte; anything near this is not a binding list. */
const MAX_BODY = 32 * 1024 * 1024;
/** Attempts when the member refused a stream unprocessed (a GOAWAY racing it): safe to resend. */
const ATTEMPTS = 3;

export interface MemberRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path and query below the member's API root. */
  path: string;
  body?: unknown;
  timeoutMs: number;
  /** Replaces or adds headers (e.g. the user agent). */
  headers?: Record<string, string>;
  /** Ends the request at once (the data plane is stopping). */
  signal?: AbortSignal;
}

export interface MemberResponse {
  status: number;
  /** The body parsed as JSON; undefined when empty or not JSON. */
  body: unknown;
}

/** The member answered, with an error: its Kubernetes Status says why. */
export class MemberStatusError extends Error {
  override name = "MemberStatusError";
  readonly status: number;
  /** The Status reason (NotFound, Forbidden, AlreadyExists, …) or "". */
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
  /** A server-side hiccup (5xx, 429) says nothing about the request: try again later. */
  get transient(): boolean {
    return this.status >= 500 || this.status === 429;
  }
}

/** The member's own words for a failed response: its Status message, else the HTTP status. */
export function memberStatusError(res: MemberResponse): MemberStatusError {
  const body = res.body as { kind?: unknown; message?: unknown; reason?: unknown } | undefined;
  const isStatus = body !== undefined && body !== null && body.kind === "Status";
  const message = isStatus && typeof body.message === "string" && body.message !== "" ? body.message : `the member answered HTTP ${res.status}`;
  return new MemberStatusError(res.status, isStatus && typeof body.reason === "string" ? body.reason : "", message);
}

function parse(status: number, chunks: Buffer[]): MemberResponse {
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return { status, body: text === "" ? undefined : (JSON.parse(text) as unknown) };
  } catch {
    return { status, body: undefined };
  }
}

function failure(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** A function, so a check after an await is not narrowed away by the one before it. */
const isAborted = (signal: AbortSignal | undefined) => signal?.aborted === true;
const aborted = () => failure("KUBEGATE_ABORTED", "the request was cancelled: the data plane is stopping");

type Outcome = MemberResponse | "refused";

function exchange(stream: ClientHttp2Stream, payload: Buffer | undefined, timeoutMs: number, signal: AbortSignal | undefined): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let status = 0;
    let error: Error | undefined;
    const timer = setTimeout(() => {
      error = failure("KUBEGATE_RESPONSE_TIMEOUT", "response timeout");
      stream.close(constants.NGHTTP2_CANCEL);
    }, timeoutMs);
    const onAbort = () => {
      error ??= aborted();
      stream.close(constants.NGHTTP2_CANCEL);
    };
    signal?.addEventListener("abort", onAbort);
    stream.on("response", (h: IncomingHttpHeaders) => (status = Number(h[":status"])));
    stream.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        error = failure("KUBEGATE_BODY_TOO_LARGE", `the member's response exceeded ${MAX_BODY} bytes`);
        stream.close(constants.NGHTTP2_CANCEL);
      } else chunks.push(c);
    });
    stream.on("error", (err: Error) => (error ??= err));
    stream.on("close", () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (error === undefined && status > 0 && (stream.rstCode === undefined || stream.rstCode === constants.NGHTTP2_NO_ERROR))
        return resolve(parse(status, chunks));
      if (error === undefined && status === 0 && stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) return resolve("refused");
      reject(error ?? failure("ERR_HTTP2_STREAM_ERROR", `member closed the stream (HTTP/2 error code ${stream.rstCode ?? "unknown"})`));
    });
    if (payload !== undefined) stream.end(payload);
  });
}

function requestHttp1(upstream: Upstream, r: MemberRequest, headers: Record<string, string | number>, payload: Buffer | undefined): Promise<MemberResponse> {
  return new Promise((resolve, reject) => {
    const req = upstream.http1({ method: r.method, path: r.path, headers, signal: r.signal });
    const timer = setTimeout(() => req.destroy(failure("KUBEGATE_RESPONSE_TIMEOUT", "response timeout")), r.timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(failure("KUBEGATE_BODY_TOO_LARGE", `the member's response exceeded ${MAX_BODY} bytes`));
        else chunks.push(c);
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve(parse(res.statusCode ?? 0, chunks));
      });
      res.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.end(payload);
  });
}

/**
 * Sends one request and reads the whole answer, whatever its status. Throws a DataPathError
 * (the same one a proxied request would get) when the member cannot be reached or the
 * exchange breaks: the agent is offline, the connection is refused, it timed out.
 */
export async function memberRequest(upstream: Upstream, r: MemberRequest): Promise<MemberResponse> {
  const payload = r.body === undefined ? undefined : Buffer.from(JSON.stringify(r.body), "utf8");
  const plain: Record<string, string | number> = { accept: "application/json", "user-agent": USER_AGENT };
  if (payload !== undefined) {
    plain["content-type"] = "application/json";
    plain["content-length"] = payload.length;
  }
  if (upstream.authorization !== undefined) plain["authorization"] = upstream.authorization;
  Object.assign(plain, r.headers);
  try {
    if (isAborted(r.signal)) throw aborted();
    if (upstream.h2.protocol === "http/1.1") return await requestHttp1(upstream, r, plain, payload);
    const headers: OutgoingHttpHeaders = { ":method": r.method, ":scheme": "https", ":authority": upstream.authority, ":path": upstream.basePath + r.path, ...plain };
    for (let attempt = 1; ; attempt++) {
      const endStream = payload === undefined;
      let stream = upstream.h2.open(headers, endStream);
      while (stream === undefined) {
        if ((await upstream.h2.ready(r.timeoutMs)) === "http/1.1") return await requestHttp1(upstream, r, plain, payload);
        if (isAborted(r.signal)) throw aborted();
        stream = upstream.h2.open(headers, endStream);
      }
      const outcome = await exchange(stream, payload, r.timeoutMs, r.signal);
      if (outcome !== "refused") return outcome;
      if (attempt >= ATTEMPTS) throw failure("ERR_HTTP2_STREAM_ERROR", "the member refused the stream");
    }
  } catch (err) {
    if (err instanceof DataPathError) throw err;
    throw upstreamFailure(upstream.cluster, err as NodeJS.ErrnoException);
  }
}
