/**
 * Raw clients for the data plane, for tests that try to break it: one request over
 * HTTP/1.1 or HTTP/2 with the method, path and headers exactly as given (nothing
 * normalised, headers may repeat), and a hand-written HTTP/1.1 upgrade over TLS that
 * exposes the bytes after the response head and when the connection closes.
 */
import type { IncomingHttpHeaders } from "node:http";
import http2 from "node:http2";
import https from "node:https";
import tls from "node:tls";

export type RawHeaders = Record<string, string | string[]>;

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed, when it is JSON. */
  json?: Record<string, unknown>;
}

export interface RawRequest {
  method?: string;
  /** Sent verbatim as the request target (HTTP/1.1) or :path (HTTP/2). */
  path: string;
  headers?: RawHeaders;
  body?: string | Buffer;
  timeoutMs?: number;
  /** A client certificate to present in the TLS handshake (on HTTP/2, only for a session of the request's own). */
  clientCert?: { certPem: string; keyPem: string };
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function finish(status: number, headers: IncomingHttpHeaders, chunks: Buffer[]): RawResponse {
  const body = Buffer.concat(chunks).toString("utf8");
  const json = parseJson(body);
  return json === undefined ? { status, headers, body } : { status, headers, body, json };
}

/** One request over HTTP/1.1 on a fresh TLS connection. */
export function http1Request(baseUrl: string, caPem: string, r: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: url.hostname,
      port: url.port,
      method: r.method ?? "GET",
      path: r.path,
      headers: r.headers ?? {},
      ca: caPem,
      ...(r.clientCert === undefined ? {} : { cert: r.clientCert.certPem, key: r.clientCert.keyPem }),
      agent: false,
      timeout: r.timeoutMs ?? 10_000,
    });
    req.on("timeout", () => req.destroy(new Error(`HTTP/1.1 ${r.path}: no answer in time`)));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(finish(res.statusCode ?? 0, res.headers, chunks)));
      res.on("error", reject);
    });
    req.end(r.body);
  });
}

/** Opens an HTTP/2 session to the data plane (presenting `clientCert`, if given); the caller closes it. */
export function http2Connect(baseUrl: string, caPem: string, clientCert?: RawRequest["clientCert"]): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl, { ca: caPem, ...(clientCert === undefined ? {} : { cert: clientCert.certPem, key: clientCert.keyPem }) });
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

/** One request on an HTTP/2 stream (on `session`, or on a session of its own). */
export async function http2Request(baseUrl: string, caPem: string, r: RawRequest, session?: http2.ClientHttp2Session): Promise<RawResponse> {
  const own = session === undefined;
  const s = session ?? (await http2Connect(baseUrl, caPem, r.clientCert));
  try {
    return await new Promise<RawResponse>((resolve, reject) => {
      const stream = s.request({ ":method": r.method ?? "GET", ":path": r.path, ...r.headers }, { endStream: r.body === undefined });
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), r.timeoutMs ?? 10_000);
      let status = 0;
      let headers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        headers = h as IncomingHttpHeaders;
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        clearTimeout(timer);
        resolve(finish(status, headers, chunks));
      });
      stream.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.on("close", () => {
        clearTimeout(timer);
        if (status === 0) reject(new Error(`HTTP/2 ${r.path}: stream closed with code ${stream.rstCode} before a response`));
      });
      if (r.body !== undefined) stream.end(r.body);
    });
  } finally {
    if (own) s.close();
  }
}

export type Protocol = "HTTP/1.1" | "HTTP/2";

/** One request over the given protocol. */
export function rawRequest(protocol: Protocol, baseUrl: string, caPem: string, r: RawRequest): Promise<RawResponse> {
  return protocol === "HTTP/1.1" ? http1Request(baseUrl, caPem, r) : http2Request(baseUrl, caPem, r);
}

/** An HTTP/1.1 connection after a hand-written upgrade request's response head. */
export interface RawUpgrade {
  socket: tls.TLSSocket;
  status: number;
  /** Lowercased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Bytes received after the response head (more arrive through read()). */
  rest(): Buffer;
  /** Resolves once `n` bytes arrived after the head (rejects on close or timeout). */
  read(n: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves when the server ended or closed the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
  destroy(): void;
}

/** Sends one hand-written HTTP/1.1 request (with Upgrade, or anything else) over TLS and reads the response head. */
export function rawUpgrade(
  baseUrl: string,
  caPem: string,
  r: { method?: string; path: string; headers: Array<[string, string]>; timeoutMs?: number },
): Promise<RawUpgrade> {
  const url = new URL(baseUrl);
  const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca: caPem, ALPNProtocols: ["http/1.1"], servername: url.hostname === "127.0.0.1" ? undefined : url.hostname });
  let buffer = Buffer.alloc(0);
  let closed = false;
  let onClosed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (onClosed = resolve));
  const waiters = new Set<() => void>();
  const markClosed = () => {
    closed = true;
    onClosed();
    for (const w of waiters) w();
  };
  socket.on("data", (c: Buffer) => {
    buffer = Buffer.concat([buffer, c]);
    for (const w of waiters) w();
  });
  socket.on("end", markClosed);
  socket.on("close", markClosed);
  socket.on("error", markClosed);

  const waitFor = <T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const tick = () => {
        const v = check();
        if (v !== undefined) return done(() => resolve(v));
        if (closed) return done(() => reject(new Error(`connection closed while waiting for ${what} (had ${buffer.length} bytes)`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what} (had ${buffer.length} bytes)`))), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        waiters.delete(tick);
        f();
      };
      waiters.add(tick);
      tick();
    });

  return new Promise((resolve, reject) => {
    socket.once("secureConnect", () => {
      let head = `${r.method ?? "GET"} ${r.path} HTTP/1.1\r\nHost: ${url.host}\r\n`;
      for (const [k, v] of r.headers) head += `${k}: ${v}\r\n`;
      socket.write(`${head}\r\n`);
      waitFor(
        () => {
          const end = buffer.indexOf("\r\n\r\n");
          return end === -1 ? undefined : end;
        },
        "the response head",
        r.timeoutMs ?? 10_000,
      ).then((end) => {
        const lines = buffer.subarray(0, end).toString("latin1").split("\r\n");
        buffer = buffer.subarray(end + 4);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(":");
          const name = line.slice(0, i).trim().toLowerCase();
          const value = line.slice(i + 1).trim();
          headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        resolve({
          socket,
          status,
          headers,
          rest: () => buffer,
          read(n, timeoutMs = 10_000) {
            return waitFor(
              () => {
                if (buffer.length < n) return undefined;
                const out = buffer.subarray(0, n);
                buffer = buffer.subarray(n);
                return out;
              },
              `${n} bytes`,
              timeoutMs,
            );
          },
          closed: closedPromise,
          isClosed: () => closed,
          destroy: () => socket.destroy(),
        });
      }, (err: unknown) => {
        socket.destroy();
        reject(err as Error);
      });
    });
    socket.once("error", reject);
  });
}

/** Reads a Status body after a non-101 answer: by content-length, else until the connection closes. */
export async function readBody(up: RawUpgrade, timeoutMs = 5_000): Promise<string> {
  const length = up.headers["content-length"];
  if (length !== undefined) return (await up.read(Number(length), timeoutMs)).toString("utf8");
  await Promise.race([up.closed, new Promise((r) => setTimeout(r, timeoutMs))]);
  return up.rest().toString("utf8");
}
