/**
 * Data-plane replicas probing one direct member, some of them cut off from it. The member is
 * reached through a TCP proxy; once the first data plane holds its pooled session there, the
 * proxy resets every new connection, so a data plane started after that (and only it) cannot
 * reach the member, as behind a firewall. The status stays READY while any live data plane
 * reaches the member, turns OFFLINE when the one that did leaves, READY again when the
 * partition heals, and OFFLINE when no data plane can reach it.
 */
import { Writable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ClusterPhase, type ClusterStatus } from "../../gen/kubegate/v1/cluster_pb.ts";
import { createLogger } from "../../src/log.ts";
import { startDataPlane, type DataPlane } from "../../src/serve/data-plane.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";
import { startFakeApiserver, type FakeApiserver } from "../support/fake-apiserver/index.ts";
import { startTcpBalancer, type TcpBalancer } from "../support/tcp-balancer.ts";
import { until } from "../support/watch-streams.ts";

const CLUSTER = "partitioned";
let cp: TestControlPlane;
let fake: FakeApiserver;
let proxy: TcpBalancer;
let dataPlaneKey: string;
const planes: DataPlane[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane({ "sync-heartbeat": "500ms" });
  fake = await startFakeApiserver({ gateway: true });
  proxy = await startTcpBalancer([fake.port]);
  dataPlaneKey = await cp.apiKey("data-plane", ["kubegate:data-planes"]);
});

afterAll(async () => {
  for (const p of planes) await p.close(200);
  await proxy?.close();
  await fake?.close();
  await cp?.close();
});

/** A data-plane replica of its own (a process of the mesh), and its log lines. */
async function dataPlane(): Promise<{ plane: DataPlane; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const plane = await startDataPlane({
    listen: { host: "127.0.0.1", port: 0 },
    tls: cp.plane.tls,
    controlUrl: cp.url,
    controlCaPem: cp.caPem,
    credential: dataPlaneKey,
    issuer: cp.config.issuer,
    stalenessMs: 60_000,
    impersonationPrefix: "kubegate:",
    cutStreamsOnTokenExpiry: false,
    memberProbeIntervalMs: 200,
    log: createLogger({ level: "info" }, sink),
  });
  planes.push(plane);
  await plane.ready;
  return { plane, lines };
}

const status = async () => (await cp.clients().clusters.getCluster({ name: CLUSTER })).cluster!.status!;

async function becomes(phase: ClusterPhase, message: RegExp | string, timeoutMs = 5_000): Promise<ClusterStatus> {
  const matches = (s: ClusterStatus) => s.phase === phase && (typeof message === "string" ? s.message === message : message.test(s.message));
  let last: ClusterStatus | undefined;
  try {
    await until(async () => matches((last = await status())), `${CLUSTER} to be ${ClusterPhase[phase]} (${String(message)})`, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; it is ${last === undefined ? "?" : ClusterPhase[last.phase]}: ${last?.message}`);
  }
  return last!;
}

it("keeps a cluster READY while any data plane reaches it, and OFFLINE only when none does", async () => {
  const url = `https://127.0.0.1:${proxy.port}`;
  await cp.clients().clusters.registerCluster({
    name: CLUSTER,
    mode: { case: "direct", value: { serverUrl: url, caPem: fake.caPem, credential: { kind: { case: "bearerToken", value: fake.gatewayToken! } } } },
  });
  const first = await dataPlane();
  expect((await becomes(ClusterPhase.READY, "reached from 1 of 1 data plane")).kubernetesVersion).toBe("v1.32.0-fake");

  // From now on only the first data plane, over the session it holds, gets through.
  proxy.admit(false);
  const second = await dataPlane();
  await until(() => second.lines.some((l) => l["msg"] === "direct cluster fails its health probe" && l["cluster"] === CLUSTER), "the second data plane's probe to fail", 5_000);
  const refusal = second.lines.find((l) => l["cluster"] === CLUSTER)!["message"];
  console.log(`the second data plane's probe: ${String(refusal)}`);
  expect(refusal).toMatch(new RegExp(`^(cannot reach|lost the connection to) ${url}: `));
  // The first one counts the new data plane in (the mesh's set changed).
  await becomes(ClusterPhase.READY, "reached from 1 of 2 data planes");
  // Over a dozen failed probes of the second, the status never flaps.
  const phases = new Set<ClusterPhase>();
  for (const end = Date.now() + 2_500; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) phases.add((await status()).phase);
  expect([...phases]).toEqual([ClusterPhase.READY]);
  const probedAt = (await status()).lastSeenTime;

  // The data plane that reached the member leaves the mesh: none does now.
  await first.plane.close(200);
  const offline = await becomes(ClusterPhase.OFFLINE, new RegExp(`^(no live data plane gets an answer from the API server|cannot reach ${url}: |lost the connection to ${url}: )`));
  console.log(`after the first data plane left: ${offline.message}`);
  // "Last seen" is when a data plane last got an answer, and the version it answered stays.
  expect(offline.lastSeenTime).toEqual(probedAt);
  expect(offline.kubernetesVersion).toBe("v1.32.0-fake");

  // The partition heals: a third data plane joins, and both reach the member.
  await dataPlane();
  proxy.admit(true);
  await becomes(ClusterPhase.READY, "reached from 2 of 2 data planes");

  // The member's address goes away for everyone.
  await proxy.close();
  await becomes(ClusterPhase.OFFLINE, `cannot reach ${url}: ECONNREFUSED (nothing accepts connections there)`);
}, 40_000);
