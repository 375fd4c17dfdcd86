/**
 * The HTTP/2 session pool to a member: streams share one session until the member's
 * stream limit, then another opens (nothing queues); a member that picks http/1.1 is
 * remembered; a dead session is dropped and the next request reconnects; and a stream
 * whose reader stalls holds at most its window while the session's other streams flow.
 */
import http2 from "node:http2";
import https from "node:https";
import tls from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { h2RequestHeaders, h2ResponseHeaders } from "../../src/forward/forward-h2.ts";
import { createH2Pool, STREAM_WINDOW, type H2Pool } from "../../src/forward/h2-pool.ts";
import { createCa, issueServerCert, type KeyPair } from "../../src/tls/pki.ts";

let ca: KeyPair;
let serving: KeyPair;
beforeAll(async () => {
  ca = await createCa("upstream-h2-test-ca");
  serving = await issueServerCert(ca, ["127.0.0.1", "localhost"]);
});

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(server: tls.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as { port: number }).port;
}

/** An h2 member; `handler` answers each stream; sessions are tracked so the test can kill them. */
async function h2Member(handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void, settings: http2.Settings = {}) {
  const server = http2.createSecureServer({ key: serving.keyPem, cert: serving.certPem, settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    handler(stream, headers);
  });
  cleanups.push(() => {
    for (const s of sessions) s.destroy();
  });
  const port = await listen(server);
  return { port, sessions };
}

function pool(port: number, maxStreamsPerSession?: number): H2Pool {
  const p = createH2Pool({
    host: "127.0.0.1",
    port,
    servername: undefined,
    secureContext: tls.createSecureContext({ ca: ca.certPem }),
    ...(maxStreamsPerSession === undefined ? {} : { maxStreamsPerSession }),
  });
  cleanups.push(() => p.close());
  return p;
}

const responses = new WeakMap<http2.ClientHttp2Stream, Promise<number>>();

/** Opens a stream, connecting first if the pool has no room. */
async function open(p: H2Pool, path: string): Promise<http2.ClientHttp2Stream> {
  for (;;) {
    const s = p.open({ ":path": path, ":method": "GET", ":scheme": "https", ":authority": "127.0.0.1" }, true);
    if (s !== undefined) {
      s.on("error", () => {});
      responses.set(s, new Promise<number>((r) => s.once("response", (h) => r(Number(h[":status"])))));
      return s;
    }
    expect(await p.ready(2000)).toBe("h2");
  }
}

/** The stream's response status (listened for from the moment it was opened). */
const response = (s: http2.ClientHttp2Stream) => responses.get(s)!;

describe("h2RequestHeaders", () => {
  it.each([
    ["sets the pseudo-headers", {}, {}],
    ["keeps ordinary headers, lowercased", { Accept: "application/json", "impersonate-group": ["a", "b"] }, { accept: "application/json", "impersonate-group": ["a", "b"] }],
    ["drops connection-specific headers", { connection: "x", "keep-alive": "5", "proxy-connection": "x", "transfer-encoding": "chunked", upgrade: "h2c", host: "evil" }, {}],
    ["keeps te only as trailers", { te: "trailers" }, { te: "trailers" }],
    ["drops any other te", { te: "gzip" }, {}],
    ["ignores pseudo-headers from the caller", { ":path": "/evil", ":authority": "evil" }, {}],
  ])("%s", (_what, input, extra) => {
    expect(h2RequestHeaders(input as Record<string, string | string[]>, "GET", "/base/api?x=1", "member:6443")).toEqual({
      ":method": "GET",
      ":scheme": "https",
      ":authority": "member:6443",
      ":path": "/base/api?x=1",
      ...extra,
    });
  });
});

describe("h2ResponseHeaders", () => {
  it("passes the member's headers on without pseudo-headers or hop-by-hop ones", () => {
    const headers = Object.assign(Object.create(null) as http2.IncomingHttpHeaders, {
      ":status": 200,
      "content-type": "application/json",
      "set-cookie": ["a=1", "b=2"],
      "audit-id": "x",
      connection: "close",
      "keep-alive": "5",
      "transfer-encoding": "chunked",
      "proxy-authenticate": "Basic",
      trailer: "x",
    });
    expect(h2ResponseHeaders(headers)).toEqual({ "content-type": "application/json", "set-cookie": ["a=1", "b=2"], "audit-id": "x" });
  });
});

