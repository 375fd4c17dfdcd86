/** Small key/value settings of the deployment (e.g. whether the bootstrap admin key exists). */
import type { Kysely } from "kysely";
import type { Database } from "./schema.ts";
import type { Store } from "./types.ts";

export function createMetaRepository(db: Kysely<Database>): Store["meta"] {
  return {
    async get(key) {
      const row = await db.selectFrom("meta").select("value").where("key", "=", key).executeTakeFirst();
      return row?.value ?? null;
    },
    async set(key, value) {
      await db
        .insertInto("meta")
        .values({ key, value })
        .onConflict((oc) => oc.column("key").doUpdateSet({ value }))
        .execute();
    },
    async claim(key, value) {
      const result = await db
        .insertInto("meta")
        .values({ key, value })
        .onConflict((oc) => oc.column("key").doNothing())
        .executeTakeFirst();
      return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
    },
  };
}
