/**
 * Recent audit events for AuditLog. Not part of the change log: no data plane needs them.
 * Kept bounded: pruned by age and capped per cluster by the control plane's maintenance.
 */
import type { ExpressionBuilder, Insertable, Selectable } from "kysely";
import type { AuditEvent, AuditKind } from "../audit-event.ts";
import { toDate, toMs, type StoreContext } from "./context.ts";
import type { AuditEventsTable, Database } from "./schema.ts";
import type { AuditCursor, Store } from "./types.ts";

function toRow(e: AuditEvent): Insertable<AuditEventsTable> {
  return {
    id: e.id,
    at: toMs(e.at),
    first_at: toMs(e.firstAt),
    cluster: e.cluster,
    kind: e.kind,
    actor: e.actor,
    verb: e.verb,
    api_group: e.apiGroup,
    resource: e.resource,
    namespace: e.namespace,
    name: e.name,
    status: e.status,
    message: e.message,
    grant_id: e.grantId,
    target_subject: e.targetSubject,
    count: e.count,
    request_id: e.requestId,
    duration_ms: e.durationMs,
    bytes_in: e.bytesIn,
    bytes_out: e.bytesOut,
    source: e.source,
  };
}

function toEvent(row: Selectable<AuditEventsTable>): AuditEvent {
  return {
    id: row.id,
    at: toDate(row.at),
    firstAt: toDate(row.first_at),
    cluster: row.cluster,
    kind: row.kind as AuditKind,
    actor: row.actor,
    verb: row.verb,
    apiGroup: row.api_group,
    resource: row.resource,
    namespace: row.namespace,
    name: row.name,
    // Number(): PostgreSQL hands bigint columns back as strings.
    status: Number(row.status),
    message: row.message,
    grantId: row.grant_id,
    targetSubject: row.target_subject,
    count: Number(row.count),
    requestId: row.request_id,
    durationMs: Number(row.duration_ms),
    bytesIn: Number(row.bytes_in),
    bytesOut: Number(row.bytes_out),
    source: row.source,
  };
}

/** Newest first: strictly before the cursor in (at, id) order. */
function olderThan(cursor: AuditCursor) {
  const at = toMs(cursor.at);
  return (eb: ExpressionBuilder<Database, "audit_events">) => eb.or([eb("at", "<", at), eb.and([eb("at", "=", at), eb("id", "<", cursor.id)])]);
}

export function createAuditEventsRepository({ db }: StoreContext): Store["auditEvents"] {
  return {
    async append(events) {
      if (events.length === 0) return 0;
      const result = await db
        .insertInto("audit_events")
        .values(events.map(toRow))
        .onConflict((oc) => oc.column("id").doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n);
    },

    async list(filter, page) {
      let query = db.selectFrom("audit_events").selectAll().orderBy("at", "desc").orderBy("id", "desc").limit(page.limit);
      if (filter.cluster !== undefined) query = query.where("cluster", "=", filter.cluster);
      if (filter.actor !== undefined) query = query.where("actor", "=", filter.actor);
      if (page.before !== undefined) query = query.where(olderThan(page.before));
      return (await query.execute()).map(toEvent);
    },

    async prune(before) {
      const result = await db.deleteFrom("audit_events").where("at", "<", toMs(before)).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async cap(perCluster) {
      const over = await db
        .selectFrom("audit_events")
        .select("cluster")
        .groupBy("cluster")
        .having((eb) => eb.fn.countAll(), ">", perCluster)
        .execute();
      let deleted = 0;
      for (const { cluster } of over) {
        // The oldest event to keep; everything older in (at, id) order goes.
        const last = await db
          .selectFrom("audit_events")
          .select(["at", "id"])
          .where("cluster", "=", cluster)
          .orderBy("at", "desc")
          .orderBy("id", "desc")
          .offset(perCluster - 1)
          .limit(1)
          .executeTakeFirst();
        if (last === undefined) continue;
        const result = await db
          .deleteFrom("audit_events")
          .where("cluster", "=", cluster)
          .where(olderThan({ at: toDate(last.at), id: last.id }))
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
      return deleted;
    },
  };
}
