/**
 * A 100 MB LIST streamed through the data plane: throughput against reading nginx
 * directly, and how much the gateway's memory grows while it streams (it must not buffer).
 * Client: curl, discarding the body, so its CPU is its own.
 */
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { once } from "node:events";
import { join } from "node:path";
import { ensureCommand } from "../lib/apt.mjs";
import { spawnChild } from "../lib/child.mjs";
import { createUser, registerDirect, startGateway, waitForRoute } from "../lib/gateway.mjs";
import { startNginx, staticServer } from "../lib/nginx.mjs";
import { startNodeFloor } from "../lib/node-floor.mjs";
import { freePort } from "../lib/ports.mjs";
import { cpuSeconds, rssKiB } from "../lib/proc.mjs";
import { median } from "../lib/stats.mjs";
import { writeServingCert } from "../lib/tls-files.mjs";

const LIST_PATH = "/api/v1/namespaces/default/configmaps";
/** `KUBEGATE_BENCH_CPU_PROF=<dir>`: only kubegate's rows of one protocol (`KUBEGATE_BENCH_CPU_PROF_PROTO`, h2 or h1), under --cpu-prof. */
const PROFILE_DIR = process.env["KUBEGATE_BENCH_CPU_PROF"] || undefined;
const PROFILE_PROTO = process.env["KUBEGATE_BENCH_CPU_PROF_PROTO"] === "h1" ? "h1" : "h2";

/** Writes a ConfigMapList of about `bytes` bytes (items of ~1 KB); resolves to its exact size. */
export async function writeConfigMapList(file, bytes) {
  const out = createWriteStream(file);
  let size = 0;
  const write = async (text) => {
    size += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, "drain");
  };
  await write(`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"100000"},"items":[`);
  const pad = "v".repeat(800);
  for (let i = 0; size < bytes - 2; i++) {
    const item = {
      metadata: { name: `cm-${i}`, namespace: "default", uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, resourceVersion: String(i + 1), creationTimestamp: "2026-01-01T00:00:00Z", labels: { app: "bench", shard: String(i % 16) } },
      data: { "value.txt": pad },
    };
    await write((i === 0 ? "" : ",") + JSON.stringify(item));
  }
  await write("]}");
  out.end();
  await once(out, "close");
  return size;
}

