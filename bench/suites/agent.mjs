/**
 * Agent mode against direct mode, in one run, against the same fake member: small GETs
 * (h2load), a 100 MB LIST (curl), exec stream throughput (WebSocket v5.channel.k8s.io,
 * `cat` echoing stdin) and the agent's resident memory idle and with 1,000 watches open
 * through it. `kubegate serve`, the fake apiserver and `kubegate agent` are child processes,
 * so each one's CPU and memory are its own; everything listens on 127.0.0.1.
 */
import http2 from "node:http2";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ensureCommand } from "../lib/apt.mjs";
import { clusterRoleBinding, startFakeApiserver } from "../lib/fake-apiserver.mjs";
import { createUser, registerDirect, startGateway, waitForRoute } from "../lib/gateway.mjs";
import { runH2load } from "../lib/h2load.mjs";
import { spawnKubegate } from "../lib/kubegate.mjs";
import { importDist } from "../lib/paths.mjs";
import { cpuSeconds, rssKiB } from "../lib/proc.mjs";
import { median, summarize } from "../lib/stats.mjs";
import { execCat } from "../lib/ws-exec.mjs";
import { download } from "./biglist.mjs";
import { openWatch } from "./watches.mjs";

const DIRECT = "direct-member";
const AGENT = "agent-member";
const USER = "agent-bench";
const GET_PATH = "/api/v1/namespaces/default/configmaps/bench";
const LIST_NAMESPACE = "bench-list";
const LIST_PATH = `/api/v1/namespaces/${LIST_NAMESPACE}/configmaps`;
const WATCH_NAMESPACE = "bench-watch";
const EXEC_PATH = "/api/v1/namespaces/default/pods/fake-pod/exec?command=cat&stdin=true&stdout=true";
/** agent ÷ direct, for req/s and MB/s. */
const TARGET_RATIO = 0.7;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (kib) => kib / 1024;

/** A kubeconfig for the agent: the fake's URL and CA, and its gateway identity (may impersonate). */
export function memberKubeconfig(fake) {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "member", cluster: { server: fake.url, "certificate-authority-data": Buffer.from(fake.caPem).toString("base64") } }],
    users: [{ name: "kubegate-gateway", user: { token: fake.gatewayToken } }],
    contexts: [{ name: "member", context: { cluster: "member", user: "kubegate-gateway" } }],
    "current-context": "member",
  });
}

/** Polls GetCluster until the cluster's status phase is READY; fails early if the agent exits. */
async function waitForReady(gw, name, agent, timeoutMs = 30_000) {
  const { ClusterPhase } = await importDist("gen/kubegate/v1/cluster_pb.js");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { cluster } = await gw.admin.clusters.getCluster({ name });
    if (cluster?.status?.phase === ClusterPhase.READY) return cluster;
    if (!agent.alive()) throw new Error(`kubegate agent exited before ${name} was READY:\n${agent.stderrTail()}`);
    if (Date.now() > deadline) throw new Error(`${name} not READY after ${timeoutMs} ms (phase ${ClusterPhase[cluster?.status?.phase ?? 0]}):\n${agent.stderrTail()}`);
    await sleep(100);
  }
}

/** Runs `fn` with `limit` calls in flight over `items`. */
async function inBatches(items, limit, fn) {
  for (let i = 0; i < items.length; i += limit) await Promise.all(items.slice(i, i + limit).map(fn));
}

/** "met" / "NOT met" for a ratio against the target. */
/** The columns a throughput row (LIST or exec) shares, from the samples of one path. */
function throughputRow(measure, via, s) {
  const kubegate = via !== "fake (no kubegate)";
  return {
    measure,
    via,
    value: median(s.map((x) => x.mbps)),
    x_direct: undefined,
    target: undefined,
    "gateway_cpu_%": kubegate ? median(s.map((x) => x.gatewayPct)) : undefined,
    "agent_cpu_%": via === "agent" ? median(s.map((x) => x.agentPct)) : undefined,
    "fake_cpu_%": median(s.map((x) => x.fakePct)),
    "kubegate_cpu_ms/MB": kubegate ? median(s.map((x) => x.msPerMB)) : undefined,
  };
}

