#!/usr/bin/env node
/**
 * Runs kubegate's benchmark suites: every bench/suites/*.mjs module exporting
 * { name, description, run(ctx) }. `run` returns rows (plain objects, one table row each)
 * or { rows, notes, tables } (tables: more [{ title, rows }] printed after the first). Tables go to stdout, progress to stderr, and everything to
 * bench/results/latest.json.
 *
 *   npm run bench                      all suites
 *   npm run bench -- mint startup      some, in this order
 *   npm run bench -- --list            names and descriptions
 *   npm run bench -- --quick mint      shorter windows and fewer runs (smoke test)
 */
import { execFileSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { RESULTS_DIR, ROOT } from "./lib/paths.mjs";
import { formatTable } from "./lib/table.mjs";
import { makeTempDir } from "./lib/temp.mjs";

const SUITES_DIR = join(import.meta.dirname, "suites");

async function loadSuites() {
  const files = (await readdir(SUITES_DIR)).filter((f) => f.endsWith(".mjs")).sort();
  const suites = [];
  for (const file of files) {
    const mod = await import(pathToFileURL(join(SUITES_DIR, file)).href);
    const suite = mod.default ?? mod;
    if (typeof suite.name !== "string" || typeof suite.run !== "function")
      throw new Error(`bench/suites/${file} must export { name, description, run(ctx) }`);
    suites.push({ description: "", ...suite, file });
  }
  return suites;
}

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Cleanups of the running suite, run newest first after it, or on SIGINT/SIGTERM. */
let cleanups = [];
/** Runs of runCleanups, one after another, so a signal mid-suite and the suite's own end never race. */
let cleaning = Promise.resolve();
/** Set by SIGINT/SIGTERM: the signal path, not main(), ends the process. */
let interrupted = false;

function runCleanups() {
  cleaning = cleaning.then(async () => {
    const pending = cleanups.reverse();
    cleanups = [];
    for (const fn of pending) {
      try {
        await fn();
      } catch (err) {
        log(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  });
  return cleaning;
}

function context(options) {
  return {
    root: ROOT,
    quick: options.quick,
    log,
    /** Registers a cleanup (stop a server, remove a dir); run after the suite, even on failure. */
    defer(fn) {
      cleanups.push(fn);
    },
    /** A temp directory removed after the suite. */
    async tempDir(prefix) {
      const dir = await makeTempDir(prefix);
      cleanups.push(dir.remove);
      return dir.path;
    },
  };
}

function machine() {
  const cpus = os.cpus();
  let commit = "";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "",
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    kernel: os.release(),
    node: process.version,
    commit,
  };
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { list: { type: "boolean" }, quick: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  const suites = await loadSuites();
  if (values.help) {
    process.stdout.write(`usage: npm run bench -- [--list] [--quick] [suite ...]\n`);
    return 0;
  }
  if (values.list) {
    const width = Math.max(...suites.map((s) => s.name.length));
    for (const s of suites) process.stdout.write(`${s.name.padEnd(width)}  ${s.description}\n`);
    return 0;
  }
  const unknown = positionals.filter((n) => !suites.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown suite(s): ${unknown.join(", ")}; known: ${suites.map((s) => s.name).join(", ")}\n`);
    return 2;
  }
  const selected = positionals.length === 0 ? suites : positionals.map((n) => suites.find((s) => s.name === n));

  const report = { startedAt: new Date().toISOString(), finishedAt: "", args: process.argv.slice(2), machine: machine(), suites: [] };
  const ctx = context({ quick: values.quick === true });
  let failed = 0;
  for (const suite of selected) {
    if (interrupted) break;
    log(`suite ${suite.name}: ${suite.description}`);
    const started = performance.now();
    // Other work on the machine skews every number: record how busy it was.
    const loadavg = os.loadavg().map((l) => Math.round(l * 100) / 100);
    if (loadavg[0] > 0.5) log(`the machine is busy (load average ${loadavg.join(" ")}): numbers will be lower and noisier`);
    const entry = { name: suite.name, description: suite.description, startedAt: new Date().toISOString(), loadavgBefore: loadavg, seconds: 0, rows: [], tables: [], notes: [] };
    try {
      const result = await suite.run(ctx);
      entry.rows = Array.isArray(result) ? result : (result?.rows ?? []);
      entry.notes = Array.isArray(result) ? [] : (result?.notes ?? []);
      entry.tables = Array.isArray(result) ? [] : (result?.tables ?? []);
    } catch (err) {
      failed++;
      entry.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      log(`suite ${suite.name} failed: ${entry.error}`);
    } finally {
      await runCleanups();
    }
    entry.seconds = Math.round((performance.now() - started) / 100) / 10;
    report.suites.push(entry);
    process.stdout.write(`\n== ${suite.name} — ${suite.description} (${entry.seconds} s, load average before ${loadavg[0]})\n\n`);
    process.stdout.write(entry.error ? `FAILED: ${entry.error.split("\n")[0]}\n` : formatTable(entry.rows));
    for (const t of entry.error ? [] : entry.tables) process.stdout.write(`\n${t.title}\n\n${formatTable(t.rows)}`);
    for (const note of entry.notes) process.stdout.write(`  ${note}\n`);
  }
  report.finishedAt = new Date().toISOString();
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, "latest.json");
  await writeFile(file, JSON.stringify(report, null, 2) + "\n");
  process.stdout.write(`\nresults: ${file}\n`);
  return failed === 0 ? 0 : 1;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (interrupted) process.exit(130); // a second signal: leave at once
    interrupted = true;
    log(`${signal}: stopping servers and removing temp dirs (again to quit at once)`);
    // Calls in flight fail as their servers go; that must not cut the cleanup short.
    process.on("uncaughtException", (err) => log(`while stopping: ${err.message}`));
    process.on("unhandledRejection", (err) => log(`while stopping: ${String(err)}`));
    void runCleanups().finally(() => process.exit(130));
  });
}

// Exit explicitly: a stray handle (a pooled socket, a timer) must not keep the run alive.
// Every server has been stopped by its handle by now.
main().then(
  (code) => {
    if (!interrupted) process.exit(code);
  },
  async (err) => {
    await runCleanups();
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    if (!interrupted) process.exit(1);
  },
);
