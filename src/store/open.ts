/**
 * Opens the store the deployment asked for: the embedded SQLite file by default, or a
 * shared PostgreSQL database for control-plane replicas. Migrates the schema and checks
 * the encryption key before anyone reads a secret.
 */
import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { CHANGE_CHANNEL, createChangeNotifier } from "./change-log.ts";
import { silentLogger, type StoreLogger } from "./logger.ts";
import { migrateToLatest, type StoreDialect } from "./migrations.ts";
import { startPgListener, type PgListener } from "./pg-listener.ts";
import type { Database } from "./schema.ts";
import { createSealer, SealError, type Sealer } from "./seal.ts";
import { createNodeSqliteDialect } from "./sqlite-dialect.ts";
import { createSqlStore } from "./sql-store.ts";
import type { Store } from "./types.ts";

export interface OpenStoreOptions {
  /** "postgres://…" / "postgresql://…"; omitted or empty for the embedded SQLite store. */
  database?: string;
  /** Holds kubegate.db for the embedded store. */
  dataDir: string;
  /** 32 bytes; see loadOrCreateEncryptionKey. */
  encryptionKey: Buffer;
  log?: StoreLogger;
}

/** The file name of the embedded store inside the data directory. */
export const SQLITE_FILE = "kubegate.db";

/** The store cannot be opened as configured (the message says what to change). */
export class StoreConfigError extends Error {
  override readonly name = "StoreConfigError";
}

/** Meta key of a value sealed on first open, to refuse a different key up front. */
const KEY_CHECK_META = "store.encryption_key_check";

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const sealer = createSealer(options.encryptionKey);
  const log = options.log ?? silentLogger;
  const database = options.database?.trim();

  if (!database) {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    const path = join(options.dataDir, SQLITE_FILE);
    const db = new Kysely<Database>({ dialect: createNodeSqliteDialect({ path }) });
    const store = await finishOpen(db, "sqlite", sealer, log, async () => undefined);
    log.info({ path }, "store: opened the embedded SQLite store");
    return store;
  }

  const config: pg.ClientConfig = { connectionString: parsePostgresUrl(database), types: pgTypes };
  const pool = new pg.Pool(config);
  // An idle pooled connection that dies (database restart) must not crash the process.
  pool.on("error", (err) => log.warn({ err }, "store: idle PostgreSQL connection failed"));
  // So must one that dies while checked out between two statements (inside a transaction):
  // the pool listens only on idle clients, and the statement in flight fails on its own.
  pool.on("connect", (client) => client.on("error", (err) => log.warn({ err: err.message }, "store: PostgreSQL connection lost")));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const store = await finishOpen(db, "postgres", sealer, log, (instanceId, onNotify) =>
    startPgListener({ config, channel: CHANGE_CHANNEL, instanceId, onNotify, log }),
  );
  // Host and database only: the URL may carry a password.
  const url = new URL(database);
  log.info({ host: url.host, database: url.pathname.slice(1) }, "store: opened the PostgreSQL store");
  return store;
}

async function finishOpen(
  db: Kysely<Database>,
  dialect: StoreDialect,
  sealer: Sealer,
  log: StoreLogger,
  listen: (instanceId: string, onNotify: () => void) => Promise<PgListener | undefined>,
): Promise<Store> {
  const notifier = createChangeNotifier((err) => log.error({ err }, "store: change listener threw"));
  const instanceId = randomUUID();
  let listener: PgListener | undefined;
  try {
    await migrateToLatest(db, dialect);
    await checkEncryptionKey(db, sealer);
    listener = await listen(instanceId, () => notifier.notify());
  } catch (err) {
    notifier.close();
    await db.destroy().catch(() => undefined);
    throw err;
  }
  return createSqlStore({ db, dialect, sealer, notifier, instanceId, onClose: async () => listener?.close() });
}

/**
 * Seals a marker on first open and opens it on every later one, so a wrong key fails the
 * start with a clear message instead of failing later on the first secret read.
 */
async function checkEncryptionKey(db: Kysely<Database>, sealer: Sealer): Promise<void> {
  await db
    .insertInto("meta")
    .values({ key: KEY_CHECK_META, value: sealer.seal("kubegate", KEY_CHECK_META) })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
  const row = await db.selectFrom("meta").select("value").where("key", "=", KEY_CHECK_META).executeTakeFirstOrThrow();
  try {
    sealer.open(row.value, KEY_CHECK_META);
  } catch (cause) {
    throw new SealError(
      "cannot decrypt the store's secrets: wrong encryption key? The database was first opened with a different key; " +
        "start with that key (file or environment variable) or restore its encryption.key.",
      { cause },
    );
  }
}

function parsePostgresUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
    throw new StoreConfigError("--database must be a postgres:// URL; omit it for the embedded SQLite store");
  }
  return value;
}

/**
 * Epoch milliseconds, revisions and counts are bigint columns; pg returns those as strings
 * unless told otherwise. They all fit in a double, so parse them as numbers — on this
 * pool only, not through pg's process-wide type registry.
 */
const pgTypes = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format),
} as pg.CustomTypesConfig;
