/** The node:sqlite Kysely dialect: settings, transactions and serialized access. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kysely, sql, type ColumnType, type Generated } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createNodeSqliteDialect } from "../../src/store/sqlite-dialect.ts";

interface TestDb {
  /** flag accepts booleans on insert: the driver binds them as 0/1. */
  item: { id: Generated<number>; name: string; flag: ColumnType<number | null, boolean | number | null, number | null> };
}

describe("node:sqlite dialect", () => {
  let dir = "";
  let db: Kysely<TestDb>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubegate-sqlite-"));
    db = new Kysely<TestDb>({ dialect: createNodeSqliteDialect({ path: join(dir, "t.db"), busyTimeoutMs: 1234 }) });
    await db.schema
      .createTable("item")
      .addColumn("id", "integer", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull().unique())
      .addColumn("flag", "integer")
      .execute();
  });

  afterEach(async () => {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it("runs in WAL mode with foreign keys on and the busy timeout set", async () => {
    const pragma = async (name: string) => (await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(db)).rows[0];
    expect(await pragma("journal_mode")).toEqual({ journal_mode: "wal" });
    expect(await pragma("foreign_keys")).toEqual({ foreign_keys: 1 });
    expect(await pragma("busy_timeout")).toEqual({ timeout: 1234 });
  });

  it("returns rows for selects and RETURNING, counts for other statements", async () => {
    const inserted = await db.insertInto("item").values({ name: "a", flag: true }).returning(["id", "flag"]).executeTakeFirst();
    expect(inserted).toEqual({ id: 1, flag: 1 });
    const insert = await db.insertInto("item").values({ name: "b", flag: null }).executeTakeFirst();
    expect(insert.insertId).toBe(2n);
    const update = await db.updateTable("item").set({ flag: 7 }).executeTakeFirst();
    expect(update.numUpdatedRows).toBe(2n);
    expect(await db.selectFrom("item").select("name").orderBy("name").execute()).toEqual([{ name: "a" }, { name: "b" }]);
    const streamed: string[] = [];
    for await (const row of db.selectFrom("item").select("name").orderBy("name").stream()) streamed.push(row.name);
    expect(streamed).toEqual(["a", "b"]);
  });

  it("commits and rolls back transactions, and savepoints", async () => {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto("item").values({ name: "kept", flag: null }).execute();
    });
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto("item").values({ name: "dropped", flag: null }).execute();
        await trx.insertInto("item").values({ name: "kept", flag: null }).execute();
      }),
    ).rejects.toThrow(/UNIQUE/);

    const trx = await db.startTransaction().execute();
    await trx.insertInto("item").values({ name: "outer", flag: null }).execute();
    const inner = await trx.savepoint("inner").execute();
    await inner.insertInto("item").values({ name: "inner", flag: null }).execute();
    await inner.rollbackToSavepoint("inner").execute();
    await trx.commit().execute();

    expect((await db.selectFrom("item").select("name").orderBy("name").execute()).map((r) => r.name)).toEqual(["kept", "outer"]);
  });

  it("serializes a transaction against concurrent queries on the one connection", async () => {
    const order: string[] = [];
    const slow = db.transaction().execute(async (trx) => {
      await trx.insertInto("item").values({ name: "in-trx", flag: null }).execute();
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push("trx done");
      throw new Error("roll back");
    });
    // Issued while the transaction is open; must neither join it nor see its write.
    const outside = db.selectFrom("item").selectAll().execute().then((rows) => {
      order.push("outside");
      return rows;
    });
    await expect(slow).rejects.toThrow("roll back");
    expect(await outside).toEqual([]);
    expect(order).toEqual(["trx done", "outside"]);
  });
});
