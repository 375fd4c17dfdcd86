/**
 * Runs kubegate for a benchmark, from the compiled dist/: the control plane in this
 * process (startControlPlane with a resolved config), or the built `kubegate serve`
 * command as a child process, as an operator would run it. Every server listens on
 * 127.0.0.1 port 0, keeps its state in a temp dir and is stopped by its own handle.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { spawnChild } from "./child.mjs";
import { importDist, KUBEGATE_BIN } from "./paths.mjs";
import { makeTempDir } from "./temp.mjs";

/** Flags every benchmark server gets: loopback, port 0 for both planes. */
export const LOOPBACK_FLAGS = { "control-listen": "127.0.0.1:0", "data-listen": "127.0.0.1:0" };

/**
 * Starts the control plane in this process. `flags` are `kubegate serve` flags without
 * dashes, e.g. { "mint-rate": "1000000", database: "postgres://…" }. Logs go to /dev/null
 * through pino's own destination, so log formatting still costs what it costs in
 * production. Resolves to { url, caPem, adminKey, dataDir, plane, stop() }.
 */
export async function startInProcessControlPlane(flags = {}) {
  const { resolveServeConfig } = await importDist("src/config/serve-config.js");
  const { startControlPlane, BOOTSTRAP_KEY_FILE } = await importDist("src/serve/control-plane.js");
  const { createLogger } = await importDist("src/log.js");
  const dir = await makeTempDir("kubegate-bench-cp-");
  const dataDir = join(dir.path, "data");
  const config = resolveServeConfig({ "data-dir": dataDir, ...LOOPBACK_FLAGS, ...flags }, {});
  const destination = pino.destination({ dest: "/dev/null", sync: false });
  const log = createLogger({ level: "info" }, destination);
  let plane;
  try {
    plane = await startControlPlane(config, log);
  } catch (err) {
    destination.end();
    await dir.remove();
    throw err;
  }
  const adminKey = plane.bootstrapAdminKey ?? (await readFile(join(dataDir, BOOTSTRAP_KEY_FILE), "utf8")).trim();
  let stopped;
  return {
    url: plane.url,
    caPem: plane.tls.caPem,
    adminKey,
    dataDir,
    plane,
    stop() {
      stopped ??= (async () => {
        try {
          await plane.close(1000);
        } finally {
          destination.end();
          await dir.remove();
        }
      })();
      return stopped;
    },
  };
}

/**
 * Spawns `node bin/kubegate.js <args>` with stdout piped (read with waitFor) and stderr
 * (JSON logs) written to `stderrFile`. `stop()` sends SIGTERM, waits up to `killAfterMs`,
 * then SIGKILL; it resolves once the process has exited.
 */
export function spawnKubegate(args, { env = {}, stderrFile, killAfterMs = 10_000 } = {}) {
  return spawnChild(process.execPath, [KUBEGATE_BIN, ...args], { env, stderrFile, killAfterMs });
}

/** The line `kubegate serve` prints once the control plane accepts calls. */
export const LISTENING_RE = /control plane listening on (https:\/\/\S+)/;

/**
 * Runs `kubegate serve` as a child process in a fresh temp data dir and waits until it
 * listens. Resolves to { url, caPem, adminKey, pid, dataDir, process, stop() }; `stop()`
 * ends the process and removes the temp dir. `env` is added to the child's environment
 * (e.g. NODE_OPTIONS for a CPU profile).
 */
export async function startChildControlPlane(flags = {}, { env = {} } = {}) {
  const dir = await makeTempDir("kubegate-bench-serve-");
  const dataDir = join(dir.path, "data");
  const args = ["serve"];
  for (const [flag, value] of Object.entries({ "data-dir": dataDir, ...LOOPBACK_FLAGS, ...flags })) args.push(`--${flag}`, value);
  const proc = spawnKubegate(args, { env, stderrFile: join(dir.path, "stderr.log") });
  let stopped;
  const stop = () => {
    stopped ??= (async () => {
      try {
        await proc.stop();
      } finally {
        await dir.remove();
      }
    })();
    return stopped;
  };
  try {
    const [, url] = await proc.waitFor(LISTENING_RE);
    // Printed once, on the start that created it, just before the listening line.
    const adminKey = /^\s+(kgk_\S+)$/m.exec(proc.stdout())?.[1] ?? (await readFile(join(dataDir, "bootstrap-admin.key"), "utf8")).trim();
    const caPem = await readFile(join(dataDir, "ca.crt"), "utf8");
    return { url, caPem, adminKey, pid: proc.pid, dataDir, process: proc, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
