/**
 * API keys of services and CI. Only the SHA-256 of a secret is kept, so a database leak
 * reveals no usable key. Keys are not part of the change log: only the control plane
 * authenticates with them, and it reads them here on each call.
 */
import type { Selectable } from "kysely";
import { toDate, toDateOrNull, toMs, toMsOrNull, type StoreContext } from "./context.ts";
import { withDbErrors } from "./db-errors.ts";
import { rememberResult } from "./idempotent-results.ts";
import type { ApiKeysTable } from "./schema.ts";
import type { ApiKeyRecord, Store } from "./types.ts";

function toRecord(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    subject: row.subject,
    groups: JSON.parse(row.groups) as string[],
    secretHash: row.secret_hash,
    createdAt: toDate(row.created_at),
    expiresAt: toDateOrNull(row.expires_at),
    revokedAt: toDateOrNull(row.revoked_at),
    lastUsedAt: toDateOrNull(row.last_used_at),
    createdBy: row.created_by,
  };
}

export function createApiKeysRepository({ db, sealer }: StoreContext): Store["apiKeys"] {
  return {
    create: (rec, remember) =>
      withDbErrors(`API key "${rec.id}"`, () =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto("api_keys")
            .values({
              id: rec.id,
              name: rec.name,
              subject: rec.subject,
              groups: JSON.stringify(rec.groups),
              secret_hash: rec.secretHash,
              created_at: toMs(rec.createdAt),
              expires_at: toMsOrNull(rec.expiresAt),
              revoked_at: toMsOrNull(rec.revokedAt),
              last_used_at: toMsOrNull(rec.lastUsedAt),
              created_by: rec.createdBy,
            })
            .execute();
          if (remember !== undefined) await rememberResult(trx, sealer, remember);
        }),
      ),

    async get(id) {
      const row = await db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
      return row ? toRecord(row) : null;
    },

    async findBySecretHash(hash) {
      const row = await db.selectFrom("api_keys").selectAll().where("secret_hash", "=", hash).executeTakeFirst();
      return row ? toRecord(row) : null;
    },

    async list(page, includeRevoked) {
      let query = db.selectFrom("api_keys").selectAll().orderBy("id").limit(page.limit);
      if (page.after !== undefined) query = query.where("id", ">", page.after);
      if (!includeRevoked) query = query.where("revoked_at", "is", null);
      return (await query.execute()).map(toRecord);
    },

    async revoke(id, at) {
      // The first revocation instant stays: revoking again must not rewrite history.
      const result = await db
        .updateTable("api_keys")
        .set((eb) => ({ revoked_at: eb.fn.coalesce("revoked_at", eb.val(toMs(at))) }))
        .where("id", "=", id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async pruneEnded(createdByPrefix, before) {
      const cutoff = toMs(before);
      // substr, not LIKE: the prefix (an issuer URL) may hold % or _, which are no wildcards here.
      const result = await db
        .deleteFrom("api_keys")
        .where((eb) => eb(eb.fn("substr", ["created_by", eb.val(1), eb.val(createdByPrefix.length)]), "=", createdByPrefix))
        .where((eb) => eb.or([eb("expires_at", "<", cutoff), eb("revoked_at", "<", cutoff)]))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async touch(id, at) {
      await db.updateTable("api_keys").set({ last_used_at: toMs(at) }).where("id", "=", id).execute();
    },
  };
}