describe("the session pool", () => {
  it("multiplexes streams on one session and opens another only at the member's stream limit", async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const member = await h2Member(
      (stream) => {
        stream.respond({ ":status": 200 });
        held.push(stream); // long-lived, like a watch
      },
      { maxConcurrentStreams: 3 },
    );
    const p = pool(member.port);
    expect(p.protocol).toBe("unknown");
    const streams = [];
    for (let i = 0; i < 7; i++) streams.push(await open(p, `/watch/${i}`));
    expect(await Promise.all(streams.map(response))).toEqual(Array(7).fill(200));
    expect(p.protocol).toBe("h2");
    expect(p.stats()).toEqual({ sessions: 3, streams: 7 });
    expect(member.sessions.size).toBe(3);
    // Ended streams free their slots: new ones reuse the open sessions.
    for (const s of streams.slice(0, 3)) s.close();
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 3; i++) void response(await open(p, `/again/${i}`));
    expect(p.stats().sessions).toBe(3);
    expect(member.sessions.size).toBe(3);
  });

  it("caps streams per session at our own limit when the member allows more", async () => {
    const member = await h2Member((stream) => stream.respond({ ":status": 200 }));
    const p = pool(member.port, 2);
    const streams = [await open(p, "/a")];
    await response(streams[0]!); // the member's SETTINGS have arrived
    for (const path of ["/b", "/c", "/d", "/e"]) streams.push(await open(p, path));
    await Promise.all(streams.map(response));
    expect(p.stats().sessions).toBe(3);
  });

  it("remembers a member that negotiates http/1.1", async () => {
    const server = https.createServer({ key: serving.keyPem, cert: serving.certPem, ALPNProtocols: ["http/1.1"] }, (_req, res) => res.end("ok"));
    const port = await listen(server);
    const p = pool(port);
    expect(p.open({ ":path": "/" }, true)).toBeUndefined();
    expect(await p.ready(2000)).toBe("http/1.1");
    expect(p.protocol).toBe("http/1.1");
    expect(await p.ready(2000)).toBe("http/1.1");
  });

  it("reports connection failures with their codes", async () => {
    const other = await createCa("someone-else");
    const member = await h2Member((stream) => stream.respond({ ":status": 200 }));
    const wrongCa = createH2Pool({ host: "127.0.0.1", port: member.port, servername: undefined, secureContext: tls.createSecureContext({ ca: other.certPem }) });
    cleanups.push(() => wrongCa.close());
    await expect(wrongCa.ready(2000)).rejects.toMatchObject({ code: expect.stringMatching(/VERIFY|SELF_SIGNED|ISSUER/) as unknown });
    // A listener that never answers the handshake.
    const held = new Set<import("node:net").Socket>();
    const silent = new (await import("node:net")).Server((socket) => {
      held.add(socket);
      socket.on("error", () => {});
    });
    const port = await listen(silent as unknown as tls.Server);
    cleanups.push(() => {
      for (const socket of held) socket.destroy();
    });
    const started = performance.now();
    await expect(pool(port).ready(200)).rejects.toMatchObject({ code: "KUBEGATE_CONNECT_TIMEOUT" });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("drops a session the member destroys; its streams end with an error and the next request reconnects", async () => {
    const member = await h2Member((stream, headers) => {
      stream.respond({ ":status": 200 });
      if (headers[":path"] === "/short") stream.end("done");
      else stream.write("first\n");
    });
    const p = pool(member.port);
    const watch = await open(p, "/watch");
    await response(watch);
    const closed = new Promise<{ rstCode: number | undefined }>((r) => watch.once("close", () => r({ rstCode: watch.rstCode })));
    watch.on("error", () => {});
    watch.resume();
    for (const s of member.sessions) s.destroy();
    expect((await closed).rstCode).not.toBe(http2.constants.NGHTTP2_NO_ERROR);
    await new Promise((r) => setTimeout(r, 20));
    expect(p.stats()).toEqual({ sessions: 0, streams: 0 });
    const next = await open(p, "/short");
    expect(await response(next)).toBe(200);
    expect(member.sessions.size).toBe(1);
  });

  it("close() ends every session, and the pool then refuses to connect", async () => {
    const member = await h2Member((stream) => stream.respond({ ":status": 200 }));
    const p = pool(member.port);
    const s = await open(p, "/watch");
    await response(s);
    const closed = new Promise((r) => s.once("close", r));
    p.close();
    await closed;
    await expect(p.ready(1000)).rejects.toMatchObject({ code: "ECONNRESET" });
  });

  it("a stalled stream holds at most its window while another on the same session flows", async () => {
    const BIG = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 120);
    let stalledAccepted = 0;
    const member = await h2Member((stream, headers) => {
      stream.respond({ ":status": 200 });
      const stalled = headers[":path"] === "/stalled";
      let sent = 0;
      // A well-behaved member: writes only as fast as flow control lets it.
      const pump = () => {
        while (stalled || sent < BIG) {
          sent += chunk.length;
          if (stalled) stalledAccepted = sent;
          if (!stream.write(chunk)) return void stream.once("drain", pump);
        }
        stream.end();
      };
      pump();
    });
    const p = pool(member.port);
    const stalled = await open(p, "/stalled"); // never read
    await response(stalled);
    const fast = await open(p, "/fast");
    let received = 0;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      fast.on("data", (c: Buffer) => (received += c.length));
      fast.on("end", resolve);
      fast.on("error", reject);
    });
    const ms = performance.now() - started;
    expect(received).toBe(BIG);
    expect(p.stats().sessions).toBe(1);
    expect(member.sessions.size).toBe(1);
    // What the member could push at the stalled stream: its window, plus the member's own
    // write buffer (a few chunks), far below the 64 MiB that flowed past it.
    expect(stalledAccepted).toBeGreaterThanOrEqual(STREAM_WINDOW);
    expect(stalledAccepted).toBeLessThan(STREAM_WINDOW + 1024 * 1024);
    expect(stalled.readableLength).toBeLessThanOrEqual(STREAM_WINDOW);
    console.log(`64 MiB beside a stalled stream on one session in ${Math.round(ms)} ms; the stalled stream took ${stalledAccepted} bytes`);
  });
});
