/**
 * Access grants: a user or group holds a role on a cluster, optionally limited to
 * namespaces and in time. The data plane reads them through the change log; the token
 * service looks them up per subject with `listFor`.
 */
import type { Selectable } from "kysely";
import { toDate, toDateOrNull, toMs, toMsOrNull, type StoreContext } from "./context.ts";
import { withDbErrors } from "./db-errors.ts";
import { rememberResult } from "./idempotent-results.ts";
import type { GrantsTable } from "./schema.ts";
import type { GrantRecord, GrantState, RoleName, Store, SubjectKind } from "./types.ts";
import { LIVE_GRANT_STATES } from "../grant-state.ts";


export function toGrantRecord(row: Selectable<GrantsTable>): GrantRecord {
  return {
    id: row.id,
    cluster: row.cluster,
    subjectKind: row.subject_kind as SubjectKind,
    subjectName: row.subject_name,
    role: row.role as RoleName,
    namespaces: JSON.parse(row.namespaces) as string[],
    state: row.state as GrantState,
    stateMessage: row.state_message,
    expiresAt: toDateOrNull(row.expires_at),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    createdBy: row.created_by,
  };
}

export function createGrantsRepository({ db, sealer, mutate }: StoreContext): Store["grants"] {
  return {
    create: (rec, remember) =>
      withDbErrors(`grant "${rec.id}"`, () =>
        mutate(async (trx, emit) => {
          await trx
            .insertInto("grants")
            .values({
              id: rec.id,
              cluster: rec.cluster,
              subject_kind: rec.subjectKind,
              subject_name: rec.subjectName,
              role: rec.role,
              namespaces: JSON.stringify(rec.namespaces),
              state: rec.state,
              state_message: rec.stateMessage,
              expires_at: toMsOrNull(rec.expiresAt),
              created_at: toMs(rec.createdAt),
              updated_at: toMs(rec.updatedAt),
              created_by: rec.createdBy,
            })
            .execute();
          if (remember !== undefined) await rememberResult(trx, sealer, remember);
          emit("grant", rec.id);
        }),
      ),

    async get(id) {
      const row = await db.selectFrom("grants").selectAll().where("id", "=", id).executeTakeFirst();
      return row ? toGrantRecord(row) : null;
    },

    async list(filter, page) {
      let query = db.selectFrom("grants").selectAll().orderBy("id").limit(page.limit);
      if (page.after !== undefined) query = query.where("id", ">", page.after);
      if (filter.cluster !== undefined) query = query.where("cluster", "=", filter.cluster);
      if (filter.subjectKind !== undefined) query = query.where("subject_kind", "=", filter.subjectKind);
      if (filter.subjectName !== undefined) query = query.where("subject_name", "=", filter.subjectName);
      if (filter.state !== undefined) query = query.where("state", "=", filter.state);
      return (await query.execute()).map(toGrantRecord);
    },

    async listFor(cluster, user, groups, states) {
      if (states.length === 0) return [];
      let query = db
        .selectFrom("grants")
        .selectAll()
        .where("state", "in", states)
        .where((eb) => {
          const bySubject = [eb.and([eb("subject_kind", "=", "user"), eb("subject_name", "=", user)])];
          if (groups.length > 0) {
            bySubject.push(eb.and([eb("subject_kind", "=", "group"), eb("subject_name", "in", groups)]));
          }
          return eb.or(bySubject);
        })
        .orderBy("id");
      if (cluster !== null) query = query.where("cluster", "=", cluster);
      return (await query.execute()).map(toGrantRecord);
    },

    setState: (id, state, message, at) =>
      mutate(async (trx, emit) => {
        const row = await trx
          .updateTable("grants")
          .set({ state, state_message: message, updated_at: toMs(at) })
          .where("id", "=", id)
          .returningAll()
          .executeTakeFirst();
        if (!row) return null;
        emit("grant", id);
        return toGrantRecord(row);
      }),

    expireDue: (now) =>
      mutate(async (trx, emit) => {
        const rows = await trx
          .updateTable("grants")
          .set({ state: "EXPIRED", state_message: "the grant expired", updated_at: toMs(now) })
          .where("state", "in", [...LIVE_GRANT_STATES])
          .where("expires_at", "is not", null)
          .where("expires_at", "<=", toMs(now))
          .returningAll()
          .execute();
        const expired = rows.map(toGrantRecord).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        for (const grant of expired) emit("grant", grant.id);
        return expired;
      }),
  };
}
