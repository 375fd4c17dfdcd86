/**
 * The change log: every mutation runs through `mutate`, which appends the events it emits
 * in the same transaction and tells subscribers after the commit. The data plane's sync
 * stream reads the log by revision, so revisions must follow commit order.
 */
import { sql, type Kysely, type Transaction } from "kysely";
import type { StoreDialect } from "./migrations.ts";
import type { Database } from "./schema.ts";
import type { ChangeEvent, ChangeKind, Store } from "./types.ts";

/** The PostgreSQL channel replicas LISTEN on; the payload is the sender's instance id. */
export const CHANGE_CHANNEL = "kubegate_changes";

/**
 * Any constant shared by all replicas; the transaction-scoped advisory lock serializes
 * change-log appends (see `appendChanges`).
 */
const CHANGE_LOG_LOCK_ID = 0x6b67_6368; // "kgch"

export type EmitChange = (kind: ChangeKind, key: string, deleted?: boolean) => void;

/** Runs `work` in a transaction; the events it emits are logged atomically with it. */
export type Mutate = <T>(work: (trx: Transaction<Database>, emit: EmitChange) => Promise<T>) => Promise<T>;

export interface ChangeLogOptions {
  db: Kysely<Database>;
  dialect: StoreDialect;
  /** Identifies this store instance in NOTIFY payloads, so it ignores its own echoes. */
  instanceId: string;
  /** Called after a transaction that logged events commits. */
  onCommitted: () => void;
  now?: () => number;
}

export function createMutate(options: ChangeLogOptions): Mutate {
  const now = options.now ?? Date.now;
  return async (work) => {
    const events: Array<{ kind: ChangeKind; key: string; deleted: boolean }> = [];
    const emit: EmitChange = (kind, key, deleted = false) => {
      events.push({ kind, key, deleted });
    };
    const result = await options.db.transaction().execute(async (trx) => {
      const value = await work(trx, emit);
      if (events.length > 0) await appendChanges(trx, options, events, now());
      return value;
    });
    if (events.length > 0) options.onCommitted();
    return result;
  };
}

/**
 * Appends events as the transaction's last step. On PostgreSQL, sequence values are handed
 * out at insert time, not commit time, so two concurrent writers could commit revisions 11
 * then 10 and a reader that already saw 11 would skip 10 for good. Holding an advisory lock
 * from the insert until commit makes revision order equal commit order; it is taken last so
 * the critical section is short and holds no row lock another writer could wait on.
 */
async function appendChanges(
  trx: Transaction<Database>,
  options: ChangeLogOptions,
  events: Array<{ kind: ChangeKind; key: string; deleted: boolean }>,
  at: number,
): Promise<void> {
  if (options.dialect === "postgres") {
    await sql`select pg_advisory_xact_lock(${sql.lit(CHANGE_LOG_LOCK_ID)})`.execute(trx);
  }
  await trx
    .insertInto("changes")
    .values(events.map((e) => ({ kind: e.kind, key: e.key, deleted: e.deleted ? 1 : 0, at })))
    .execute();
  if (options.dialect === "postgres") {
    // Delivered to listeners on commit only; dropped on rollback.
    await sql`select pg_notify(${CHANGE_CHANNEL}, ${options.instanceId})`.execute(trx);
  }
}

/** Calls listeners soon after changes, one call per burst rather than one per event. */
export interface ChangeNotifier {
  subscribe(listener: () => void): () => void;
  notify(): void;
  close(): void;
}

export function createChangeNotifier(onListenerError: (err: unknown) => void): ChangeNotifier {
  const listeners = new Set<() => void>();
  let pending: NodeJS.Immediate | undefined;

  const fire = (): void => {
    pending = undefined;
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (err) {
        onListenerError(err);
      }
    }
  };

  return {
    subscribe(listener) {
      // Wrap so the same function subscribed twice gets two independent subscriptions.
      const entry = (): void => listener();
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    notify() {
      pending ??= setImmediate(fire);
    },
    close() {
      if (pending) clearImmediate(pending);
      pending = undefined;
      listeners.clear();
    },
  };
}

/** The read side of the log plus pruning; subscription is wired in by the store. */
export function createChangesRepository(
  db: Kysely<Database>,
  notifier: ChangeNotifier,
): Store["changes"] {
  return {
    async latestRevision() {
      const row = await db.selectFrom("changes").select((eb) => eb.fn.max("revision").as("rev")).executeTakeFirst();
      return Number(row?.rev ?? 0);
    },

    async oldestRevision() {
      const row = await db.selectFrom("changes").select((eb) => eb.fn.min("revision").as("rev")).executeTakeFirst();
      return Number(row?.rev ?? 0);
    },

    async since(after, limit) {
      const rows = await db
        .selectFrom("changes")
        .selectAll()
        .where("revision", ">", after)
        .orderBy("revision")
        .limit(limit)
        .execute();
      return rows.map(
        (r): ChangeEvent => ({
          revision: Number(r.revision),
          kind: r.kind as ChangeKind,
          key: r.key,
          deleted: Number(r.deleted) === 1,
          at: new Date(Number(r.at)),
        }),
      );
    },

    subscribe: (listener) => notifier.subscribe(listener),

    async prune(before) {
      // The latest event stays, so latestRevision() never goes back after a prune.
      const result = await db
        .deleteFrom("changes")
        .where("at", "<", before.getTime())
        .where("revision", "<", (eb) => eb.selectFrom("changes").select((e) => e.fn.max("revision").as("rev")))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
