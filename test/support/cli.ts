/**
 * Runs the built `kubegate` command as a person would, with its own HOME, config and
 * cache directories, and KUBECONFIG pointing into a temp dir.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KUBEGATE_BIN } from "./kubegate-process.ts";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliUser {
  home: string;
  /** Environment for the CLI and for kubectl run as this user. */
  env: NodeJS.ProcessEnv;
  kubeconfig: string;
  run(args: string[], input?: string, extraEnv?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** Starts a long-running command (e.g. proxy); the caller stops it. */
  spawn(args: string[]): ChildProcess;
  /** `kubegate login` with the API key on stdin. */
  login(server: string, caFile: string, apiKey: string): Promise<CliResult>;
  cleanup(): Promise<void>;
}

export async function cliUser(): Promise<CliUser> {
  const home = await mkdtemp(join(tmpdir(), "kubegate-cli-"));
  const kubeconfig = join(home, ".kube", "config");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    HOME: home,
    LANG: "C.UTF-8",
    KUBECONFIG: kubeconfig,
    KUBEGATE_CONFIG_DIR: join(home, ".config", "kubegate"),
    KUBEGATE_CACHE_DIR: join(home, ".cache", "kubegate"),
  };
  const run = (args: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}) =>
    new Promise<CliResult>((resolve, reject) => {
      const child = execFile(process.execPath, [KUBEGATE_BIN, ...args], { env: { ...env, ...extraEnv }, timeout: 30_000 }, (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        if (typeof code === "string") return reject(err);
        resolve({ code: err ? (typeof code === "number" ? code : -1) : 0, stdout, stderr });
      });
      child.stdin!.end(input);
    });
  return {
    home,
    env,
    kubeconfig,
    run,
    spawn: (args) => spawn(process.execPath, [KUBEGATE_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] }),
    login: (server, caFile, apiKey) => run(["login", "--server", server, "--ca-file", caFile], `${apiKey}\n`),
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
}
