/**
 * A Kysely dialect over Node's built-in `node:sqlite`, so the embedded store needs no
 * native add-on. Kysely's own SqliteDialect expects better-sqlite3 (`stmt.reader`, array
 * parameters), so this is a small Driver of our own; the SQLite adapter, query compiler
 * and introspector are Kysely's.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import {
  CompiledQuery,
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from "kysely";

export interface NodeSqliteOptions {
  /** Database file path (":memory:" works for throwaway use). */
  path: string;
  /** How long a statement waits for another process's lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

/** Statements kept prepared per SQL text; the store issues a few dozen distinct ones. */
const STATEMENT_CACHE_SIZE = 200;

/**
 * One database handle is one connection: SQLite serializes writers anyway, and Kysely's
 * SqliteAdapter reports `supportsMultipleConnections: false`, so its runtime driver holds a
 * mutex around every acquire — a transaction owns the connection until it ends.
 */
export function createNodeSqliteDialect(options: NodeSqliteOptions): Dialect {
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => createNodeSqliteDriver(options),
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createIntrospector: (db) => new SqliteIntrospector(db),
  };
}

function createNodeSqliteDriver(options: NodeSqliteOptions): Driver {
  let db: DatabaseSync | undefined;
  let connection: DatabaseConnection | undefined;

  const open = (): DatabaseConnection => {
    if (!connection) throw new Error("sqlite driver used before init or after destroy");
    return connection;
  };

  return {
    async init() {
      const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
      db = new DatabaseSync(options.path, { enableForeignKeyConstraints: true, timeout: busyTimeoutMs });
      // WAL lets readers (backups, the sqlite3 CLI) run while we write; the pragmas are
      // per connection, so they are set on every open.
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA foreign_keys = ON");
      db.exec(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
      connection = createConnection(db);
    },
    async acquireConnection() {
      return open();
    },
    // IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    // writes can fail with SQLITE_BUSY mid-way if another process wrote in between.
    async beginTransaction(conn) {
      await conn.executeQuery(CompiledQuery.raw("begin immediate"));
    },
    async commitTransaction(conn) {
      await conn.executeQuery(CompiledQuery.raw("commit"));
    },
    async rollbackTransaction(conn) {
      await conn.executeQuery(CompiledQuery.raw("rollback"));
    },
    async savepoint(conn, name) {
      await conn.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdentifier(name)}`));
    },
    async rollbackToSavepoint(conn, name) {
      await conn.executeQuery(CompiledQuery.raw(`rollback to ${quoteIdentifier(name)}`));
    },
    async releaseSavepoint(conn, name) {
      await conn.executeQuery(CompiledQuery.raw(`release ${quoteIdentifier(name)}`));
    },
    async releaseConnection() {
      // The single connection stays open until destroy.
    },
    async destroy() {
      connection = undefined;
      if (db?.isOpen) db.close();
      db = undefined;
    },
  };
}

function createConnection(db: DatabaseSync): DatabaseConnection {
  const statements = new Map<string, StatementSync>();

  const prepare = (sqlText: string): StatementSync => {
    let stmt = statements.get(sqlText);
    if (stmt) {
      // Re-insert so the map's order tracks recency.
      statements.delete(sqlText);
    } else {
      stmt = db.prepare(sqlText);
      if (statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = statements.keys().next();
        if (!oldest.done) statements.delete(oldest.value);
      }
    }
    statements.set(sqlText, stmt);
    return stmt;
  };

  return {
    async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
      const stmt = prepare(compiled.sql);
      const params = compiled.parameters.map(toSqliteValue);
      // A statement that yields columns (SELECT, RETURNING, some PRAGMAs) returns rows;
      // anything else reports what it changed.
      if (stmt.columns().length > 0) {
        return { rows: stmt.all(...params) as R[] };
      }
      const { changes, lastInsertRowid } = stmt.run(...params);
      return {
        rows: [],
        numAffectedRows: BigInt(changes),
        insertId: BigInt(lastInsertRowid),
      };
    },
    async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
      if (!SelectQueryNode.is(compiled.query)) {
        throw new Error("the sqlite driver streams select queries only");
      }
      const stmt = prepare(compiled.sql);
      for (const row of stmt.iterate(...compiled.parameters.map(toSqliteValue))) {
        yield { rows: [row as R] };
      }
    },
  };
}

/** node:sqlite binds null, numbers, bigints, strings and bytes; booleans become 0/1. */
function toSqliteValue(value: unknown): SQLInputValue {
  if (value === undefined) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  return value as SQLInputValue;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
