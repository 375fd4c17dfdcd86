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

/** Socket errors of a database connection that went away. */
const CONNECTION_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTCONN"]);
/** SQLSTATEs of a server shutting down, crashed, or not yet accepting connections. */
const PG_UNAVAILABLE = new Set(["57P01", "57P02", "57P03", "53300"]);

/**
 * True when `err` says the database cannot be reached right now (PostgreSQL restarting,
 * the network to it cut), as opposed to a bad query: the call may succeed if retried.
 */
export function isStoreUnavailable(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (CONNECTION_ERRNOS.has(code) || PG_UNAVAILABLE.has(code) || code.startsWith("08"))) return true;
  // node-postgres reports a dropped connection by message only.
  return typeof message === "string" && /^Connection terminated|^Client has encountered a connection error|^timeout exceeded when trying to connect|Connection terminated unexpectedly/.test(message);
}

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
