/**
 * Revoked tokens (by jti) and subjects (every token issued before an instant). Both are
 * logged as changes: the data plane must cut a revoked user's streams on every replica.
 */
import { toDate, toMs, type StoreContext } from "./context.ts";
import type { Store, SubjectKind } from "./types.ts";

export function createRevocationsRepository({ db, mutate }: StoreContext): Store["revocations"] {
  return {
    revokeToken: (rec) =>
      mutate(async (trx, emit) => {
        // Revoking twice is not an error; the first record stands and nothing new is logged.
        const result = await trx
          .insertInto("token_revocations")
          .values({ jti: rec.jti, expires_at: toMs(rec.expiresAt), revoked_at: toMs(rec.revokedAt) })
          .onConflict((oc) => oc.column("jti").doNothing())
          .executeTakeFirst();
        if ((result.numInsertedOrUpdatedRows ?? 0n) > 0n) emit("token_revocation", rec.jti);
      }),

    async isTokenRevoked(jti) {
      const row = await db.selectFrom("token_revocations").select("jti").where("jti", "=", jti).executeTakeFirst();
      return row !== undefined;
    },

    async listTokens(now) {
      const rows = await db
        .selectFrom("token_revocations")
        .selectAll()
        .where("expires_at", ">", toMs(now))
        .orderBy("jti")
        .execute();
      return rows.map((r) => ({ jti: r.jti, expiresAt: toDate(r.expires_at), revokedAt: toDate(r.revoked_at) }));
    },

    revokeSubject: (rec) =>
      mutate(async (trx, emit) => {
        const revokedAt = toMs(rec.revokedAt);
        const result = await trx
          .insertInto("subject_revocations")
          .values({ subject_kind: rec.subjectKind, subject_name: rec.subjectName, revoked_at: revokedAt })
          .onConflict((oc) =>
            oc
              .columns(["subject_kind", "subject_name"])
              .doUpdateSet({ revoked_at: revokedAt })
              .where("subject_revocations.revoked_at", "<", revokedAt),
          )
          .executeTakeFirst();
        if ((result.numInsertedOrUpdatedRows ?? 0n) > 0n) emit("subject_revocation", `${rec.subjectKind}:${rec.subjectName}`);
      }),

    async listSubjects() {
      const rows = await db
        .selectFrom("subject_revocations")
        .selectAll()
        .orderBy("subject_kind")
        .orderBy("subject_name")
        .execute();
      return rows.map((r) => ({
        subjectKind: r.subject_kind as SubjectKind,
        subjectName: r.subject_name,
        revokedAt: toDate(r.revoked_at),
      }));
    },

    async pruneExpired(now) {
      // Not logged: an expired token fails verification anyway, so no replica needs to
      // hear that its revocation record is gone; each drops expired entries itself.
      const result = await db.deleteFrom("token_revocations").where("expires_at", "<=", toMs(now)).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
