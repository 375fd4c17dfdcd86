/**
 * The agent mesh (every data-plane process serves every agent cluster): small-GET req/s
 * with 1 and 2 data-plane workers, direct and agent mode, on one fake member; then 100
 * simulated agents (the real agent code, in this process) against 3 data-plane workers:
 * how long until each holds a tunnel to all 3, how many tunnels, and the gateway's memory
 * per tunnel. `kubegate serve` and the fake apiserver are child processes; all on 127.0.0.1.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { clusterRoleBinding, startFakeApiserver } from "../lib/fake-apiserver.mjs";
import { createUser, registerDirect, startGateway, waitForRoute } from "../lib/gateway.mjs";
import { runH2load } from "../lib/h2load.mjs";
import { spawnKubegate } from "../lib/kubegate.mjs";
import { importDist } from "../lib/paths.mjs";
import { childPids, cpuSeconds, rssKiB } from "../lib/proc.mjs";
import { memberKubeconfig } from "./agent.mjs";

const DIRECT = "direct-member";
const AGENT = "agent-member";
const USER = "mesh-bench";
const GET_PATH = "/api/v1/namespaces/default/configmaps/bench";
/** Two workers ÷ one, small GETs: what the mesh is for. */
const TARGET_SCALE = 1.6;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The gateway's processes: the primary and its data-plane workers. */
const kubegatePids = (gw) => [gw.pid, ...childPids(gw.pid)];
const kubegateCpu = (gw) => kubegatePids(gw).reduce((s, pid) => s + cpuSeconds(pid), 0);
const kubegateRssKiB = (gw) => kubegatePids(gw).reduce((s, pid) => s + rssKiB(pid), 0);

