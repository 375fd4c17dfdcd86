/**
 * The data port under abuse, on a real kubegate (the serve composition, in this process)
 * in front of the fake member: rapid reset, oversized headers, too many streams of one
 * user, and connections that send nothing or send their headers slowly. Each attack's
 * outcome is asserted, and what the other clients saw meanwhile.
 */
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway, type TestUser } from "../support/gateway.ts";
import { http1Request, http2Connect, http2Request } from "../support/raw-client.ts";

const LIST = "/clusters/member/api/v1/namespaces/default/configmaps";
const WATCH = `${LIST}?watch=1`;

let gw: TestGateway;
let user: TestUser;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway({
    flags: {
      "data-handshake-timeout": "1s",
      "data-header-timeout": "2s",
      "data-idle-timeout": "3s",
      "max-streams-per-user": "20",
    },
  });
  user = await gw.user("mallory", { role: "view" });
  token = await user.token();
});
afterAll(() => gw?.close());

const auth = () => ({ authorization: `Bearer ${token}` });
const memberHits = () => gw.fake.requests.filter((r) => r.path === "/api/v1/namespaces/default/configmaps").length;

/** p99 of `n` sequential GETs by a well-behaved client on its own connection. */
async function bystanderP99(n: number): Promise<number> {
  const session = await http2Connect(gw.dataUrl, gw.caPem);
  try {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const res = await http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: auth() }, session);
      expect(res.status).toBe(200);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[Math.min(times.length - 1, Math.ceil(n * 0.99) - 1)]!;
  } finally {
    session.close();
  }
}

describe("rapid reset (CVE-2023-44487)", () => {
  it("answers GOAWAY(ENHANCE_YOUR_CALM), and cancelled streams do not reach the member", async () => {
    const before = memberHits();
    const session = await http2Connect(gw.dataUrl, gw.caPem);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    const closed = new Promise((resolve) => session.once("close", resolve));
    session.on("error", () => undefined);
    let sent = 0;
    for (let i = 0; i < 20_000 && !session.destroyed && !session.closed; i++) {
      try {
        const s = session.request({ ":path": LIST, ...auth() });
        s.on("error", () => undefined);
        s.close(http2.constants.NGHTTP2_CANCEL);
        sent++;
      } catch {
        break;
      }
      if (i % 200 === 199) await new Promise((r) => setImmediate(r));
    }
    const code = await Promise.race([goaway, closed.then(() => "closed without GOAWAY")]);
    expect(code).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await closed;
    await new Promise((r) => setTimeout(r, 500));
    const reached = memberHits() - before;
    console.log(`rapid reset: ${sent} HEADERS+RST_STREAM written before the GOAWAY arrived; ${reached} reached the member`);
    expect(reached).toBeLessThanOrEqual(Math.max(1, sent * 0.01));
    // Others are served as before.
    expect((await http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: auth() })).status).toBe(200);
  });
});

/** One raw HTTP/2 frame. */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  payload.copy(b, 9);
  return b;
}

/** Speaks raw HTTP/2 to the data port: the preface, then `count` copies of `flood`; resolves with the GOAWAY codes received before the server closed. */
function floodWith(flood: Buffer, count: number): Promise<number[]> {
  const { port } = new URL(gw.dataUrl);
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const sock = tls.connect({ port: Number(port), host: "127.0.0.1", ca: gw.caPem, servername: "localhost", ALPNProtocols: ["h2"] }, async () => {
      sock.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      sock.write(frame(4, 0, 0, Buffer.alloc(0)));
      const batch = Buffer.concat(Array.from({ length: 1000 }, () => flood));
      for (let sent = 0; sent < count && !sock.destroyed; sent += 1000) {
        sock.write(batch);
        await new Promise((r) => setImmediate(r));
      }
    });
    sock.on("data", (d: Buffer) => (received = Buffer.concat([received, d])));
    sock.on("error", () => undefined);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("the server kept the flooding connection open for 10 s"));
    }, 10_000);
    sock.on("close", () => {
      clearTimeout(timer);
      const codes: number[] = [];
      for (let off = 0; off + 9 <= received.length; off += 9 + received.readUIntBE(off, 3)) if (received[off + 3] === 7) codes.push(received.readUInt32BE(off + 13));
      resolve(codes);
    });
  });
}

describe("control-frame floods", () => {
  it.each([
    ["PING", frame(6, 0, 0, Buffer.alloc(8))],
    ["SETTINGS", frame(4, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]))],
  ])("a %s flood gets GOAWAY(ENHANCE_YOUR_CALM) and the connection closes; others are served", async (_, flood) => {
    const codes = await floodWith(flood, 100_000);
    expect(codes[0]).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect((await http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: auth() })).status).toBe(200);
  });
});

describe("headers", () => {
  it("refuses 100 KB of headers and 1,000 headers; other clients go on", async () => {
    // A clean refusal of that one stream: 431, or the stream (or its session) reset.
    const refusal = (r: Promise<{ status: number }>) => r.then((res) => String(res.status), (e: Error) => e.message);
    const big = await http2Connect(gw.dataUrl, gw.caPem);
    big.on("error", () => undefined);
    expect(await refusal(http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: { ...auth(), "x-big": "a".repeat(100_000) } }, big))).toMatch(/^431$|stream/i);
    big.destroy();

    const many: Record<string, string> = auth();
    for (let i = 0; i < 1000; i++) many[`x-h${i}`] = "v";
    const crowded = await http2Connect(gw.dataUrl, gw.caPem);
    crowded.on("error", () => undefined);
    expect(await refusal(http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: many }, crowded))).toMatch(/^431$|stream|goaway/i);
    crowded.destroy();

    const h1 = await refusal(http1Request(gw.dataUrl, gw.caPem, { path: LIST, headers: { ...auth(), "x-big": "a".repeat(100_000) } }));
    expect(h1).toMatch(/^431$|socket hang up|ECONNRESET/);
    // Everyone else is served, on both protocols.
    expect((await http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: auth() })).status).toBe(200);
    expect((await http1Request(gw.dataUrl, gw.caPem, { path: LIST, headers: auth() })).status).toBe(200);
  });
});

