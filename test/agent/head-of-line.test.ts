/**
 * Through an agent's tunnel, a watch whose client stops reading holds a bounded buffer
 * while another client lists, reads and watches at full speed: every request rides one
 * HTTP/2 session over the agent's one outbound connection, and HTTP/2's per-stream flow
 * control, not a shared byte pipe, decides who waits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import type http2 from "node:http2";
import https from "node:https";
import { join } from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterRoleBinding } from "../support/fake-apiserver/index.ts";
import { renderKubeconfig } from "../support/fake-apiserver/kubeconfig.ts";
import { MEMBER, startTestGateway, type TestGateway } from "../support/gateway.ts";
import { http2Connect, rawRequest } from "../support/raw-client.ts";

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

type WatchEvent = { type: string; object: { metadata: { name: string } } };

/** Reads a stream's body as newline-separated watch events, calling `onEvent` with each. */
function readEvents(stream: http2.ClientHttp2Stream, onEvent: (e: WatchEvent) => void): void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line !== "") onEvent(JSON.parse(line) as WatchEvent);
    }
  });
}

/**
 * Live bytes in this process (the gateway's and the agent's): heap plus Buffers, the least
 * of a few samples after full collections, since freed Buffers are swept concurrently.
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

describe("a watch whose client never reads, through the agent's tunnel", () => {
  // The member runs in its own process, so what it queues for the stalled watch is not
  // counted in this one, which holds the gateway and the in-process agent.
  let child: ChildProcess | undefined;
  let member: { url: string; port: number; caPem: string; adminToken: string; gatewayToken: string };
  let gw: TestGateway | undefined;

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
    gw = await startTestGateway({ mode: "agent", startAgent: false });
    // The agent reaches the out-of-process member as the gateway identity, allowed to impersonate.
    const kubeconfig = join(gw.dir, "flood-member-kubeconfig.json");
    await writeFile(kubeconfig, renderKubeconfig(member.url, member.caPem, { token: member.gatewayToken }), { mode: 0o600 });
    await gw.restartAgent!({ apiserver: { kubeconfig } });
    await admin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", clusterRoleBinding("kubegate-flo", "view", [{ kind: "User", name: "kubegate:flo" }]));
  });
  afterAll(async () => {
    await gw?.close();
    child?.stdin?.end();
    child?.kill();
  });

  it("keeps small requests prompt and the gateway's memory bounded while the stalled watch has 40 MB pending, all on one tunnel", async () => {
    const COUNT = 400;
    const VALUE = "x".repeat(100_000); // 40 MB of events for each watch
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const user = await gw!.user("flo", { role: "view", bindRbac: false });
    const auth = { authorization: `Bearer ${await user.token()}` };
    const path = `/clusters/${MEMBER}${CONFIGMAPS}`;
    const { dataUrl, caPem } = gw!;

    const slowSession = await http2Connect(dataUrl, caPem);
    const fastSession = await http2Connect(dataUrl, caPem);
    const watches: http2.ClientHttp2Stream[] = [];
    try {
      // The stalled watch: headers read, body never.
      const stalled = slowSession.request({ ":path": `${path}?watch=1`, ...auth });
      watches.push(stalled);
      await new Promise((r) => stalled.once("response", r));
      const fastNames = new Set<string>();
      const fast = fastSession.request({ ":path": `${path}?watch=1`, ...auth });
      watches.push(fast);
      readEvents(fast, (e) => e.type === "ADDED" && fastNames.add(e.object.metadata.name));
      await new Promise((r) => fast.once("response", r));
      const before = await retained(gc);

      // Lists at full speed, and one small object read over and over, while the member floods both watches.
      let busy = true;
      let lists = 0;
      const smallMs: number[] = [];
      const lister = (async () => {
        while (busy) {
          const res = await rawRequest("HTTP/2", dataUrl, caPem, { path, headers: auth, timeoutMs: 20_000 });
          expect(res.status).toBe(200);
          lists++;
        }
      })();
      const reader = (async () => {
        while (busy) {
          const t0 = performance.now();
          const res = await rawRequest("HTTP/2", dataUrl, caPem, { path: `/clusters/${MEMBER}/api/v1/namespaces/default`, headers: auth, timeoutMs: 10_000 });
          smallMs.push(performance.now() - t0);
          expect(res.status).toBe(200);
          await new Promise((r) => setTimeout(r, 20));
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
      busy = false;
      await Promise.all([lister, reader]);
      // (Only the count is kept: the 40 MB list itself must not be counted as gateway memory.)
      const listed = await rawRequest("HTTP/2", dataUrl, caPem, { path, headers: auth, timeoutMs: 20_000 }).then((r) => (r.json?.["items"] as unknown[]).length);
      expect(listed).toBe(COUNT);
      const totalMs = performance.now() - started;

      // Every request rode the agent's one tunnel, and the agent's one connection to the member.
      expect(gw!.kubegate.data!.tunnels.count(MEMBER)).toBe(1);
      expect(connectionsTo(member.port)).toBe(1);
      const grewMiB = ((await retained(gc)) - before) / 2 ** 20;
      const slowest = Math.max(...smallMs);
      console.log(
        `through the tunnel: fast watch saw ${COUNT} × 100 KB events in ${Math.round(watchMs)} ms, ${lists} lists and ${smallMs.length} small reads meanwhile ` +
          `(slowest ${Math.round(slowest)} ms), final 40 MB list by ${Math.round(totalMs)} ms; gateway + agent grew ${grewMiB.toFixed(1)} MiB while the stalled watch had 40 MB pending`,
      );
      expect(smallMs.length).toBeGreaterThan(5);
      // Blocked behind the stalled watch, a read would wait for it (forever); this bound only allows for a busy machine.
      expect(slowest).toBeLessThan(5_000);
      expect(grewMiB).toBeLessThan(10);
      expect(stalled.readableLength).toBeLessThanOrEqual(64 * 1024);

      // Nothing was lost: once it reads, the stalled watch gets every event.
      const stalledNames = new Set<string>();
      readEvents(stalled, (e) => e.type === "ADDED" && stalledNames.add(e.object.metadata.name));
      await until(() => stalledNames.size === COUNT, `the stalled watch to catch up (saw ${stalledNames.size})`, 30_000);
      expect(gw!.kubegate.data!.tunnels.count(MEMBER)).toBe(1);
    } finally {
      for (const w of watches) {
        w.on("error", () => undefined);
        w.close();
      }
      slowSession.close();
      fastSession.close();
    }
  }, 120_000);
});
