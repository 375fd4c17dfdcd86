/**
 * The gateway speaks HTTP/2 to members that offer it: many client requests share one
 * upstream connection; a member that negotiates http/1.1 is served over HTTP/1.1; and a
 * watch whose client never reads holds a bounded buffer in the gateway while another
 * client lists and watches at full speed over the same upstream session.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import tls from "node:tls";
import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterRoleBinding } from "../support/fake-apiserver/index.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { http2Connect, rawRequest } from "../support/raw-client.ts";
import { createCa, issueServerCert } from "../../src/tls/pki.ts";

const CONFIGMAPS = "/api/v1/namespaces/default/configmaps";

/** ESTABLISHED TCP connections to 127.0.0.1:port from this machine (client ends only). */
function connectionsTo(port: number): number {
  let n = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[3] === "01" && parseInt(f[2]!.split(":")[1]!, 16) === port) n++;
    }
  }
  return n;
}

/** Reads a stream's body as newline-separated watch events, calling `onEvent` with each. */
function readEvents(stream: http2.ClientHttp2Stream, onEvent: (e: { type: string; object: { metadata: { name: string } } }) => void): void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line !== "") onEvent(JSON.parse(line) as { type: string; object: { metadata: { name: string } } });
    }
  });
}

/**
 * Live bytes in this process (the gateway's): heap plus Buffers, the least of a few samples
 * after full collections, since freed Buffers are swept concurrently. (`external` also
 * counts the strings this test's clients decode from 40 MB lists, so it is left out.)
 */
async function retained(gc: () => void): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    const m = process.memoryUsage();
    least = Math.min(least, m.heapUsed + m.arrayBuffers);
  }
  return least;
}

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ fake: { objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "one", namespace: "default" }, data: { n: "1" } }] } });
});
afterAll(() => gw?.close());