const verdict = (ratio) => (ratio >= TARGET_RATIO ? "met" : "NOT met");

export default {
  name: "agent",
  description: "agent mode vs direct mode on one fake member: small-GET req/s, 100 MB LIST MB/s, exec MB/s, agent RSS idle and with 1,000 watches",
  async run(ctx) {
    const quick = ctx.quick;
    const plan = {
      getRequests: quick ? 2_000 : 10_000,
      getWarmup: quick ? 500 : 2_000,
      getRounds: quick ? 1 : 2,
      clients: 32,
      h2Streams: 10,
      listBytes: quick ? 20e6 : 100e6,
      listRuns: quick ? 1 : 3,
      execBytes: quick ? 32 * 2 ** 20 : 128 * 2 ** 20,
      execRuns: quick ? 1 : 3,
      watches: 1_000,
      watchSessions: 4,
    };
    const curl = ensureCommand("curl", "curl", ctx.log);
    const dir = await ctx.tempDir("kubegate-bench-agent-");

    ctx.log("agent: starting the fake apiserver and kubegate serve (child processes)");
    const fake = await startFakeApiserver({ stderrFile: join(dir, "fake.log") });
    ctx.defer(fake.stop);
    // One user holds all 1,000 watches: raise the per-user stream cap (default 1,000) above them.
    const gw = await startGateway({ "max-streams-per-user": "4000" });
    ctx.defer(gw.stop);
    const { Role, SubjectKind } = await importDist("gen/kubegate/v1/grant_pb.js");

    // Both clusters are the same fake: direct mode dials it, agent mode reaches it through the agent.
    await registerDirect(gw, DIRECT, { serverUrl: fake.url, caPem: fake.caPem, bearer: fake.gatewayToken });
    const registered = await gw.admin.clusters.registerCluster({ name: AGENT, mode: { case: "agent", value: {} } });
    if (!registered.agentBootstrapToken) throw new Error("RegisterCluster in agent mode returned no agentBootstrapToken");
    const files = { token: join(dir, "bootstrap.token"), ca: join(dir, "gateway-ca.crt"), kubeconfig: join(dir, "member-kubeconfig.json") };
    await writeFile(files.token, `${registered.agentBootstrapToken}\n`, { mode: 0o600 });
    await writeFile(files.ca, gw.caPem);
    await writeFile(files.kubeconfig, memberKubeconfig(fake), { mode: 0o600 });
    ctx.log("agent: starting kubegate agent (child process)");
    const agent = spawnKubegate(
      ["agent", "--gateway", gw.dataUrl, "--gateway-ca-file", files.ca, "--cluster", AGENT, "--bootstrap-token-file", files.token, "--state-dir", join(dir, "agent-state"), "--kubeconfig", files.kubeconfig],
      { stderrFile: join(dir, "agent.log") },
    );
    ctx.defer(() => agent.stop());
    const readyStarted = performance.now();
    const agentCluster = await waitForReady(gw, AGENT, agent);
    const readyMs = performance.now() - readyStarted;

    // One user with an edit grant on both clusters (exec is a create on pods/exec), bound in the fake.
    const user = await createUser(gw, { name: USER, cluster: DIRECT, role: "edit" });
    await gw.admin.grants.createGrant({ cluster: AGENT, subject: { kind: SubjectKind.USER, name: USER }, role: Role.EDIT });
    await fake.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", clusterRoleBinding(`kubegate-${USER}`, "edit", [`kubegate:${USER}`]));
    const tokens = {
      [DIRECT]: await user.token(60 * 60 * 1000),
      [AGENT]: (await user.clients.tokens.mintToken({ cluster: AGENT, ttl: durationFromMs(60 * 60 * 1000) })).token,
    };

    await fake.api("POST", "/api/v1/namespaces/default/configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "bench" }, data: { "config.yaml": "x".repeat(800) } });
    for (const cluster of [DIRECT, AGENT]) await waitForRoute(gw, cluster, GET_PATH, tokens[cluster], 15_000);
    const smallBody = await waitForRoute(gw, AGENT, GET_PATH, tokens[AGENT]);
    // Warm both paths a little, then let the agent settle before reading its idle memory.
    for (let i = 0; i < 20; i++) for (const cluster of [DIRECT, AGENT]) await waitForRoute(gw, cluster, GET_PATH, tokens[cluster]);
    await sleep(1000);
    const idle = { agent: rssKiB(agent.pid), gateway: rssKiB(gw.pid) };
    ctx.log(`agent: ${AGENT} READY in ${readyMs.toFixed(0)} ms (${agentCluster.status.message || agentCluster.status.kubernetesVersion}); agent idle RSS ${mib(idle.agent).toFixed(1)} MiB`);

    const rows = [];
    const notes = [];

    // --- 1,000 watches through the agent ---------------------------------------------------
    await fake.api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: WATCH_NAMESPACE } });
    ctx.log(`agent: opening ${plan.watches} watches on ${AGENT} over ${plan.watchSessions} HTTP/2 sessions`);
    const sessions = Array.from({ length: plan.watchSessions }, () => {
      const s = http2.connect(gw.dataUrl, { ca: gw.caPem, maxSessionMemory: 256 });
      s.on("error", () => {});
      return s;
    });
    const closeSessions = () => sessions.forEach((s) => s.destroy());
    ctx.defer(closeSessions);
    const watchPath = `/clusters/${AGENT}/api/v1/namespaces/${WATCH_NAMESPACE}/configmaps?watch=1`;
    const watches = [];
    const openStarted = performance.now();
    const openCpu0 = { agent: cpuSeconds(agent.pid), gateway: cpuSeconds(gw.pid) };
    for (let i = 0; i < plan.watches; i += 250) {
      const batch = Array.from({ length: Math.min(250, plan.watches - i) }, (_, j) => openWatch(sessions[(i + j) % sessions.length], watchPath, tokens[AGENT], 60_000));
      watches.push(...(await Promise.all(batch)));
      if (performance.now() - openStarted > 120_000) throw new Error(`only ${watches.length} of ${plan.watches} watches opened in 120 s`);
    }
    const openSeconds = (performance.now() - openStarted) / 1000;
    const openCpu = { agent: cpuSeconds(agent.pid) - openCpu0.agent, gateway: cpuSeconds(gw.pid) - openCpu0.gateway };
    await sleep(2000);
    const withWatches = { agent: rssKiB(agent.pid), gateway: rssKiB(gw.pid) };
    // One change, to see that every watch is live end to end.
    const arrivals = watches.map((w) => w.arrival('"type":"ADDED"', 20_000));
    const sentAt = performance.now();
    await fake.api("POST", `/api/v1/namespaces/${WATCH_NAMESPACE}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe" }, data: { k: "v" } });
    const delivered = (await Promise.all(arrivals)).filter((t) => t !== undefined).map((t) => t - sentAt);
    const delay = summarize(delivered);
    if (delivered.length !== plan.watches) throw new Error(`the change reached ${delivered.length} of ${plan.watches} watches through the agent`);
    closeSessions();
    const perWatch = (withWatches.agent - idle.agent) / plan.watches;
    rows.push(
      { measure: "agent VmRSS idle (MiB)", via: "agent", value: mib(idle.agent) },
      { measure: `agent VmRSS, ${plan.watches.toLocaleString("en")} watches (MiB)`, via: "agent", value: mib(withWatches.agent) },
      { measure: "agent VmRSS per watch (KiB)", via: "agent", value: perWatch },
    );
    notes.push(
      `Watches: ${plan.watches} × GET …/namespaces/${WATCH_NAMESPACE}/configmaps?watch=1 on ${AGENT}, ${plan.watchSessions} HTTP/2 client sessions to the data plane, opened 250 at a time in ${openSeconds.toFixed(1)} s ` +
        `(CPU per watch opened: agent ${((openCpu.agent / plan.watches) * 1000).toFixed(2)} ms, gateway ${((openCpu.gateway / plan.watches) * 1000).toFixed(2)} ms). ` +
        `Agent VmRSS ${mib(idle.agent).toFixed(1)} → ${mib(withWatches.agent).toFixed(1)} MiB = ${perWatch.toFixed(1)} KiB per watch; gateway ${mib(idle.gateway).toFixed(1)} → ${mib(withWatches.gateway).toFixed(1)} MiB = ${((withWatches.gateway - idle.gateway) / plan.watches).toFixed(1)} KiB per watch. ` +
        `One ConfigMap create reached all ${delivered.length} (p50 ${delay.p50.toFixed(0)} ms, p99 ${delay.p99.toFixed(0)} ms).`,
    );
    await sleep(1000);

    // --- small GETs ----------------------------------------------------------------------------
    const cpuProbe = () => ({ gateway: cpuSeconds(gw.pid), agent: cpuSeconds(agent.pid), fake: cpuSeconds(fake.pid), at: performance.now() });
    const cpuShares = (start, end) => {
      const wall = (end.at - start.at) / 1000;
      return {
        wall,
        gateway: end.gateway - start.gateway,
        agent: end.agent - start.agent,
        fake: end.fake - start.fake,
        pct: (s) => (s / wall) * 100,
      };
    };
    const getTargets = [];
    for (const proto of ["h2", "h1"]) {
      getTargets.push({ via: "fake (no kubegate)", proto, url: `${fake.url}${GET_PATH}`, headers: { authorization: `Bearer ${fake.adminToken}` } });
      for (const cluster of [DIRECT, AGENT])
        getTargets.push({ via: cluster === DIRECT ? "direct" : "agent", proto, url: `${gw.dataUrl}/clusters/${cluster}${GET_PATH}`, headers: { authorization: `Bearer ${tokens[cluster]}` } });
    }
    const bestGet = new Map();
    for (let round = 1; round <= plan.getRounds; round++) {
      for (const t of getTargets) {
        const key = `${t.via} ${t.proto}`;
        ctx.log(`agent: small GET round ${round}/${plan.getRounds}: ${key}`);
        const common = { url: t.url, clients: plan.clients, streams: t.proto === "h2" ? plan.h2Streams : 1, h1: t.proto === "h1", headers: t.headers, log: ctx.log };
        await runH2load({ ...common, requests: plan.getWarmup, timeoutMs: 60_000 });
        const r = await runH2load({ ...common, requests: plan.getRequests, logFile: join(dir, "h2load.log"), timeoutMs: 120_000, probe: cpuProbe });
        if (r.status2xx !== plan.getRequests) throw new Error(`${key}: ${r.status2xx} of ${plan.getRequests} requests answered 2xx (failed ${r.failed}, errored ${r.errored}):\n${r.output}`);
        const cpu = cpuShares(r.probe.start, r.probe.end);
        const row = {
          measure: `small GET ${t.proto === "h2" ? "HTTP/2" : "HTTP/1.1"} (req/s)`,
          via: t.via,
          value: r.reqPerSec,
          x_direct: undefined,
          target: undefined,
          p50_ms: r.latencyMs.p50,
          p99_ms: r.latencyMs.p99,
          "gateway_cpu_%": t.via === "fake (no kubegate)" ? undefined : cpu.pct(cpu.gateway),
          "agent_cpu_%": t.via === "agent" ? cpu.pct(cpu.agent) : undefined,
          "fake_cpu_%": cpu.pct(cpu.fake),
          "kubegate_cpu_µs/req": t.via === "fake (no kubegate)" ? undefined : ((cpu.gateway + (t.via === "agent" ? cpu.agent : 0)) / plan.getRequests) * 1e6,
        };
        if (!bestGet.has(key) || bestGet.get(key).value < row.value) bestGet.set(key, row);
      }
    }
    for (const proto of ["h2", "h1"]) {
      const direct = bestGet.get(`direct ${proto}`);
      const viaAgent = bestGet.get(`agent ${proto}`);
      const fakeRow = bestGet.get(`fake (no kubegate) ${proto}`);
      direct.x_direct = 1;
      viaAgent.x_direct = viaAgent.value / direct.value;
      viaAgent.target = `≥ ${TARGET_RATIO}: ${verdict(viaAgent.x_direct)}`;
      rows.push(fakeRow, direct, viaAgent);
    }
    notes.push(
      `Small GET: a ${Buffer.byteLength(smallBody.body)}-byte ConfigMap from the fake; h2load -n ${plan.getRequests} -c ${plan.clients} -t 1, -m ${plan.h2Streams} for HTTP/2, --h1 for HTTP/1.1; ${plan.getWarmup} warm-up requests before each run; ` +
        `${plan.getRounds} round(s) over all rows, best kept. "fake (no kubegate)" is h2load straight to the fake as its admin: the member's own ceiling. ` +
        `kubegate_cpu_µs/req = CPU of the gateway (+ the agent, agent rows) per request. CPU % is of one core, from /proc/<pid>/stat.`,
    );

    // --- 100 MB LIST -------------------------------------------------------------------------
    const itemBytes = 1_000_000;
    const items = Math.round(plan.listBytes / itemBytes);
    ctx.log(`agent: creating ${items} ConfigMaps of ~1 MB in ${LIST_NAMESPACE}`);
    await fake.api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: LIST_NAMESPACE } });
    const pad = "v".repeat(itemBytes - 400);
    await inBatches(Array.from({ length: items }, (_, i) => i), 8, (i) =>
      fake.api("POST", `/api/v1/namespaces/${LIST_NAMESPACE}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `big-${i}`, labels: { app: "bench" } }, data: { "value.txt": pad } }),
    );
    const fakeCaFile = join(dir, "fake-ca.crt");
    await writeFile(fakeCaFile, fake.caPem);
    const listTargets = [];
    for (const http of ["h2", "h1"]) {
      listTargets.push({ via: "fake (no kubegate)", http, url: `${fake.url}${LIST_PATH}`, caFile: fakeCaFile, headers: { authorization: `Bearer ${fake.adminToken}` } });
      for (const cluster of [DIRECT, AGENT])
        listTargets.push({ via: cluster === DIRECT ? "direct" : "agent", http, url: `${gw.dataUrl}/clusters/${cluster}${LIST_PATH}`, caFile: files.ca, headers: { authorization: `Bearer ${tokens[cluster]}` } });
    }
    ctx.log("agent: LIST warm-up pass");
    const listSize = (await download(curl, listTargets[0])).bytes;
    for (const t of listTargets.slice(1)) await download(curl, t);
    const listSamples = new Map(listTargets.map((t) => [`${t.via} ${t.http}`, []]));
    for (let run = 1; run <= plan.listRuns; run++) {
      for (const t of listTargets) {
        ctx.log(`agent: LIST run ${run}/${plan.listRuns}: ${t.via} ${t.http}`);
        const base = { gateway: rssKiB(gw.pid), agent: rssKiB(agent.pid) };
        const peak = { ...base };
        const sampler = setInterval(() => {
          try {
            peak.gateway = Math.max(peak.gateway, rssKiB(gw.pid));
            peak.agent = Math.max(peak.agent, rssKiB(agent.pid));
          } catch {
            // exited: the download fails and says so
          }
        }, 50);
        const start = cpuProbe();
        try {
          const r = await download(curl, { ...t, timeoutMs: 180_000 });
          if (r.bytes !== listSize) throw new Error(`LIST ${t.via} ${t.http}: got ${r.bytes} bytes of ${listSize}`);
          const cpu = cpuShares(start, cpuProbe());
          listSamples.get(`${t.via} ${t.http}`).push({
            mbps: r.bytes / 1e6 / r.seconds,
            gatewayPct: cpu.pct(cpu.gateway),
            agentPct: cpu.pct(cpu.agent),
            fakePct: cpu.pct(cpu.fake),
            msPerMB: ((cpu.gateway + (t.via === "agent" ? cpu.agent : 0)) * 1000) / (r.bytes / 1e6),
            growthMiB: mib(Math.max(peak.gateway - base.gateway, t.via === "agent" ? peak.agent - base.agent : 0)),
          });
        } finally {
          clearInterval(sampler);
        }
      }
    }
    for (const http of ["h2", "h1"]) {
      const row = (via) => {
        const s = listSamples.get(`${via} ${http}`);
        return {
          ...throughputRow(`${(listSize / 1e6).toFixed(0)} MB LIST ${http === "h2" ? "HTTP/2" : "HTTP/1.1"} (MB/s)`, via, s),
          rss_growth_MiB: via !== "fake (no kubegate)" ? Math.max(...s.map((x) => x.growthMiB)) : undefined,
        };
      };
      const [fakeRow, direct, viaAgent] = ["fake (no kubegate)", "direct", "agent"].map(row);
      direct.x_direct = 1;
      viaAgent.x_direct = viaAgent.value / direct.value;
      viaAgent.target = `≥ ${TARGET_RATIO}: ${verdict(viaAgent.x_direct)}`;
      rows.push(fakeRow, direct, viaAgent);
    }
    notes.push(
      `LIST: ${items} ConfigMaps of ~1 MB in ${LIST_NAMESPACE} (${listSize} bytes of JSON), curl -o /dev/null --http2 or --http1.1; one warm-up pass, then ${plan.listRuns} interleaved run(s), median. ` +
        `kubegate_cpu_ms/MB: gateway (+ agent) CPU per MB; rss_growth_MiB: peak VmRSS − before, of the gateway or (agent rows) whichever of gateway and agent grew more, sampled every 50 ms.`,
    );

    // --- exec stream -------------------------------------------------------------------------
    const execTargets = [
      { via: "fake (no kubegate)", url: fake.url, caPem: fake.caPem, path: EXEC_PATH, headers: { authorization: `Bearer ${fake.adminToken}` } },
      ...[DIRECT, AGENT].map((cluster) => ({
        via: cluster === DIRECT ? "direct" : "agent",
        url: gw.dataUrl,
        caPem: gw.caPem,
        path: `/clusters/${cluster}${EXEC_PATH}`,
        headers: { authorization: `Bearer ${tokens[cluster]}` },
      })),
    ];
    // A stream that loses its tail (the relay closes the client's side before the member's last
    // bytes and exit Status are flushed to it) is counted and reported, not hidden: its bytes
    // up to the cut still measure throughput. Anything else (a stream cut early) fails the suite.
    const lostTail = new Map(execTargets.map((t) => [t.via, []]));
    const exec = async (t, bytes, timeoutMs) => {
      try {
        return await execCat({ ...t, bytes, timeoutMs });
      } catch (err) {
        if (err.partial === undefined || err.partial.sent !== bytes || err.partial.bytes < bytes * 0.99) throw err;
        lostTail.get(t.via).push(bytes - err.partial.bytes);
        ctx.log(`agent: ${t.via}: ${err.message}`);
        return err.partial;
      }
    };
    ctx.log("agent: exec warm-up pass");
    for (const t of execTargets) await exec(t, 4 * 2 ** 20, 60_000);
    const execSamples = new Map(execTargets.map((t) => [t.via, []]));
    for (let run = 1; run <= plan.execRuns; run++) {
      for (const t of execTargets) {
        ctx.log(`agent: exec run ${run}/${plan.execRuns}: ${t.via} (${plan.execBytes / 2 ** 20} MiB through cat)`);
        const start = cpuProbe();
        const r = await exec(t, plan.execBytes, 300_000);
        const cpu = cpuShares(start, cpuProbe());
        execSamples.get(t.via).push({
          mbps: r.bytes / 1e6 / r.seconds,
          gatewayPct: cpu.pct(cpu.gateway),
          agentPct: cpu.pct(cpu.agent),
          fakePct: cpu.pct(cpu.fake),
          // Each byte crosses kubegate twice (stdin in, stdout back): per MB echoed.
          msPerMB: ((cpu.gateway + (t.via === "agent" ? cpu.agent : 0)) * 1000) / (r.bytes / 1e6),
        });
      }
    }
    const execRow = (via) => ({
      ...throughputRow(`exec cat ${plan.execBytes / 2 ** 20} MiB, WebSocket (MB/s)`, via, execSamples.get(via)),
      lost_tail_runs: lostTail.get(via).length,
    });
    const [execFake, execDirect, execAgent] = ["fake (no kubegate)", "direct", "agent"].map(execRow);
    execDirect.x_direct = 1;
    execAgent.x_direct = execAgent.value / execDirect.value;
    execAgent.target = "(none)";
    rows.push(execFake, execDirect, execAgent);
    notes.push(
      `Exec: WebSocket v5.channel.k8s.io, pods/fake-pod/exec?command=cat&stdin=true&stdout=true; the client sends ${plan.execBytes / 2 ** 20} MiB of stdin in 64 KiB messages with at most 8 MiB not yet echoed, ` +
        `and MB/s is stdout bytes echoed back (10^6 bytes) over the time from the 101 to the last byte, so every byte crossed each hop twice. One 4 MiB warm-up exec per row, then ${plan.execRuns} run(s), median. No target (reference).`,
    );
    const lost = [...lostTail].filter(([, list]) => list.length > 0);
    notes.push(
      lost.length === 0
        ? "Exec: every stream (warm-up included) echoed every byte and ended with its exit Status."
        : `Exec: streams that closed before the last bytes and the exit Status reached the client: ${lost.map(([via, list]) => `${via} ${list.length} (${list.map((b) => `${b} bytes short`).join(", ")})`).join("; ")}.`,
    );

    const afterLoad = rssKiB(agent.pid);
    notes.push(`Agent VmRSS after all of the load above: ${mib(afterLoad).toFixed(1)} MiB (idle at the start: ${mib(idle.agent).toFixed(1)} MiB). ${AGENT} became READY ${readyMs.toFixed(0)} ms after the agent was spawned.`);
    const getRatios = ["h2", "h1"].map((p) => bestGet.get(`agent ${p}`).x_direct);
    const listRatios = rows.filter((r) => r.via === "agent" && r.measure.includes("LIST")).map((r) => r.x_direct);
    notes.push(
      `Targets (agent ÷ direct ≥ ${TARGET_RATIO}): small GET HTTP/2 ${getRatios[0].toFixed(2)}× ${verdict(getRatios[0])}, HTTP/1.1 ${getRatios[1].toFixed(2)}× ${verdict(getRatios[1])}; ` +
        `LIST HTTP/2 ${listRatios[0].toFixed(2)}× ${verdict(listRatios[0])}, HTTP/1.1 ${listRatios[1].toFixed(2)}× ${verdict(listRatios[1])}. Exec agent ÷ direct ${execAgent.x_direct.toFixed(2)}× (no target).`,
    );
    return { rows, notes };
  },
};
