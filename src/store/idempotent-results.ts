/**
 * Results of creates that carried a request id. Each is written in the transaction of the
 * create it answers (`rememberResult`), so a create is never committed without its answer,
 * and sealed like every other secret at rest: an agent bootstrap token or an API key's
 * secret is part of the answer a retry must get again.
 */
import type { Transaction } from "kysely";
import { toDate, toMs, type StoreContext } from "./context.ts";
import type { Sealer } from "./seal.ts";
import type { Database } from "./schema.ts";
import type { IdempotentResult, Store } from "./types.ts";

const sealContext = (key: string) => `idempotent-result:${key}`;

export async function rememberResult(trx: Transaction<Database>, sealer: Sealer, r: IdempotentResult): Promise<void> {
  await trx
    .insertInto("idempotent_results")
    .values({
      key: r.key,
      fingerprint: r.fingerprint,
      response_sealed: sealer.seal(Buffer.from(r.response).toString("base64"), sealContext(r.key)),
      created_at: toMs(r.createdAt),
    })
    .execute();
}

export function createIdempotentResultsRepository({ db, sealer }: StoreContext): Store["idempotentResults"] {
  return {
    async get(key) {
      const row = await db.selectFrom("idempotent_results").selectAll().where("key", "=", key).executeTakeFirst();
      if (row === undefined) return null;
      return {
        key: row.key,
        fingerprint: row.fingerprint,
        response: Buffer.from(sealer.open(row.response_sealed, sealContext(row.key)), "base64"),
        createdAt: toDate(row.created_at),
      };
    },
    async prune(before) {
      const res = await db.deleteFrom("idempotent_results").where("created_at", "<", toMs(before)).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}