describe("HTTP/2 to the member", () => {
  it("carries many client requests, HTTP/1.1 and HTTP/2, over one upstream connection", async () => {
    const user = await gw.user("multi", { role: "view" });
    const token = await user.token();
    const before = gw.fake.requests.length;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        rawRequest(i % 2 === 0 ? "HTTP/2" : "HTTP/1.1", gw.dataUrl, gw.caPem, { path: `/clusters/member${CONFIGMAPS}`, headers: { authorization: `Bearer ${token}` } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
    const seen = gw.fake.requests.slice(before);
    expect(seen).toHaveLength(40);
    expect(new Set(seen.map((r) => r.httpVersion))).toEqual(new Set(["2.0"]));
    expect(seen.every((r) => r.impersonatedUser?.name === "kubegate:multi")).toBe(true);
    expect(gw.fake.openConnections()).toBe(1);
  });

  it("serves a member that negotiates http/1.1 over HTTP/1.1, streams included", async () => {
    // A TLS relay in front of the fake that only speaks http/1.1.
    const ca = await createCa("h1-relay-ca");
    const cert = await issueServerCert(ca, ["127.0.0.1"]);
    const sockets = new Set<tls.TLSSocket>();
    const relay = tls.createServer({ key: cert.keyPem, cert: cert.certPem, ALPNProtocols: ["http/1.1"] }, (client) => {
      const upstream = tls.connect({ host: "127.0.0.1", port: gw.fake.port, ca: gw.fake.caPem, ALPNProtocols: ["http/1.1"] });
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (relay.address() as { port: number }).port;
      await gw.admin.clusters.registerCluster({
        name: "h1-member",
        mode: { case: "direct", value: { serverUrl: `https://127.0.0.1:${port}`, caPem: ca.certPem, credential: { kind: { case: "bearerToken", value: gw.fake.gatewayToken! } } } },
      });
      await gw.until(() => gw.kubegate.data!.view.clusters.has("h1-member"));
      const user = await gw.user("old", { role: "view", cluster: "h1-member" });
      const token = await user.token();
      const before = gw.fake.requests.length;
      for (const protocol of ["HTTP/2", "HTTP/1.1", "HTTP/2"] as const) {
        const res = await rawRequest(protocol, gw.dataUrl, gw.caPem, { path: `/clusters/h1-member${CONFIGMAPS}`, headers: { authorization: `Bearer ${token}` } });
        expect(res.status, res.body).toBe(200);
        expect(res.json?.["kind"]).toBe("ConfigMapList");
      }
      // A watch streams, and the client going away closes the member's stream.
      const session = await http2Connect(gw.dataUrl, gw.caPem);
      const watch = session.request({ ":path": `/clusters/h1-member${CONFIGMAPS}?watch=1`, authorization: `Bearer ${token}` });
      const events: string[] = [];
      readEvents(watch, (e) => events.push(`${e.type} ${e.object.metadata.name}`));
      await until(() => events.includes("ADDED one"), "the watch's first event", 5000);
      expect(gw.fake.liveStreams().watch).toBe(1);
      watch.close();
      await until(() => gw.fake.liveStreams().watch === 0, "the member's watch to end", 2000);
      session.close();
      const seen = gw.fake.requests.slice(before);
      expect(seen).toHaveLength(4);
      expect(new Set(seen.map((r) => r.httpVersion))).toEqual(new Set(["1.1"]));
      expect(seen.every((r) => r.headers["authorization"] === `Bearer ${gw.fake.gatewayToken}` && r.impersonatedUser?.name === "kubegate:old")).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });
});

describe("a watch whose client never reads", () => {
  // The member runs in its own process, so what it queues for the stalled watch is not
  // counted in this process, which holds the gateway.
  let child: ChildProcess | undefined;
  let member: { url: string; port: number; caPem: string; adminToken: string; gatewayToken: string };

  const admin = (method: string, path: string, body?: unknown) =>
    new Promise<void>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(`${member.url}${path}`, {
        method,
        ca: member.caPem,
        agent: false,
        headers: { authorization: `Bearer ${member.adminToken}`, connection: "close", ...(data ? { "content-type": "application/json" } : {}) },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => (res.statusCode! < 300 ? resolve() : reject(new Error(`${method} ${path}: ${res.statusCode}`))));
      });
      req.end(data);
    });

  beforeAll(async () => {
    child = spawn(process.execPath, ["test/support/fake-apiserver/main.ts"], { stdio: ["pipe", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child!.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      child!.once("exit", (code) => reject(new Error(`fake apiserver exited with ${code}`)));
    });
    const info = JSON.parse(line) as { url: string; port: number; caFile: string; adminToken: string; gatewayToken: string };
    member = { ...info, caPem: readFileSync(info.caFile, "utf8") };
    await gw.admin.clusters.registerCluster({
      name: "flood",
      mode: { case: "direct", value: { serverUrl: member.url, caPem: member.caPem, credential: { kind: { case: "bearerToken", value: member.gatewayToken } } } },
    });
    await gw.until(() => gw.kubegate.data!.view.clusters.has("flood"));
    await admin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", clusterRoleBinding("kubegate-flo", "view", [{ kind: "User", name: "kubegate:flo" }]));
  });
  afterAll(() => {
    child?.stdin?.end();
    child?.kill();
  });

  it("holds a bounded buffer in the gateway while another client lists and watches at full speed on the same upstream session", async () => {
    const COUNT = 400;
    const VALUE = "x".repeat(100_000); // 40 MB of events for each watch
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const user = await gw.user("flo", { role: "view", cluster: "flood", bindRbac: false });
    const auth = { authorization: `Bearer ${await user.token()}` };
    const path = `/clusters/flood${CONFIGMAPS}`;

    const slowSession = await http2Connect(gw.dataUrl, gw.caPem);
    const fastSession = await http2Connect(gw.dataUrl, gw.caPem);
    try {
      // The stalled watch: headers read, body never.
      const stalled = slowSession.request({ ":path": `${path}?watch=1`, ...auth });
      await new Promise((r) => stalled.once("response", r));
      const fastNames = new Set<string>();
      const fast = fastSession.request({ ":path": `${path}?watch=1`, ...auth });
      readEvents(fast, (e) => e.type === "ADDED" && fastNames.add(e.object.metadata.name));
      await new Promise((r) => fast.once("response", r));
      const before = await retained(gc);

      // Lists at full speed while the member floods both watches.
      let listing = true;
      let lists = 0;
      const lister = (async () => {
        while (listing) {
          const res = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path, headers: auth, timeoutMs: 20_000 });
          expect(res.status).toBe(200);
          lists++;
        }
      })();
      const started = performance.now();
      for (let i = 0; i < COUNT; i += 10)
        await Promise.all(
          Array.from({ length: 10 }, (_, j) =>
            admin("POST", CONFIGMAPS, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `flood-${i + j}` }, data: { v: VALUE } }),
          ),
        );
      await until(() => fastNames.size === COUNT, `the fast watch to see ${COUNT} configmaps (saw ${fastNames.size})`, 30_000);
      const watchMs = performance.now() - started;
      listing = false;
      await lister;
      // (Only the count is kept: the 40 MB list itself must not be counted as gateway memory.)
      const listed = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path, headers: auth, timeoutMs: 20_000 }).then((r) => (r.json?.["items"] as unknown[]).length);
      expect(listed).toBe(COUNT);
      const totalMs = performance.now() - started;

      // Every request to the member, stalled or not, rode one connection.
      expect(connectionsTo(member.port)).toBe(1);
      const grewMiB = ((await retained(gc)) - before) / 2 ** 20;
      console.log(
        `fast watch saw ${COUNT} × 100 KB events in ${Math.round(watchMs)} ms, ${lists} lists meanwhile, final 40 MB list by ${Math.round(totalMs)} ms; ` +
          `gateway process grew ${grewMiB.toFixed(1)} MiB while the stalled watch had 40 MB pending`,
      );
      expect(grewMiB).toBeLessThan(10);
      expect(stalled.readableLength).toBeLessThanOrEqual(64 * 1024);

      // Nothing was lost: once it reads, the stalled watch gets every event.
      const stalledNames = new Set<string>();
      readEvents(stalled, (e) => e.type === "ADDED" && stalledNames.add(e.object.metadata.name));
      await until(() => stalledNames.size === COUNT, `the stalled watch to catch up (saw ${stalledNames.size})`, 30_000);
    } finally {
      slowSession.close();
      fastSession.close();
    }
  }, 120_000);
});
