/** Raw HTTP/1.1 and HTTP/2 requests to the fake, for protocol-level tests. */
import http2 from "node:http2";
import https from "node:https";
import tls from "node:tls";
import type { FakeApiserver } from "../index.ts";

/** A response with the body as text. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  httpVersion: string;
}

/** Options of one request. */
export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  token?: string | null;
  cert?: { certPem: string; keyPem: string };
}

function authHeaders(fake: FakeApiserver, r: RawRequest): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = { ...(r.headers ?? {}) };
  const token = r.token === undefined ? fake.adminToken : r.token;
  if (token !== null) h["authorization"] = `Bearer ${token}`;
  return h;
}

/** One request over HTTP/1.1 (ALPN http/1.1). */
export function request1(fake: FakeApiserver, r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port: fake.port, method: r.method ?? "GET", path: r.path, headers: authHeaders(fake, r), ca: fake.caPem, agent: false, cert: r.cert?.certPem, key: r.cert?.keyPem },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, httpVersion: res.httpVersion }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(r.body);
  });
}

/** A dedicated HTTP/2 session; close it when done. */
export function connect2(fake: FakeApiserver, cert?: { certPem: string; keyPem: string }): http2.ClientHttp2Session {
  const session = http2.connect(fake.url, { ca: fake.caPem, cert: cert?.certPem, key: cert?.keyPem });
  session.on("error", () => {});
  return session;
}

/** One request over HTTP/2 on a session. */
export function request2(fake: FakeApiserver, session: http2.ClientHttp2Session, r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": r.method ?? "GET", ":path": r.path, ...authHeaders(fake, r) });
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      headers = h as typeof headers;
    });
    stream.on("data", (d: string) => (body += d));
    stream.on("end", () => resolve({ status, headers, body, httpVersion: "2.0" }));
    stream.on("error", reject);
    stream.end(r.body);
  });
}

/** Opens a raw TLS socket speaking HTTP/1.1 (for upgrades), presenting `cert` if given, resolved once connected. */
export function rawTls(fake: FakeApiserver, cert?: { certPem: string; keyPem: string }): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port: fake.port, ca: fake.caPem, ALPNProtocols: ["http/1.1"], cert: cert?.certPem, key: cert?.keyPem }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Reads from a socket until `predicate` holds for everything read so far. */
export function readUntil(socket: tls.TLSSocket, predicate: (all: Buffer) => boolean, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let all = Buffer.alloc(0);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      if (err) reject(err);
      else resolve(all);
    };
    const onData = (d: Buffer) => {
      all = Buffer.concat([all, d]);
      if (predicate(all)) done();
    };
    const onClose = () => (predicate(all) ? done() : done(new Error(`socket closed; got ${JSON.stringify(all.toString("latin1"))}`)));
    const timer = setTimeout(() => done(new Error(`timed out; got ${JSON.stringify(all.toString("latin1"))}`)), timeoutMs);
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}