describe("per-user stream cap", () => {
  it("answers 429 with Retry-After beyond the cap, and serves again once streams end", async () => {
    const session = await http2Connect(gw.dataUrl, gw.caPem);
    try {
      const watches = Array.from({ length: 20 }, () => session.request({ ":path": WATCH, ...auth() }));
      await Promise.all(watches.map((w) => new Promise((r) => w.once("response", r))));
      const refused = await http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: auth() }, session);
      expect(refused.status).toBe(429);
      expect(refused.headers["retry-after"]).toBe("1");
      expect(refused.json).toMatchObject({ kind: "Status", reason: "TooManyRequests", code: 429 });
      expect(JSON.stringify(refused.json)).toContain("mallory already has 20 requests and streams open");
      // Another user is not held back by mallory's streams.
      const other = await gw.user("bystander", { role: "view" });
      expect((await http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: { authorization: `Bearer ${await other.token()}` } })).status).toBe(200);
      for (const w of watches) w.close();
      await gw.until(() => gw.fake.liveStreams().watch === 0, 5_000);
      expect((await http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: auth() }, session)).status).toBe(200);
    } finally {
      session.close();
    }
  });
});

describe("timeouts", () => {
  it("closes TCP connections that never start TLS within the handshake timeout", async () => {
    const { port } = new URL(gw.dataUrl);
    const sockets = await Promise.all(
      Array.from({ length: 500 }, () => new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(Number(port), "127.0.0.1", () => resolve(s));
        s.on("error", reject);
      })),
    );
    const t0 = performance.now();
    const closedAt = await Promise.all(sockets.map((s) => new Promise<number>((r) => s.once("close", () => r(performance.now() - t0)))));
    const slowest = Math.max(...closedAt);
    console.log(`idle TCP: 500 sockets closed by kubegate within ${Math.round(slowest)} ms (handshake timeout 1 s)`);
    expect(slowest).toBeLessThan(3_000);
  });

  it("closes HTTP/1.1 connections that send their headers too slowly, while others are served", async () => {
    const { port } = new URL(gw.dataUrl);
    const slow = await Promise.all(
      Array.from({ length: 200 }, () => new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ port: Number(port), host: "127.0.0.1", ca: gw.caPem, servername: "localhost", ALPNProtocols: ["http/1.1"] }, () => {
          s.write(`GET ${LIST} HTTP/1.1\r\nHost: localhost\r\n`);
          resolve(s);
        });
        s.on("error", () => undefined);
        s.once("error", reject);
      })),
    );
    const drip = setInterval(() => {
      for (const s of slow) if (!s.destroyed) s.write("X-Drip: 1\r\n");
    }, 300);
    try {
      const t0 = performance.now();
      const p99 = await bystanderP99(100);
      console.log(`slowloris: 200 dripping connections; a bystander's p99 ${p99.toFixed(1)} ms`);
      expect(p99).toBeLessThan(200);
      const closedAt = await Promise.all(slow.map((s) => (s.destroyed ? 0 : new Promise<number>((r) => s.once("close", () => r(performance.now() - t0))))));
      expect(Math.max(...closedAt)).toBeLessThan(5_000);
    } finally {
      clearInterval(drip);
      for (const s of slow) s.destroy();
    }
  });

  it("closes an idle HTTP/1.1 keep-alive connection after the idle timeout, not before", async () => {
    const { port } = new URL(gw.dataUrl);
    const sock = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ port: Number(port), host: "127.0.0.1", ca: gw.caPem, servername: "localhost", ALPNProtocols: ["http/1.1"] }, () => resolve(s));
      s.once("error", reject);
    });
    let answer = "";
    sock.on("data", (d: Buffer) => (answer += d.toString()));
    sock.write(`GET ${LIST} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    const t0 = performance.now();
    await new Promise((r) => sock.once("close", r));
    const idleFor = performance.now() - t0;
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(idleFor).toBeGreaterThan(2_500);
    expect(idleFor).toBeLessThan(6_000);
  });

  it("closes an HTTP/2 session that opens no stream, and an idle one, but never a quiet watch", async () => {
    const silent = await http2Connect(gw.dataUrl, gw.caPem);
    const t0 = performance.now();
    await new Promise((r) => silent.once("close", r));
    expect(performance.now() - t0).toBeLessThan(3_500);

    const idle = await http2Connect(gw.dataUrl, gw.caPem);
    expect((await http2Request(gw.dataUrl, gw.caPem, { path: LIST, headers: auth() }, idle)).status).toBe(200);
    const t1 = performance.now();
    await new Promise((r) => idle.once("close", r));
    expect(performance.now() - t1).toBeGreaterThan(2_000);

    const watching = await http2Connect(gw.dataUrl, gw.caPem);
    const w = watching.request({ ":path": WATCH, ...auth() });
    await new Promise((r) => w.once("response", r));
    // Three idle timeouts with nothing on the watch: PINGed, answered, kept.
    await new Promise((r) => setTimeout(r, 9_500));
    expect(watching.closed || watching.destroyed).toBe(false);
    expect(w.closed).toBe(false);
    w.close();
    watching.close();
  }, 30_000);
});
