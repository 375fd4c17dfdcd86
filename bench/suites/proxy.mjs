/**
 * Small GETs through each proxy to the same upstream, with the same load: nginx serving a
 * canned 1 KB ConfigMap over TLS (the upstream), read directly, through kubegate's data
 * plane (token checked, audit on), through `kubectl proxy`, through a Go
 * `httputil.ReverseProxy` with TLS on both sides (the fair peer: what the Go proxies we
 * compare with are built on), and through an nginx `proxy_pass`. Load from h2load; exact
 * p50/p99 from its per-request log.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createUser, registerDirect, startGateway, waitForRoute } from "../lib/gateway.mjs";
import { startGoProxy } from "../lib/go-proxy.mjs";
import { runH2load } from "../lib/h2load.mjs";
import { runOpenLoop } from "../lib/open-loop.mjs";
import { startKubectlProxy } from "../lib/kubectl-proxy.mjs";
import { startNodeFloor } from "../lib/node-floor.mjs";
import { proxyServer, startNginx, staticServer } from "../lib/nginx.mjs";
import { freePort } from "../lib/ports.mjs";
import { childPids, cpuSeconds } from "../lib/proc.mjs";
import { writeServingCert } from "../lib/tls-files.mjs";

/** `KUBEGATE_BENCH_CPU_PROF=<dir>`: only kubegate's row of one protocol (`KUBEGATE_BENCH_CPU_PROF_PROTO`, h2 or h1), under --cpu-prof. */
const PROFILE_DIR = process.env["KUBEGATE_BENCH_CPU_PROF"] || undefined;
const PROFILE_PROTO = process.env["KUBEGATE_BENCH_CPU_PROF_PROTO"] === "h1" ? "h1" : "h2";

/** #13's light-load latency: requests per second and how many are measured. */
const LATENCY = { rate: 100, count: (quick) => (quick ? 300 : 2_000) };

export const CONFIGMAP_PATH = "/api/v1/namespaces/default/configmaps/bench";

/** A ConfigMap whose JSON is exactly `bytes` long (padding in one data value). */
export function configMapJson(bytes = 1024, name = "bench") {
  const object = (pad) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: "default", uid: "3f1c6a52-0b8e-4d3e-9a51-6a1f0c1e2d3b", resourceVersion: "1", creationTimestamp: "2026-01-01T00:00:00Z" },
    data: { "config.yaml": pad },
  });
  const base = JSON.stringify(object("")).length;
  return JSON.stringify(object("x".repeat(Math.max(0, bytes - base))));
}

/** `kubectl proxy` in front of `serverUrl`, with a kubeconfig holding its CA and a token; resolves to { url, pid, stop }. */
async function startTokenKubectlProxy(dir, { serverUrl, caFile, log }) {
  const kubeconfig = join(dir, "kubeconfig.yaml");
  await writeFile(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: bench, cluster: {server: " + JSON.stringify(serverUrl) + ", certificate-authority: " + JSON.stringify(caFile) + "}}]",
      // nginx ignores the token; kubectl proxy sends it on every request as it would to a real member.
      "users: [{name: bench, user: {token: bench-any-token}}]",
      "contexts: [{name: bench, context: {cluster: bench, user: bench}}]",
      "current-context: bench",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return startKubectlProxy({ kubeconfig, stderrFile: join(dir, "kubectl-proxy.log"), log });
}

/** The profile run: kubegate's row of one protocol, more requests, no peers; the profile is written when kubegate exits. */
async function profileRun(ctx, { dir, load, upstream, gw, url, token }) {
  const common = { url, clients: load.clients, streams: PROFILE_PROTO === "h2" ? load.h2Streams : 1, h1: PROFILE_PROTO === "h1", headers: { authorization: `Bearer ${token}` }, log: ctx.log };
  ctx.log(`proxy: PROFILE RUN of kubegate ${PROFILE_PROTO} into ${PROFILE_DIR}`);
  await runH2load({ ...common, requests: load.warmup, timeoutMs: 60_000 });
  const r = await runH2load({ ...common, requests: load.requests, logFile: join(dir, "h2load.log"), timeoutMs: 300_000, probe: () => ({ proxy: cpuSeconds(gw.pid), upstream: upstream.cpuSeconds(), at: performance.now() }) });
  const proxySeconds = r.probe.end.proxy - r.probe.start.proxy;
  return {
    rows: [{ via: "kubegate (under --cpu-prof)", proto: PROFILE_PROTO === "h2" ? "HTTP/2" : "HTTP/1.1", "req/s": r.reqPerSec, p50_ms: r.latencyMs.p50, p99_ms: r.latencyMs.p99, "req/proxy_cpu_s": load.requests / proxySeconds }],
    notes: [`PROFILE RUN: the .cpuprofile is written to ${PROFILE_DIR} when kubegate exits; summarise it with \`node bench/lib/cpu-profile.mjs <file>\`. Not a number for the table.`],
  };
}

