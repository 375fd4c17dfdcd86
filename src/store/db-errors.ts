/**
 * Maps the two drivers' constraint errors to the store's typed errors, so services handle
 * "already exists" the same way on SQLite and PostgreSQL.
 */
import { StoreConflictError, StoreReferenceError } from "./types.ts";

/** node:sqlite extended result codes (https://sqlite.org/rescode.html). */
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
/** PostgreSQL SQLSTATEs. */
const PG_UNIQUE_VIOLATION = "23505";
const PG_FOREIGN_KEY_VIOLATION = "23503";

/** Returns the typed error for a constraint violation, or `err` itself. */
export function translateDbError(err: unknown, what: string): unknown {
  if (typeof err !== "object" || err === null) return err;
  const { code, errcode } = err as { code?: unknown; errcode?: unknown };
  if (code === PG_UNIQUE_VIOLATION || errcode === SQLITE_CONSTRAINT_PRIMARYKEY || errcode === SQLITE_CONSTRAINT_UNIQUE) {
    return new StoreConflictError(`${what} already exists`, { cause: err });
  }
  if (code === PG_FOREIGN_KEY_VIOLATION || errcode === SQLITE_CONSTRAINT_FOREIGNKEY) {
    return new StoreReferenceError(`${what} refers to a record that does not exist`, { cause: err });
  }
  return err;
}

/** Runs `op`, rethrowing constraint violations as typed store errors. */
export async function withDbErrors<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw translateDbError(err, what);
  }
}
