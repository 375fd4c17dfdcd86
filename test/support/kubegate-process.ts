/**
 * Runs the built `kubegate` command as a child process, as a user would, and reads what
 * it prints. Every process is killed by its own handle.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";

export const KUBEGATE_BIN = join(import.meta.dirname, "..", "..", "bin", "kubegate.js");

export interface KubegateProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stdout. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startKubegate(args: string[], env: NodeJS.ProcessEnv = {}): KubegateProcess {
  const child = spawn(process.execPath, [KUBEGATE_BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c));
  child.stderr!.on("data", (c: Buffer) => (err += c));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async waitFor(re, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`kubegate exited ${child.exitCode} before printing ${re}:\n${out}\n${err}`);
        if (Date.now() > deadline) throw new Error(`kubegate did not print ${re} within ${timeoutMs} ms:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
