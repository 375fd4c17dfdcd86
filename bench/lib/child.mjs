/**
 * A child process a suite owns (nginx, kubectl proxy, the fake apiserver, h2load):
 * stdout kept in memory for waitFor, stderr to a file, and stop() that signals this one
 * process by its pid, escalates to SIGKILL after a grace period and resolves on exit.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

export function spawnChild(command, args, { env = {}, stderrFile, stdin = "ignore", killAfterMs = 5_000, cwd } = {}) {
  const stderrFd = stderrFile === undefined ? "ignore" : openSync(stderrFile, "a");
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: [stdin, "pipe", stderrFd], cwd });
  if (typeof stderrFd === "number") closeSync(stderrFd);
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => (out += chunk));
  let spawnError;
  child.once("error", (err) => (spawnError = err));
  const exited = new Promise((resolve) => child.once("close", (code, signal) => resolve(code ?? signal)));
  const alive = () => child.exitCode === null && child.signalCode === null && spawnError === undefined;
  const stderrTail = () => {
    try {
      return stderrFile === undefined ? "" : readFileSync(stderrFile, "utf8").split("\n").slice(-20).join("\n");
    } catch {
      return "";
    }
  };
  let stopping;
  return {
    child,
    pid: child.pid,
    alive,
    exited,
    stdout: () => out,
    stderrTail,
    /** Resolves with the first match of `re` in stdout; rejects on exit or timeout. */
    async waitFor(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (spawnError) throw spawnError;
        if (!alive()) throw new Error(`${command} ${args.join(" ")} exited (${child.exitCode ?? child.signalCode}) before printing ${re}:\n${out}\n${stderrTail()}`);
        if (Date.now() > deadline) throw new Error(`${command} did not print ${re} within ${timeoutMs} ms:\n${out}\n${stderrTail()}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    stop(signal = "SIGTERM") {
      stopping ??= (async () => {
        if (!alive()) return child.exitCode ?? child.signalCode ?? spawnError?.message;
        child.kill(signal);
        const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

/**
 * Waits for `proc` to print `re` (as its waitFor does); when it does not, stops it and
 * rethrows, so a peer that failed to start is not left running. Resolves to the match.
 */
export async function waitOrStop(proc, re, timeoutMs) {
  try {
    return await proc.waitFor(re, timeoutMs);
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