/** One curl download to /dev/null; resolves to { bytes, seconds }. */
export async function download(curl, { url, http, caFile, headers = {}, timeoutMs = 120_000 }) {
  const args = ["-sS", "-o", "/dev/null", http === "h2" ? "--http2" : "--http1.1", "--cacert", caFile, "-w", "%{http_code} %{size_download} %{time_total}"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(url);
  const proc = spawnChild(curl, args);
  const timer = setTimeout(() => void proc.stop("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  const [status, bytes, seconds] = proc.stdout().trim().split(" ");
  if (code !== 0 || status !== "200") throw new Error(`curl ${url} (${http}) exited ${code}, HTTP ${status}`);
  return { bytes: Number(bytes), seconds: Number(seconds) };
}

export default {
  name: "biglist",
  description: "a 100 MB LIST streamed: MB/s through kubegate vs direct, and the gateway's peak memory growth",
  async run(ctx) {
    const runs = ctx.quick ? 1 : 3;
    const targetBytes = ctx.quick ? 20e6 : 100e6;
    const curl = ensureCommand("curl", "curl", ctx.log);
    const dir = await ctx.tempDir("kubegate-bench-biglist-");
    const tls = await writeServingCert(dir);
    ctx.log(`biglist: writing a ${targetBytes / 1e6} MB ConfigMapList`);
    const listFile = join(dir, "configmaps.json");
    const size = await writeConfigMapList(listFile, targetBytes);

    const port = await freePort();
    // A small object beside the list, to see that the route works without reading 100 MB.
    const probeFile = join(dir, "probe.json");
    await writeFile(probeFile, JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe", namespace: "default" } }));
    const servedFiles = { [LIST_PATH]: listFile, [`${LIST_PATH}/probe`]: probeFile };
    const nginx = await startNginx({ dir: join(dir, "nginx"), servers: [staticServer({ port, tls, files: servedFiles })], ports: [port], log: ctx.log });
    ctx.defer(nginx.stop);
    const gw = await startGateway({}, PROFILE_DIR ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}` } } : {});
    ctx.defer(gw.stop);
    await registerDirect(gw, "bench", { serverUrl: `https://127.0.0.1:${port}`, caPem: tls.caPem, bearer: "bench-any-token" });
    const user = await createUser(gw, { name: "lister", cluster: "bench", role: "view" });
    const token = await user.token(60 * 60 * 1000);
    await waitForRoute(gw, "bench", `${LIST_PATH}/probe`, token);
    const gwCaFile = join(gw.dataDir, "ca.crt");

    let targets = [
      { via: "direct", http: "h2", url: `https://127.0.0.1:${port}${LIST_PATH}`, caFile: tls.caFile },
      { via: "kubegate", http: "h2", url: `${gw.dataUrl}/clusters/bench${LIST_PATH}`, caFile: gwCaFile, headers: { authorization: `Bearer ${token}` }, pid: gw.pid },
      { via: "direct", http: "h1", url: `https://127.0.0.1:${port}${LIST_PATH}`, caFile: tls.caFile },
      { via: "kubegate", http: "h1", url: `${gw.dataUrl}/clusters/bench${LIST_PATH}`, caFile: gwCaFile, headers: { authorization: `Bearer ${token}` }, pid: gw.pid },
    ];
    if (PROFILE_DIR) targets = targets.filter((t) => t.http === PROFILE_PROTO);
    else {
      // What Node costs with none of kubegate's work: a bare HTTP/2 proxy, and a bare TLS
      // byte splice (the least a TLS-terminating proxy in Node can do per byte).
      const upstreamUrl = `https://127.0.0.1:${port}`;
      const floor = await startNodeFloor({ dir, mode: "proxy", tls, upstreamUrl, upstreamCaFile: tls.caFile, log: ctx.log });
      ctx.defer(floor.stop);
      const splice = await startNodeFloor({ dir, mode: "splice", tls, upstreamUrl, upstreamCaFile: tls.caFile, log: ctx.log });
      ctx.defer(splice.stop);
      targets.push(
        { via: "node floor", http: "h2", url: `${floor.url}${LIST_PATH}`, caFile: tls.caFile, pid: floor.pid },
        { via: "node floor", http: "h1", url: `${floor.url}${LIST_PATH}`, caFile: tls.caFile, pid: floor.pid },
        { via: "node TLS splice", http: "h1", url: `${splice.url}${LIST_PATH}`, caFile: tls.caFile, pid: splice.pid },
      );
    }
    // One unmeasured pass: first-use costs (JIT, pools, heap growth) are not the steady state.
    ctx.log("biglist: warm-up pass");
    for (const t of targets) await download(curl, t);

    const results = new Map(targets.map((t) => [`${t.via} ${t.http}`, []]));
    for (let run = 1; run <= runs; run++) {
      for (const t of targets) {
        ctx.log(`biglist: run ${run}/${runs}: ${t.via} ${t.http}`);
        const gateway = t.via === "kubegate";
        const baseline = rssKiB(gw.pid);
        let peak = baseline;
        const sampler = setInterval(() => {
          try {
            peak = Math.max(peak, rssKiB(gw.pid));
          } catch {
            // exited; the download fails and says so
          }
        }, 50);
        const cpu0 = t.pid === undefined ? 0 : cpuSeconds(t.pid);
        const nginxCpu0 = nginx.cpuSeconds();
        const started = performance.now();
        try {
          const r = await download(curl, t);
          if (r.bytes !== size) throw new Error(`${t.via} ${t.http}: got ${r.bytes} bytes of ${size}`);
          const wall = (performance.now() - started) / 1000;
          peak = Math.max(peak, rssKiB(gw.pid));
          results.get(`${t.via} ${t.http}`).push({
            mbps: r.bytes / 1e6 / r.seconds,
            growthMiB: gateway ? (peak - baseline) / 1024 : undefined,
            peakMiB: gateway ? peak / 1024 : undefined,
            cpuPct: t.pid === undefined ? undefined : ((cpuSeconds(t.pid) - cpu0) / wall) * 100,
            nginxCpuPct: ((nginx.cpuSeconds() - nginxCpu0) / wall) * 100,
          });
        } finally {
          clearInterval(sampler);
        }
      }
    }

    const rows = targets.map((t) => {
      const samples = results.get(`${t.via} ${t.http}`);
      const direct = median(results.get(`direct ${t.http}`).map((s) => s.mbps));
      const mbps = median(samples.map((s) => s.mbps));
      const gateway = t.via === "kubegate";
      const proxied = t.pid !== undefined;
      return {
        via: t.via,
        proto: t.http === "h2" ? "HTTP/2" : "HTTP/1.1",
        runs: samples.length,
        "MB/s (median)": mbps,
        "MB/s min–max": `${Math.round(Math.min(...samples.map((s) => s.mbps)))}–${Math.round(Math.max(...samples.map((s) => s.mbps)))}`,
        x_direct: mbps / direct,
        "proxy_cpu_%": proxied ? median(samples.map((s) => s.cpuPct)) : undefined,
        "proxy_cpu_ms/MB": proxied ? median(samples.map((s) => (s.cpuPct * 10) / s.mbps)) : undefined,
        "nginx_cpu_%": median(samples.map((s) => s.nginxCpuPct)),
        rss_growth_MiB_max: gateway ? Math.max(...samples.map((s) => s.growthMiB)) : undefined,
        rss_peak_MiB: gateway ? Math.max(...samples.map((s) => s.peakMiB)) : undefined,
      };
    });
    const kg = rows.filter((r) => r.via === "kubegate");
    if (PROFILE_DIR) return { rows, notes: [`PROFILE RUN: the .cpuprofile is written to ${PROFILE_DIR} when kubegate exits; summarise it with \`node bench/lib/cpu-profile.mjs <file>\`. Not a number for the table.`] };
    return {
      rows,
      notes: [
        `A ${(size / 1e6).toFixed(1)} MB ConfigMapList (${LIST_PATH}) from nginx (1 worker, TLS, h2); client curl -o /dev/null (--http2 or --http1.1). kubegate reads it from nginx as one stream on its HTTP/2 session (1 MiB stream window) whatever the client speaks. MB = 10^6 bytes; curl's size_download / time_total.`,
        `One warm-up pass, then ${runs} run(s) per row, interleaved; median MB/s. rss_growth: kubegate's VmRSS sampled every 50 ms during the transfer, peak − the value just before it (worst run).`,
        `Targets: ≥ 0.8× direct — ${kg.map((r) => `${r.proto} ${r.x_direct.toFixed(2)}× ${r.x_direct >= 0.8 ? "met" : "NOT met"}`).join(", ")}; ` +
          `growth ≤ 50 MB — ${kg.map((r) => `${r.proto} ${r.rss_growth_MiB_max.toFixed(1)} MiB ${r.rss_growth_MiB_max * 1.048576 <= 50 ? "met" : "NOT met"}`).join(", ")}; ` +
          `≤ 1.2 ms of kubegate CPU per MB — ${kg.map((r) => `${r.proto} ${r["proxy_cpu_ms/MB"].toFixed(2)} ms ${r["proxy_cpu_ms/MB"] <= 1.2 ? "met" : "NOT met"}`).join(", ")}.`,
        "node floor: bench/peers/node-floor, a bare node:http2 proxy (one pooled HTTP/2 session to nginx, body piped; none of kubegate's work). node TLS splice: TLS in, TLS out, bytes piped, no HTTP (HTTP/1.1 only). proxy_cpu: that process's CPU (all threads) during the transfer.",
      ],
    };
  },
};