/** Polls until `check()` is truthy. */
async function until(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

const meshMessage = (n) => `agent connected to ${n} of ${n} data plane${n === 1 ? "" : "s"}`;

export default {
  name: "mesh",
  description: "agent mesh: small-GET req/s with 1 and 2 data-plane workers (direct, agent), 100 simulated agents × 3 workers: time to full mesh, tunnels, memory per tunnel",
  async run(ctx) {
    const quick = ctx.quick;
    const plan = { requests: quick ? 2_000 : 20_000, warmup: quick ? 500 : 2_000, clients: 32, streams: 10, agents: quick ? 20 : 100, replicas: 3 };
    const dir = await ctx.tempDir("kubegate-bench-mesh-");
    const fake = await startFakeApiserver({ stderrFile: join(dir, "fake.log") });
    ctx.defer(fake.stop);
    await fake.api("POST", "/api/v1/namespaces/default/configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "bench" }, data: { "config.yaml": "x".repeat(800) } });
    await fake.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", clusterRoleBinding(`kubegate-${USER}`, "view", [`kubegate:${USER}`]));
    const { Role, SubjectKind } = await importDist("gen/kubegate/v1/grant_pb.js");
    const rows = [];
    const notes = [];

    // --- small GETs, 1 and 2 workers ----------------------------------------------------------
    const single = {};
    for (const workers of [1, 2]) {
      ctx.log(`mesh: kubegate serve --data-workers ${workers}, one direct and one agent cluster`);
      const gw = await startGateway({ "data-workers": String(workers) });
      ctx.defer(gw.stop);
      await registerDirect(gw, DIRECT, { serverUrl: fake.url, caPem: fake.caPem, bearer: fake.gatewayToken });
      const registered = await gw.admin.clusters.registerCluster({ name: AGENT, mode: { case: "agent", value: {} } });
      const files = { token: join(dir, `bootstrap-${workers}.token`), ca: join(dir, "gateway-ca.crt"), kubeconfig: join(dir, "member-kubeconfig.json") };
      await writeFile(files.token, `${registered.agentBootstrapToken}\n`, { mode: 0o600 });
      await writeFile(files.ca, gw.caPem);
      await writeFile(files.kubeconfig, memberKubeconfig(fake), { mode: 0o600 });
      const agent = spawnKubegate(
        ["agent", "--gateway", gw.dataUrl, "--gateway-ca-file", files.ca, "--cluster", AGENT, "--bootstrap-token-file", files.token, "--state-dir", join(dir, `agent-state-${workers}`), "--kubeconfig", files.kubeconfig],
        { stderrFile: join(dir, `agent-${workers}.log`) },
      );
      ctx.defer(() => agent.stop());
      const meshStarted = performance.now();
      await until(`the agent to hold a tunnel to all ${workers} workers`, async () => (await gw.admin.clusters.getCluster({ name: AGENT })).cluster?.status?.message === meshMessage(workers), 30_000);
      const meshMs = performance.now() - meshStarted;
      const user = await createUser(gw, { name: USER, cluster: DIRECT, role: "view" });
      await gw.admin.grants.createGrant({ cluster: AGENT, subject: { kind: SubjectKind.USER, name: USER }, role: Role.VIEW });
      const tokens = { [DIRECT]: await user.token(3_600_000), [AGENT]: (await user.clients.tokens.mintToken({ cluster: AGENT, ttl: durationFromMs(3_600_000) })).token };
      for (const cluster of [DIRECT, AGENT]) for (let i = 0; i < 20; i++) await waitForRoute(gw, cluster, GET_PATH, tokens[cluster], 15_000);
      for (const cluster of [DIRECT, AGENT]) {
        const via = cluster === DIRECT ? "direct" : "agent";
        const common = { url: `${gw.dataUrl}/clusters/${cluster}${GET_PATH}`, clients: plan.clients, streams: plan.streams, headers: { authorization: `Bearer ${tokens[cluster]}` }, log: ctx.log };
        ctx.log(`mesh: small GET HTTP/2, ${workers} worker(s), ${via}`);
        await runH2load({ ...common, requests: plan.warmup, timeoutMs: 60_000 });
        const probe = () => ({ kubegate: kubegateCpu(gw), agent: cpuSeconds(agent.pid), at: performance.now() });
        const r = await runH2load({ ...common, requests: plan.requests, logFile: join(dir, "h2load.log"), probe, timeoutMs: 180_000 });
        if (r.status2xx !== plan.requests) throw new Error(`${via}, ${workers} workers: ${r.status2xx} of ${plan.requests} answered 2xx:\n${r.output}`);
        const cpu = r.probe.end.kubegate - r.probe.start.kubegate + (via === "agent" ? r.probe.end.agent - r.probe.start.agent : 0);
        const row = {
          measure: "small GET HTTP/2 (req/s)",
          workers,
          via,
          value: r.reqPerSec,
          x_one_worker: workers === 1 ? 1 : r.reqPerSec / single[via],
          target: workers === 1 ? undefined : `≥ ${TARGET_SCALE}: ${r.reqPerSec / single[via] >= TARGET_SCALE ? "met" : "NOT met"}`,
          p50_ms: r.latencyMs.p50,
          p99_ms: r.latencyMs.p99,
          "req/cpu_s": plan.requests / cpu,
        };
        if (workers === 1) single[via] = r.reqPerSec;
        rows.push(row);
      }
      notes.push(`${workers} worker(s): the agent held a tunnel to every worker ${meshMs.toFixed(0)} ms after it started (READY with "${meshMessage(workers)}").`);
      await agent.stop();
      await gw.stop();
    }
    notes.push(
      `Small GET: h2load -n ${plan.requests} -c ${plan.clients} -m ${plan.streams} -t 1 over HTTP/2, ${plan.warmup} warm-up requests; h2load shares the machine's cores with kubegate (not pinned), ` +
        `so the 2-worker ratio is a floor. req/cpu_s counts every kubegate process (primary and workers, plus the agent on agent rows), from /proc/<pid>/stat.`,
    );

    // --- 100 simulated agents × 3 data-plane workers ---------------------------------------------
    ctx.log(`mesh: ${plan.agents} simulated agents against kubegate serve --data-workers ${plan.replicas}`);
    const gw = await startGateway({ "data-workers": String(plan.replicas) });
    ctx.defer(gw.stop);
    const { startAgent } = await importDist("src/tunnel/agent.js");
    const { createLogger } = await importDist("src/log.js");
    const quiet = createLogger({ level: "error" }, new Writable({ write: (_c, _e, cb) => cb() }));
    const kubeconfig = join(dir, "member-kubeconfig.json");
    const boots = [];
    for (let i = 0; i < plan.agents; i++) {
      const name = `sim-${String(i).padStart(3, "0")}`;
      boots.push({ name, token: (await gw.admin.clusters.registerCluster({ name, mode: { case: "agent", value: {} } })).agentBootstrapToken });
    }
    await sleep(1_000);
    const idleKiB = kubegateRssKiB(gw);
    const agents = [];
    ctx.defer(async () => {
      for (const a of agents) await a.stop();
    });
    const started = performance.now();
    for (const b of boots) {
      agents.push(
        await startAgent({
          gatewayUrl: gw.dataUrl,
          gatewayCaPem: gw.caPem,
          cluster: b.name,
          stateDir: join(dir, `sim-state-${b.name}`),
          bootstrapToken: async () => b.token,
          apiserver: { kubeconfig },
          version: "bench",
          log: quiet,
        }),
      );
    }
    const total = () => agents.reduce((n, a) => n + a.tunnels().length, 0);
    await until(`${plan.agents} agents to hold ${plan.replicas} tunnels each`, () => agents.every((a) => a.tunnels().length === plan.replicas), 120_000);
    const fullMs = performance.now() - started;
    await sleep(2_000);
    const meshKiB = kubegateRssKiB(gw);
    const perTunnel = (meshKiB - idleKiB) / total();
    const { ClusterPhase } = await importDist("gen/kubegate/v1/cluster_pb.js");
    const ready = (await gw.admin.clusters.listClusters({ pageSize: 500 })).clusters.filter((c) => c.status?.phase === ClusterPhase.READY).length;
    rows.push(
      { measure: "tunnels per agent", workers: plan.replicas, via: "agent", value: total() / agents.length },
      { measure: `agent-to-gateway tunnels, ${plan.agents} agents`, workers: plan.replicas, via: "agent", value: total() },
      { measure: "time to a full mesh (s)", workers: plan.replicas, via: "agent", value: fullMs / 1000 },
      { measure: "gateway VmRSS per tunnel (KiB)", workers: plan.replicas, via: "agent", value: perTunnel },
    );
    notes.push(
      `${plan.agents} simulated agents (kubegate's agent code, in the bench process, each its own registered cluster, enrolling on first dial) against ${plan.replicas} data-plane workers on one port: ` +
        `all held ${plan.replicas} tunnels ${(fullMs / 1000).toFixed(1)} s after the first started (starts are sequential, enrollment included); ${ready} of ${plan.agents} clusters READY. ` +
        `kubegate VmRSS (primary + workers) ${(idleKiB / 1024).toFixed(1)} → ${(meshKiB / 1024).toFixed(1)} MiB = ${perTunnel.toFixed(1)} KiB per idle tunnel.`,
    );
    return { rows, notes };
  },
};
