/**
 * Running real client programs (kubectl, python3-kubernetes) against the fake.
 * A missing program skips its tests loudly outside CI and fails them in CI.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";

/** kubectl 1.32, the version the fake mainly targets. */
export const KUBECTL = "/usr/bin/kubectl";
/** Versioned kubectls from the Cloud SDK. */
export const VERSIONED_KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin";
export const PYTHON = "/usr/bin/python3";

/** True when the program can run; throws in CI when it cannot, warns loudly otherwise. */
export function requireProgram(available: boolean, what: string): boolean {
  if (available) return true;
  if (process.env.CI === "true") throw new Error(`${what} is required in CI but is not installed`);
  console.warn(`\n${"!".repeat(72)}\n!!! SKIPPING tests that need ${what}: not installed on this machine.\n!!! In CI (CI=true) these tests fail instead of skipping.\n${"!".repeat(72)}\n`);
  return false;
}

/** Whether a file exists (for program paths). */
export const hasFile = (path: string) => existsSync(path);

/** Whether Debian's python3-kubernetes imports. */
export function hasPythonKubernetes(): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import kubernetes"], { stdio: "ignore" }).status === 0;
}

/** The outcome of a finished program. */
export interface RunResult {
  /** Exit status; -1 when killed by a signal or the timeout. */
  code: number;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

/** Environment for a client: its own HOME so discovery caches never leak between runs. */
export function clientEnv(kubeconfig: string, home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig, LANG: "C.UTF-8" };
}

/** Runs a program to completion, feeding `input` on stdin. */
export function run(bin: string, args: string[], env: NodeJS.ProcessEnv, input?: string | Buffer, timeoutMs = 20_000, cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { env, cwd, timeout: timeoutMs, encoding: "buffer", maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const errCode = (err as { code?: unknown } | null)?.code;
      if (typeof errCode === "string") return reject(err); // could not start at all
      const code = !err ? 0 : typeof errCode === "number" ? errCode : -1;
      resolve({ code, stdout: stdout.toString("utf8"), stdoutBytes: stdout, stderr: stderr.toString("utf8") });
    });
    child.stdin!.end(input);
  });
}

/** A long-running program whose stdout lines a test waits for. */
export interface Streaming {
  child: ChildProcess;
  lines: string[];
  /** Resolves once `predicate` holds for the lines seen so far. */
  waitFor(predicate: (lines: string[]) => boolean, timeoutMs?: number): Promise<string[]>;
  /** What the program wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal), once all its output has been read. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts a program and collects its stdout lines as they arrive. */
export function stream(bin: string, args: string[], env: NodeJS.ProcessEnv, opts: { stdin?: boolean } = {}): Streaming {
  const child = spawn(bin, args, { env, stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let partial = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout!.on("data", (d: Buffer) => {
    const parts = (partial + d.toString("utf8")).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  // 'close', not 'exit': a process may exit before its last stdout and stderr bytes are read.
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return {
    child,
    lines,
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(lines)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve([...lines]);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting; stdout so far:\n${lines.join("\n")}\nstderr:\n${stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * `kubectl get configmap NAME -w` (with this kubeconfig environment) shows data.v=1, then
 * the patch to v=2 as it happens. The ConfigMap must exist with v=1.
 */
export async function kubectlWatchSeesPatch(env: NodeJS.ProcessEnv, name: string): Promise<void> {
  const w = stream(KUBECTL, ["get", "configmap", name, "-w", "-o", "custom-columns=NAME:.metadata.name,V:.data.v", "--no-headers"], env);
  try {
    await w.waitFor((lines) => lines.some((l) => new RegExp(`${name}\\s+1`).test(l)));
    const patched = await run(KUBECTL, ["patch", "configmap", name, "-p", '{"data":{"v":"2"}}'], env);
    if (patched.code !== 0) throw new Error(`kubectl patch failed: ${patched.stderr}`);
    await w.waitFor((lines) => lines.some((l) => new RegExp(`${name}\\s+2`).test(l)));
  } finally {
    await w.stop();
  }
}