export default {
  name: "proxy",
  description: "small GETs (1 KB ConfigMap from nginx): direct, kubegate, kubectl proxy, Go ReverseProxy, nginx proxy_pass; req/s, p50/p99, CPU per request",
  async run(ctx) {
    const quick = ctx.quick;
    const load = { requests: PROFILE_DIR ? 30_000 : quick ? 3_000 : 10_000, warmup: quick ? 500 : 30_000, clients: 32, h2Streams: 10, rounds: quick ? 1 : 3 };
    const dir = await ctx.tempDir("kubegate-bench-proxy-");
    const tls = await writeServingCert(dir);
    const body = configMapJson(1024);
    await writeFile(join(dir, "configmap.json"), body);

    ctx.log("proxy: starting nginx (upstream) and nginx (proxy_pass), one worker each");
    const upstreamPort = await freePort();
    const upstream = await startNginx({
      dir: join(dir, "nginx-upstream"),
      servers: [staticServer({ port: upstreamPort, tls, files: { [CONFIGMAP_PATH]: join(dir, "configmap.json") } })],
      ports: [upstreamPort],
      log: ctx.log,
    });
    ctx.defer(upstream.stop);
    const proxyPort = await freePort();
    const nginxProxy = await startNginx({
      dir: join(dir, "nginx-proxy"),
      servers: [proxyServer({ port: proxyPort, tls, upstreamPort, upstreamCaFile: tls.caFile })],
      ports: [proxyPort],
      log: ctx.log,
    });
    ctx.defer(nginxProxy.stop);
    const upstreamUrl = `https://127.0.0.1:${upstreamPort}`;

    ctx.log("proxy: starting kubegate serve and kubectl proxy");
    const gw = await startGateway({}, PROFILE_DIR ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}` } } : {});
    ctx.defer(gw.stop);
    await registerDirect(gw, "bench", { serverUrl: upstreamUrl, caPem: tls.caPem, bearer: "bench-any-token" });
    const user = await createUser(gw, { name: "bench-user", cluster: "bench", role: "view" });
    const token = await user.token(60 * 60 * 1000);
    const kubegatePath = `/clusters/bench${CONFIGMAP_PATH}`;
    const check = await waitForRoute(gw, "bench", CONFIGMAP_PATH, token);
    if (check.body !== body) throw new Error(`kubegate returned another body than nginx's: ${check.body.slice(0, 200)}`);
    if (PROFILE_DIR) return profileRun(ctx, { dir, load, upstream, gw, url: `${gw.dataUrl}${kubegatePath}`, token });
    // The same data plane as two worker processes (--data-workers 2), one per core here.
    const gw2 = await startGateway({ "data-workers": "2" });
    ctx.defer(gw2.stop);
    await registerDirect(gw2, "bench", { serverUrl: upstreamUrl, caPem: tls.caPem, bearer: "bench-any-token" });
    const token2 = await (await createUser(gw2, { name: "bench-user", cluster: "bench", role: "view" })).token(60 * 60 * 1000);
    await waitForRoute(gw2, "bench", CONFIGMAP_PATH, token2);
    const gw2Pids = [gw2.pid, ...childPids(gw2.pid)];
    const kubectlProxy = await startTokenKubectlProxy(dir, { serverUrl: upstreamUrl, caFile: tls.caFile, log: ctx.log });
    ctx.defer(kubectlProxy.stop);
    const goProxy = await startGoProxy({ dir, tls, upstreamUrl, upstreamCaFile: tls.caFile, token: "bench-any-token", log: ctx.log });
    ctx.defer(goProxy.stop);
    const nodeFloor = await startNodeFloor({ dir, mode: "proxy", tls, upstreamUrl, upstreamCaFile: tls.caFile, token: "bench-any-token", log: ctx.log });
    ctx.defer(nodeFloor.stop);

    const proxies = {
      direct: { pid: () => upstream.cpuSeconds(), note: "nginx (upstream)" },
      kubegate: { pid: () => cpuSeconds(gw.pid), note: "kubegate serve" },
      "kubegate 2 workers": { pid: () => gw2Pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0), note: "kubegate serve --data-workers 2 (all processes)" },
      "kubectl proxy": { pid: () => cpuSeconds(kubectlProxy.pid), note: "kubectl proxy" },
      "kubegate, h2load pinned": { pid: () => cpuSeconds(gw.pid), note: "kubegate serve; h2load on CPU 1 (taskset)" },
      "kubegate 2 workers, h2load pinned": { pid: () => gw2Pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0), note: "kubegate serve --data-workers 2; h2load on CPU 1 (taskset)" },
      "go ReverseProxy": { pid: () => cpuSeconds(goProxy.pid), note: "bench/peers/go-proxy" },
      "node floor": { pid: () => cpuSeconds(nodeFloor.pid), note: "bench/peers/node-floor (proxy)" },
      "nginx proxy_pass": { pid: () => nginxProxy.cpuSeconds(), note: "nginx (proxy)" },
    };
    const targets = [
      { via: "direct", proto: "h2", url: `${upstreamUrl}${CONFIGMAP_PATH}` },
      { via: "direct", proto: "h1", url: `${upstreamUrl}${CONFIGMAP_PATH}` },
      { via: "kubegate", proto: "h2", url: `${gw.dataUrl}${kubegatePath}`, headers: { authorization: `Bearer ${token}` } },
      { via: "kubegate", proto: "h1", url: `${gw.dataUrl}${kubegatePath}`, headers: { authorization: `Bearer ${token}` } },
      { via: "kubegate 2 workers", proto: "h2", url: `${gw2.dataUrl}${kubegatePath}`, headers: { authorization: `Bearer ${token2}` } },
      { via: "kubegate 2 workers", proto: "h1", url: `${gw2.dataUrl}${kubegatePath}`, headers: { authorization: `Bearer ${token2}` } },
      // #13: two workers against one when the load generator keeps to one core (the workers and nginx may use both).
      { via: "kubegate, h2load pinned", proto: "h2", url: `${gw.dataUrl}${kubegatePath}`, headers: { authorization: `Bearer ${token}` }, cpu: 1 },
      { via: "kubegate 2 workers, h2load pinned", proto: "h2", url: `${gw2.dataUrl}${kubegatePath}`, headers: { authorization: `Bearer ${token2}` }, cpu: 1 },
      { via: "kubectl proxy", proto: "h1", url: `${kubectlProxy.url}${CONFIGMAP_PATH}` },
      { via: "go ReverseProxy", proto: "h2", url: `${goProxy.url}${CONFIGMAP_PATH}` },
      { via: "go ReverseProxy", proto: "h1", url: `${goProxy.url}${CONFIGMAP_PATH}` },
      // What Node costs with none of kubegate's work: the floor under the per-core targets.
      { via: "node floor", proto: "h2", url: `${nodeFloor.url}${CONFIGMAP_PATH}` },
      { via: "node floor", proto: "h1", url: `${nodeFloor.url}${CONFIGMAP_PATH}` },
      { via: "nginx proxy_pass", proto: "h2", url: `https://127.0.0.1:${proxyPort}${CONFIGMAP_PATH}` },
      { via: "nginx proxy_pass", proto: "h1", url: `https://127.0.0.1:${proxyPort}${CONFIGMAP_PATH}` },
    ];

    // Rounds go through every target in turn, so a burst of load from elsewhere on the
    // machine spreads over all rows; each row keeps its best round.
    const best = new Map();
    for (let round = 1; round <= load.rounds; round++) {
      for (const t of targets) {
        const key = `${t.via} ${t.proto}`;
        ctx.log(`proxy: round ${round}/${load.rounds}: ${key}`);
        const common = { url: t.url, clients: load.clients, streams: t.proto === "h2" ? load.h2Streams : 1, h1: t.proto === "h1", headers: t.headers ?? {}, cpu: t.cpu, log: ctx.log };
        await runH2load({ ...common, requests: load.warmup, timeoutMs: 60_000 });
        const cpu = proxies[t.via].pid;
        const r = await runH2load({
          ...common,
          requests: load.requests,
          logFile: join(dir, "h2load.log"),
          timeoutMs: 120_000,
          probe: () => ({ proxy: cpu(), upstream: upstream.cpuSeconds(), at: performance.now() }),
        });
        if (r.status2xx !== load.requests) throw new Error(`${key}: ${r.status2xx} of ${load.requests} requests answered 2xx (failed ${r.failed}, errored ${r.errored}):\n${r.output}`);
        const wall = (r.probe.end.at - r.probe.start.at) / 1000;
        const row = {
          via: t.via,
          proto: t.proto === "h2" ? "HTTP/2" : "HTTP/1.1",
          "req/s": r.reqPerSec,
          p50_ms: r.latencyMs.p50,
          p99_ms: r.latencyMs.p99,
          "proxy_cpu_%": t.via === "direct" ? undefined : ((r.probe.end.proxy - r.probe.start.proxy) / wall) * 100,
          "upstream_cpu_%": ((r.probe.end.upstream - r.probe.start.upstream) / wall) * 100,
        };
        row["req/proxy_cpu_s"] = row["proxy_cpu_%"] === undefined ? undefined : r.reqPerSec / (row["proxy_cpu_%"] / 100);
        if (!best.has(key) || best.get(key)["req/s"] < row["req/s"]) best.set(key, row);
      }
    }

    const rows = targets.map((t) => best.get(`${t.via} ${t.proto}`));
    const kubectlRate = best.get("kubectl proxy h1")["req/s"];
    for (const row of rows) {
      const sameProto = row.proto === "HTTP/2" ? "nginx proxy_pass h2" : "nginx proxy_pass h1";
      row["x_kubectl_proxy"] = row["req/s"] / kubectlRate;
      row["x_nginx_proxy"] = row["req/s"] / best.get(sameProto)["req/s"];
      const go = best.get(row.proto === "HTTP/2" ? "go ReverseProxy h2" : "go ReverseProxy h1");
      row["x_go_per_core"] = row["req/proxy_cpu_s"] === undefined ? undefined : row["req/proxy_cpu_s"] / go["req/proxy_cpu_s"];
    }
    const perCore = (key) => best.get(key)["req/proxy_cpu_s"];
    const goTarget = (proto, target) => {
      const ratio = perCore(`kubegate ${proto}`) / perCore(`go ReverseProxy ${proto}`);
      return `${proto === "h2" ? "HTTP/2" : "HTTP/1.1"} ${ratio.toFixed(2)}× (target ≥ ${target}: ${ratio >= target ? "met" : "NOT met"})`;
    };
    const floorVerdict = ["h2", "h1"]
      .map((proto) => {
        const floor = perCore(`node floor ${proto}`);
        return `${proto === "h2" ? "HTTP/2" : "HTTP/1.1"}: the floor ${(floor / perCore(`go ReverseProxy ${proto}`)).toFixed(2)}× Go, kubegate ${(perCore(`kubegate ${proto}`) / floor).toFixed(2)}× the floor`;
      })
      .join("; ");
    const pinnedRatio = best.get("kubegate 2 workers, h2load pinned h2")["req/s"] / best.get("kubegate, h2load pinned h2")["req/s"];

    // Latency at a light load: 100 requests a second, open loop, direct and through kubegate.
    const latency = [];
    for (const proto of ["h2", "h1"]) {
      const by = {};
      for (const [via, url, headers, caPem] of [
        ["direct", `${upstreamUrl}${CONFIGMAP_PATH}`, {}, tls.caPem],
        ["kubegate", `${gw.dataUrl}${kubegatePath}`, { authorization: `Bearer ${token}` }, gw.caPem],
      ]) {
        ctx.log(`proxy: ${LATENCY.rate} req/s open loop, ${LATENCY.count(quick)} requests: ${via} ${proto}`);
        const r = await runOpenLoop({ url, caPem, headers, proto, rate: LATENCY.rate, count: LATENCY.count(quick), warmup: LATENCY.rate });
        if (r.failed > 0) throw new Error(`${via} ${proto} at ${LATENCY.rate} req/s: ${r.failed} requests failed`);
        by[via] = r;
      }
      const added = (p) => by.kubegate.latencyMs[p] - by.direct.latencyMs[p];
      latency.push({
        proto: proto === "h2" ? "HTTP/2" : "HTTP/1.1",
        direct_p50_ms: by.direct.latencyMs.p50,
        direct_p99_ms: by.direct.latencyMs.p99,
        kubegate_p50_ms: by.kubegate.latencyMs.p50,
        kubegate_p99_ms: by.kubegate.latencyMs.p99,
        added_p50_ms: added("p50"),
        added_p99_ms: added("p99"),
        late_sends: by.direct.late + by.kubegate.late,
      });
    }
    const latencyVerdict = latency
      .map((l) => `${l.proto} +${l.added_p50_ms.toFixed(2)} ms p50 (≤ 1: ${l.added_p50_ms <= 1 ? "met" : "NOT met"}), +${l.added_p99_ms.toFixed(2)} ms p99 (≤ 5: ${l.added_p99_ms <= 5 ? "met" : "NOT met"})`)
      .join("; ");
    const kg = Math.max(...["kubegate h2", "kubegate h1", "kubegate 2 workers h2", "kubegate 2 workers h1"].map((k) => best.get(k)["req/s"]));
    const kgH1 = Math.max(best.get("kubegate h1")["req/s"], best.get("kubegate 2 workers h1")["req/s"]);
    return {
      rows,
      tables: [{ title: `added latency at ${LATENCY.rate} req/s (open loop)`, rows: latency }],
      notes: [
        `h2load -n ${load.requests} -c ${load.clients} -t 1, -m ${load.h2Streams} for HTTP/2 (${load.clients * load.h2Streams} in flight) and --h1 -m 1 for HTTP/1.1 (${load.clients} in flight); ` +
          `${load.warmup} warm-up requests before each measured run; ${load.rounds} round(s) over all rows, best kept. p50/p99 exact, from --log-file.`,
        `Upstream: nginx ${upstreamUrl}, 1 worker, TLS, a ${body.length}-byte ConfigMap (application/json). nginx proxy_pass: a second nginx, 1 worker, TLS (h2 + http/1.1) → upstream over HTTPS/1.1 keep-alive (64).`,
        "kubegate: `kubegate serve` child process, view grant, minted token, audit lines to its stderr log file, every request a stream on its pooled HTTP/2 session(s) to the upstream (which offers h2); kubectl proxy: plain HTTP on 127.0.0.1, token in its kubeconfig.",
        "x_kubectl_proxy: req/s over kubectl proxy's (HTTP/1.1, its only mode); x_nginx_proxy: over nginx proxy_pass on the same protocol; x_go_per_core: requests per proxy CPU-second over the Go peer's, same protocol.",
        "go ReverseProxy: bench/peers/go-proxy (Go 1.23 from bookworm-backports), TLS with h2 and http/1.1 in front, the bearer token set, a keep-alive TLS pool (HTTP/2 when the upstream offers it) behind; GOMAXPROCS is Go's default (every core).",
        `Target kubegate (one process) per core vs the Go peer: ${goTarget("h2", 1.0)}, ${goTarget("h1", 0.8)}.`,
        `node floor: bench/peers/node-floor, a bare node:http2 proxy (allowHTTP1, one pooled HTTP/2 session, token set, headers copied, body piped; no token check, authorization, impersonation or audit), per core: ${floorVerdict}.`,
        "proxy_cpu_%: the proxy process (all threads; nginx: master + worker) during the measured run, % of one core; upstream_cpu_%: the upstream nginx.",
        "kubegate 2 workers: the same with --data-workers 2 (two data-plane processes sharing the port; CPU is all three processes).",
        `h2load pinned: h2load under taskset -c 1, kubegate and nginx unpinned. Target --data-workers 2 ≥ 1.6× one worker's req/s: ${pinnedRatio.toFixed(2)}× (${pinnedRatio >= 1.6 ? "met" : "NOT met"}).`,
        `Latency: ${LATENCY.count(quick)} GETs at ${LATENCY.rate}/s, open loop from the bench process (one HTTP/2 session; HTTP/1.1 keep-alive, up to 8 sockets), after ${LATENCY.rate} unmeasured; added = kubegate − direct. Target p50 ≤ 1 ms, p99 ≤ 5 ms over direct: ${latencyVerdict}.`,
        `Target kubegate ≥ 1.5× kubectl proxy: HTTP/1.1 ${(kgH1 / kubectlRate).toFixed(2)}×, best protocol ${(kg / kubectlRate).toFixed(2)}× — ${kgH1 / kubectlRate >= 1.5 ? "met" : "NOT met"} on the like-for-like HTTP/1.1 row.`,
      ],
    };
  },
};
