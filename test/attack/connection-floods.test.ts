/**
 * Connection floods against a real `kubegate serve` child process (its memory is its own):
 * thousands of sockets that never start TLS, and thousands that start it a byte at a time.
 * kubegate closes them within its handshake timeout, its memory comes back, and a
 * well-behaved client is served meanwhile.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createKubegateClients } from "../../src/client/clients.ts";
import { clusterRoleBinding, startFakeApiserver, type FakeApiserver } from "../support/fake-apiserver/index.ts";
import { startKubegate, type KubegateProcess } from "../support/kubegate-process.ts";
import { http2Connect, http2Request } from "../support/raw-client.ts";

// Long enough that all 10,000 slow TLS starts of the second test are open at once.
const HANDSHAKE_TIMEOUT_MS = 20_000;
const LIST = "/clusters/member/api/v1/namespaces/default/configmaps";

let fake: FakeApiserver;
let kg: KubegateProcess;
let dir: string;
let dataUrl: string;
let caPem: string;
let token: string;

beforeAll(async () => {
  fake = await startFakeApiserver({ gateway: true });
  dir = await mkdtemp(join(tmpdir(), "kubegate-floods-"));
  kg = startKubegate(["serve", "--data-dir", dir, "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0", "--sync-heartbeat", "1s", "--data-handshake-timeout", `${HANDSHAKE_TIMEOUT_MS}ms`]);
  [, dataUrl] = (await kg.waitFor(/data plane listening on (\S+)/)) as unknown as [string, string];
  const [, controlUrl] = await kg.waitFor(/control plane listening on (\S+)/);
  const [, adminKey] = await kg.waitFor(/\n\s+(kgk_\S+)\n/);
  caPem = await readFile(join(dir, "ca.crt"), "utf8");
  const admin = createKubegateClients({ baseUrl: controlUrl!, caPem, credential: adminKey! });
  await admin.clusters.registerCluster({
    name: "member",
    mode: { case: "direct", value: { serverUrl: fake.url, caPem: fake.caPem, credential: { kind: { case: "bearerToken", value: fake.gatewayToken! } } } },
  });
  await admin.grants.createGrant({ cluster: "member", subject: { kind: SubjectKind.USER, name: "bystander" }, role: Role.VIEW });
  fake.seed(clusterRoleBinding("bystander", "view", [{ kind: "User", name: "kubegate:bystander" }]));
  const key = (await admin.identity.createApiKey({ name: "bystander", subject: "bystander" })).secret;
  token = (await createKubegateClients({ baseUrl: controlUrl!, caPem, credential: key }).tokens.mintToken({ cluster: "member" })).token;
  const deadline = Date.now() + 10_000;
  while ((await get().catch(() => 0)) !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}, 60_000);

afterAll(async () => {
  await kg?.stop("SIGKILL");
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const get = async () => (await http2Request(dataUrl, caPem, { path: LIST, headers: { authorization: `Bearer ${token}` } })).status;

async function rssMiB(): Promise<number> {
  const status = await readFile(`/proc/${kg.child.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Opens `n` TCP connections to the data port, 500 at a time; `onOpen` may start writing. */
async function openSockets(n: number, onOpen: (s: net.Socket) => void = () => undefined): Promise<net.Socket[]> {
  const { port } = new URL(dataUrl);
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i += 500) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(500, n - i) }, () => new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(Number(port), "127.0.0.1", () => {
          onOpen(s);
          resolve(s);
        });
        s.on("error", () => undefined);
        s.once("error", reject);
      })),
    );
    out.push(...batch);
  }
  return out;
}

/** When each socket was closed by the server, in ms after `t0`. */
const closings = (sockets: net.Socket[], t0: number) =>
  Promise.all(sockets.map((s) => (s.destroyed ? Promise.resolve(0) : new Promise<number>((r) => s.once("close", () => r(performance.now() - t0))))));

it("closes 5,000 sockets that send nothing within the handshake timeout, and gives their memory back", async () => {
  for (let i = 0; i < 50; i++) expect(await get()).toBe(200);
  await new Promise((r) => setTimeout(r, 1_000));
  const baseline = await rssMiB();
  const t0 = performance.now();
  const sockets = await openSockets(5_000);
  const opened = performance.now() - t0;
  const peak = await rssMiB();
  const closedAt = await closings(sockets, t0);
  const slowest = Math.max(...closedAt);
  await new Promise((r) => setTimeout(r, 3_000));
  const after = await rssMiB();
  console.log(
    `5,000 silent sockets: opened in ${Math.round(opened)} ms, all closed by kubegate ${Math.round(slowest)} ms after the first (timeout ${HANDSHAKE_TIMEOUT_MS} ms); ` +
      `RSS ${baseline.toFixed(1)} → ${peak.toFixed(1)} → ${after.toFixed(1)} MiB 3 s later`,
  );
  expect(slowest).toBeLessThan(opened + HANDSHAKE_TIMEOUT_MS + 1_500);
  expect(after - baseline).toBeLessThan(20);
  expect(await get()).toBe(200);
}, 60_000);

it("with 10,000 connections starting TLS a byte at a time, a bystander's p99 stays under 200 ms", async () => {
  // The first bytes of a TLS ClientHello, fed one per second: a handshake that never ends.
  const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  const fed = new Map<net.Socket, number>();
  const sockets = await openSockets(10_000, (s) => {
    fed.set(s, 1);
    s.write(hello.subarray(0, 1));
  });
  const openAtOnce = sockets.filter((s) => !s.destroyed).length;
  const drip = setInterval(() => {
    for (const s of sockets) {
      const at = fed.get(s)!;
      if (!s.destroyed && at < hello.length) {
        s.write(hello.subarray(at, at + 1));
        fed.set(s, at + 1);
      }
    }
  }, 1_000);
  try {
    const session = await http2Connect(dataUrl, caPem);
    const times: number[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        const t = performance.now();
        const res = await http2Request(dataUrl, caPem, { path: LIST, headers: { authorization: `Bearer ${token}` } }, session);
        expect(res.status).toBe(200);
        times.push(performance.now() - t);
      }
    } finally {
      session.close();
    }
    times.sort((a, b) => a - b);
    const p99 = times[Math.ceil(times.length * 0.99) - 1]!;
    const open = sockets.filter((s) => !s.destroyed).length;
    console.log(`10,000 byte-a-second TLS starts (${openAtOnce} open when the last was opened, ${open} after measuring): bystander p50 ${times[99]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms over 200 GETs`);
    expect(p99).toBeLessThan(200);
    expect(openAtOnce).toBeGreaterThan(9_000);
    const closedAt = await closings(sockets, performance.now());
    expect(Math.max(...closedAt)).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 1_500);
  } finally {
    clearInterval(drip);
    for (const s of sockets) s.destroy();
  }
}, 90_000);
