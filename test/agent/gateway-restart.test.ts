/**
 * A READY agent cluster does not stay READY in the registry when nobody holds its tunnel:
 * kill the gateway while an agent is connected, stop the agent, start the gateway again
 * on the same data directory: the cluster turns OFFLINE within a few heartbeats; a new
 * agent with its stored credential makes it READY again.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, expect, it } from "vitest";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { createKubegateClients, type KubegateClients } from "../../src/client/clients.ts";
import { createLogger } from "../../src/log.ts";
import { startAgent, type Agent } from "../../src/tunnel/agent.ts";
import { startFakeApiserver, type FakeApiserver } from "../support/fake-apiserver/index.ts";
import { startKubegate, type KubegateProcess } from "../support/kubegate-process.ts";

const running: KubegateProcess[] = [];
const agents: Agent[] = [];
let fake: FakeApiserver | undefined;
let dir: string | undefined;
afterAll(async () => {
  for (const a of agents) await a.stop();
  for (const p of running) await p.stop("SIGKILL");
  await fake?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function serve(dataDir: string) {
  const p = startKubegate(["serve", "--data-dir", dataDir, "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0", "--agent-heartbeat", "200ms", "--sync-heartbeat", "1s"]);
  running.push(p);
  const [, control] = await p.waitFor(/control plane listening on (https:\/\/\S+)/);
  const [, data] = await p.waitFor(/data plane listening on (https:\/\/\S+)/);
  return { p, control: control!, data: data! };
}

async function phaseBecomes(admin: KubegateClients, phase: ClusterPhase, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if ((await admin.clusters.getCluster({ name: "edge" })).cluster?.status?.phase === phase) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`cluster edge did not become ${ClusterPhase[phase]} within ${timeoutMs} ms`);
}

it("reports an agent cluster OFFLINE after a gateway restart finds no agent, and READY when one returns", async () => {
  dir = await mkdtemp(join(tmpdir(), "kubegate-agent-restart-"));
  fake = await startFakeApiserver({ gateway: true });
  const memberKubeconfig = await fake.kubeconfig({ token: fake.gatewayToken! });
  const quiet = createLogger({ level: "error" }, new Writable({ write: (_c, _e, cb) => cb() }));
  const first = await serve(dir);
  const [, adminKey] = await first.p.waitFor(/bootstrap admin API key[^\n]*\n\s+(kgk_\S+)/);
  const caPem = await readFile(join(dir, "ca.crt"), "utf8");
  const admin = createKubegateClients({ baseUrl: first.control, caPem, credential: adminKey! });
  const bootstrap = (await admin.clusters.registerCluster({ name: "edge", mode: { case: "agent", value: {} } })).agentBootstrapToken;
  const agentOptions = (gatewayUrl: string) => ({
    gatewayUrl,
    gatewayCaPem: caPem,
    cluster: "edge",
    stateDir: join(dir!, "agent-state"),
    bootstrapToken: async () => bootstrap,
    apiserver: { kubeconfig: memberKubeconfig },
    version: "test",
    log: quiet,
    initialBackoffMs: 50,
    maxBackoffMs: 200,
  });
  const agent = await startAgent(agentOptions(first.data));
  agents.push(agent);
  await agent.ready;
  await phaseBecomes(admin, ClusterPhase.READY, 5000);

  // The gateway dies without a word; then the agent goes too, while no gateway watches.
  await first.p.stop("SIGKILL");
  await agent.stop();

  const second = await serve(dir);
  const admin2 = createKubegateClients({ baseUrl: second.control, caPem, credential: adminKey! });
  expect((await admin2.clusters.getCluster({ name: "edge" })).cluster?.status?.phase).toBe(ClusterPhase.READY);
  const offlineMs = await phaseBecomes(admin2, ClusterPhase.OFFLINE, 5000);
  console.log(`stale READY corrected ${offlineMs} ms after the restarted gateway answered`);
  expect((await admin2.clusters.getCluster({ name: "edge" })).cluster?.status?.message).toBe("the agent is not connected to any data plane");

  const back = await startAgent(agentOptions(second.data));
  agents.push(back);
  await back.ready;
  await phaseBecomes(admin2, ClusterPhase.READY, 5000);
});
