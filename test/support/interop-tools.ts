/**
 * Helpers for interop tests that drive programs outside Node (protoc, python3, buf):
 * an asynchronous runner (the control plane under test lives in this process, so a
 * synchronous spawn would stall it) and a gate for programs CI must have installed.
 */
import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";

export interface RunResult {
  /** Exit code; null when a signal ended the process. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion without a shell; never rejects on a non-zero exit. */
export function run(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 15_000, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== "number" && err.signal == null) {
          // Could not start the program at all (ENOENT, EACCES): that is not an exit code.
          reject(new Error(`cannot run ${file}: ${err.message}`, { cause: err }));
          return;
        }
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Describes a run for failure messages: the command's own words say what went wrong. */
export function describeRun(what: string, r: RunResult): string {
  return `${what} exited ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** One prerequisite: a name for people and a check that resolves to true when it holds. */
export interface Prerequisite {
  name: string;
  check: () => Promise<boolean>;
}

/** An executable file at an absolute path. */
export function program(path: string): Prerequisite {
  return {
    name: path,
    check: () => access(path, constants.X_OK).then(() => true, () => false),
  };
}

/** A readable file at an absolute path. */
export function file(path: string): Prerequisite {
  return {
    name: path,
    check: () => access(path, constants.R_OK).then(() => true, () => false),
  };
}

/** Python modules importable by the given interpreter. */
export function pythonModules(python: string, modules: string[]): Prerequisite {
  return {
    name: `${python} modules ${modules.join(", ")}`,
    check: () => run(python, ["-c", `import ${modules.join(", ")}`]).then((r) => r.code === 0, () => false),
  };
}

export interface Gate {
  /** True only outside CI when something is missing: the suite may skip. */
  skip: boolean;
  /** What is missing; in CI a non-empty list must fail the suite. */
  missing: string[];
}

/**
 * Checks prerequisites. Outside CI a missing one lets the suite skip, with a loud warning;
 * with CI=true nothing skips, and the caller must fail on `missing`.
 */
export async function gate(suite: string, prerequisites: Prerequisite[]): Promise<Gate> {
  const results = await Promise.all(prerequisites.map(async (p) => ((await p.check()) ? undefined : p.name)));
  const missing = results.filter((m): m is string => m !== undefined);
  if (missing.length === 0) return { skip: false, missing };
  if (process.env["CI"] === "true") return { skip: false, missing };
  console.warn(
    `\n!!!!!!!! SKIPPING ${suite}: missing ${missing.join("; ")}.\n` +
      `!!!!!!!! CI installs these and will NOT skip; install them to run this suite locally.\n`,
  );
  return { skip: true, missing };
}
