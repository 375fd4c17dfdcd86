/**
 * h2load (Debian nghttp2-client) as the load generator for HTTP/2 and HTTP/1.1: a fixed
 * number of requests, a child-process timeout, its summary parsed, and exact p50/p99 from
 * its per-request log (`--log-file`: start µs, status, duration µs per request).
 */
import { readFile, rm } from "node:fs/promises";
import { ensureCommand } from "./apt.mjs";
import { spawnChild } from "./child.mjs";
import { summarize } from "./stats.mjs";

/**
 * Runs `h2load -n requests -c clients -m streams [--h1] [-H …] url`; a header whose value
 * is an array is sent once per value (e.g. one Impersonate-Group per group). `probe()` (optional) is
 * read just before and after, e.g. a server's CPU seconds. Resolves to
 * { reqPerSec, seconds, succeeded, failed, errored, status2xx, latencyMs: summarize(), probe: {start, end} }.
 * `cpu` (a CPU number) pins h2load to that core with taskset.
 */
export async function runH2load({ url, requests, clients, streams, h1 = false, headers = {}, logFile, timeoutMs = 120_000, probe, cpu, log = () => {} }) {
  const h2load = ensureCommand("h2load", "nghttp2-client", log);
  const args = ["-n", String(requests), "-c", String(clients), "-m", String(streams), "-t", "1"];
  if (h1) args.push("--h1");
  for (const [name, value] of Object.entries(headers)) for (const v of [value].flat()) args.push("-H", `${name}: ${v}`);
  if (logFile !== undefined) args.push("--log-file", logFile);
  args.push(url);
  const start = probe?.();
  const proc = cpu === undefined ? spawnChild(h2load, args) : spawnChild(ensureCommand("taskset", "util-linux", log), ["-c", String(cpu), h2load, ...args]);
  const timer = setTimeout(() => void proc.stop("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  const end = probe?.();
  const out = proc.stdout();
  if (code !== 0) throw new Error(`h2load exited with ${code}${code === "SIGKILL" ? ` (timed out after ${timeoutMs} ms)` : ""}:\n${out}`);
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(out);
  const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (!finished || !counts || !status) throw new Error(`cannot read h2load's summary:\n${out}`);
  let latencyMs;
  if (logFile !== undefined) {
    const lines = (await readFile(logFile, "utf8")).split("\n");
    const samples = [];
    for (const line of lines) {
      const cols = line.split("\t");
      if (cols.length >= 3) samples.push(Number(cols[2]) / 1000);
    }
    latencyMs = summarize(samples);
    await rm(logFile, { force: true });
  }
  return {
    reqPerSec: Number(finished[3]),
    seconds: Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1),
    succeeded: Number(counts[4]),
    failed: Number(counts[5]),
    errored: Number(counts[6]),
    timedOut: Number(counts[7]),
    status2xx: Number(status[1]),
    latencyMs,
    probe: probe === undefined ? undefined : { start, end },
    output: out,
  };
}
