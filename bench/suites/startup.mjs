/**
 * Start-up time of `kubegate serve`, as a user sees it: from spawning the built command
 * until it prints "control plane listening on". First start (empty data dir: CA, keys,
 * database, migrations, bootstrap key) and second start (existing data dir).
 */
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { LISTENING_RE, LOOPBACK_FLAGS, spawnKubegate } from "../lib/kubegate.mjs";
import { rssKiB } from "../lib/proc.mjs";
import { median } from "../lib/stats.mjs";
import { spawn } from "node:child_process";

/** The server's own figure: `startupMs` of its "kubegate ready" log line (after Node has loaded the CLI). */
async function loggedStartupMs(stderrFile) {
  const text = await readFile(stderrFile, "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    if (!line.includes("kubegate ready")) continue;
    try {
      return JSON.parse(line).startupMs;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Starts `kubegate serve`, times it to the listening line, then stops it and times the exit. */
async function startOnce(ctx, dataDir, stderrFile) {
  const args = ["serve", "--data-dir", dataDir];
  for (const [flag, value] of Object.entries(LOOPBACK_FLAGS)) args.push(`--${flag}`, value);
  const started = performance.now();
  const proc = spawnKubegate(args, { stderrFile });
  ctx.defer(() => proc.stop("SIGKILL"));
  try {
    await proc.waitFor(LISTENING_RE, 30_000);
    const readyMs = performance.now() - started;
    const rss = rssKiB(proc.pid) / 1024;
    // `kubegate serve` prints its listening line before it installs its SIGTERM handler;
    // a SIGTERM in that gap kills it undrained (seen about 1 start in 6 here). Let it settle.
    await proc.waitFor(/CA certificate:/, 5_000);
    await new Promise((r) => setTimeout(r, 50));
    const stopping = performance.now();
    const exit = await proc.stop();
    if (exit !== 0) throw new Error(`kubegate serve exited with ${exit} on SIGTERM`);
    return { readyMs, stopMs: performance.now() - stopping, rssMiB: rss, serverMs: await loggedStartupMs(stderrFile) };
  } finally {
    await proc.stop("SIGKILL");
  }
}

/** Spawn-to-exit of `node -e 0`: what Node itself costs before any kubegate code runs. */
function bareNodeMs() {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", () => resolve(performance.now() - started));
  });
}

function summaryRow(start, samples) {
  const pick = (k) => samples.map((s) => s[k]).filter((v) => v !== undefined);
  const med = (k) => (pick(k).length > 0 ? median(pick(k)) : undefined);
  return {
    start,
    runs: samples.length,
    median_ms: med("readyMs"),
    min_ms: Math.min(...pick("readyMs")),
    max_ms: Math.max(...pick("readyMs")),
    in_server_ms: med("serverMs"),
    stop_ms: med("stopMs"),
    rss_MiB: med("rssMiB"),
  };
}

export default {
  name: "startup",
  description: "kubegate serve start-up time to 'control plane listening on', empty and existing data dir",
  async run(ctx) {
    const runs = ctx.quick ? 2 : 5;
    const base = await ctx.tempDir("kubegate-bench-startup-");
    const first = [];
    const second = [];
    const node = [];
    for (let i = 0; i < runs; i++) {
      ctx.log(`startup: run ${i + 1} of ${runs}`);
      node.push({ readyMs: await bareNodeMs() });
      const dataDir = join(base, `data-${i}`);
      first.push(await startOnce(ctx, dataDir, join(base, `first-${i}.log`)));
      second.push(await startOnce(ctx, dataDir, join(base, `second-${i}.log`)));
    }
    return {
      rows: [summaryRow("first (empty data dir)", first), summaryRow("second (existing data dir)", second), summaryRow("node -e 0 (baseline)", node)],
      notes: [
        "median_ms: spawn of `node bin/kubegate.js serve` until stdout says 'control plane listening on' (SQLite store).",
        "in_server_ms: the server's own startupMs (config resolved → listening), so median_ms - in_server_ms is Node boot + module loading.",
        "stop_ms: SIGTERM until the process exited; rss_MiB: VmRSS once listening.",
      ],
    };
  },
};
