/**
 * Ed25519 keys that sign data-plane tokens. The private JWK is sealed at rest (bound to
 * its kid); every change is logged so data-plane replicas learn new and retired keys.
 */
import type { Selectable } from "kysely";
import { toDate, toMs, type StoreContext } from "./context.ts";
import { withDbErrors } from "./db-errors.ts";
import type { SigningKeysTable } from "./schema.ts";
import type { SigningKeyRecord, Store } from "./types.ts";

export function createSigningKeysRepository({ db, sealer, mutate }: StoreContext): Store["signingKeys"] {
  const sealContext = (kid: string): string => `signing_key:${kid}`;

  const toRecord = (row: Selectable<SigningKeysTable>): SigningKeyRecord => ({
    kid: row.kid,
    privateJwk: sealer.open(row.private_jwk_sealed, sealContext(row.kid)),
    publicX: row.public_x,
    createdAt: toDate(row.created_at),
    activeUntil: toDate(row.active_until),
    retireAt: toDate(row.retire_at),
  });

  return {
    async list(now) {
      const rows = await db
        .selectFrom("signing_keys")
        .selectAll()
        .where("retire_at", ">", toMs(now))
        .orderBy("created_at")
        .orderBy("kid")
        .execute();
      return rows.map(toRecord);
    },

    insert: (rec) =>
      withDbErrors(`signing key "${rec.kid}"`, () =>
        mutate(async (trx, emit) => {
          await trx
            .insertInto("signing_keys")
            .values({
              kid: rec.kid,
              private_jwk_sealed: sealer.seal(rec.privateJwk, sealContext(rec.kid)),
              public_x: rec.publicX,
              created_at: toMs(rec.createdAt),
              active_until: toMs(rec.activeUntil),
              retire_at: toMs(rec.retireAt),
            })
            .execute();
          emit("signing_key", rec.kid);
        }),
      ),

    setActiveUntil: (kid, activeUntil, retireAt) =>
      mutate(async (trx, emit) => {
        const result = await trx
          .updateTable("signing_keys")
          .set(retireAt === undefined ? { active_until: toMs(activeUntil) } : { active_until: toMs(activeUntil), retire_at: toMs(retireAt) })
          .where("kid", "=", kid)
          .executeTakeFirst();
        if (result.numUpdatedRows > 0n) emit("signing_key", kid);
      }),

    pruneRetired: (now) =>
      mutate(async (trx, emit) => {
        const rows = await trx.deleteFrom("signing_keys").where("retire_at", "<=", toMs(now)).returning("kid").execute();
        const kids = rows.map((r) => r.kid).sort();
        for (const kid of kids) emit("signing_key", kid, true);
        return kids;
      }),
  };
}
