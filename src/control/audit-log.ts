/**
 * AuditLog: the recent audit events, newest first, for admins; and the checks a data
 * plane's ReportAuditEvents passes before its events are stored.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AuditEvent as AuditEventMessage } from "../../gen/kubegate/v1/audit_pb.ts";
import { AuditLog } from "../../gen/kubegate/v1/audit_pb.ts";
import { AUDIT_ID, AUDIT_LIMITS, DATA_PLANE_AUDIT_KINDS, auditEventToProto, auditText, type AuditEvent, type AuditKind } from "../audit-event.ts";
import { errors } from "../errors.ts";
import type { AuditCursor } from "../store/types.ts";
import { requireAdmin } from "./caller.ts";
import type { ControlDeps } from "./deps.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";
import * as v from "./validate.ts";

/** Most events one ReportAuditEvents call may carry. */
export const MAX_REPORTED_EVENTS = 1000;

const cursorKey = (e: { at: Date; id: string }) => `${e.at.getTime()}:${e.id}`;

function cursorFrom(key: string | undefined): AuditCursor | undefined {
  if (key === undefined) return undefined;
  const i = key.indexOf(":");
  const ms = Number(key.slice(0, i));
  if (i <= 0 || !Number.isSafeInteger(ms)) throw errors.invalid("page_token", "is not a page token from this query; start again without it");
  return { at: new Date(ms), id: key.slice(i + 1) };
}

export function auditLog(deps: ControlDeps): ServiceImpl<typeof AuditLog> {
  const { store } = deps;
  return {
    async listAuditEvents(req, ctx) {
      requireAdmin(ctx, "read the audit log");
      const size = v.pageSize(req.pageSize);
      const filter = {
        cluster: req.cluster === "" ? undefined : v.dnsLabel("cluster", req.cluster),
        actor: req.subject === "" ? undefined : v.subjectName("subject", req.subject),
      };
      const before = cursorFrom(decodePageToken(req.pageToken, filter));
      const rows = await store.auditEvents.list(filter, { before, limit: size + 1 });
      const page = rows.slice(0, size);
      return { events: page.map(auditEventToProto), nextPageToken: rows.length > size ? encodePageToken(cursorKey(page.at(-1)!), filter) : "" };
    },
  };
}

const DATA_PLANE_KINDS: ReadonlySet<string> = new Set(DATA_PLANE_AUDIT_KINDS);
const TEXT_FIELDS = [
  ["actor", "actor"],
  ["verb", "verb"],
  ["api_group", "apiGroup"],
  ["resource", "resource"],
  ["namespace", "namespace"],
  ["name", "name"],
  ["message", "message"],
  ["grant_id", "grantId"],
  ["target_subject", "targetSubject"],
  ["request_id", "requestId"],
] as const;

function wholeNumber(field: string, value: bigint, min: bigint): number {
  if (value < min || value > BigInt(Number.MAX_SAFE_INTEGER)) throw errors.invalid(field, `must be a whole number from ${min} to ${Number.MAX_SAFE_INTEGER}`);
  return Number(value);
}

/** A data plane's report as events to store, each checked; InvalidArgument names the first bad field. */
export function reportedEvents(events: AuditEventMessage[], replica: string): AuditEvent[] {
  if (events.length > MAX_REPORTED_EVENTS) throw errors.invalid("events", `at most ${MAX_REPORTED_EVENTS} per call (got ${events.length})`);
  const source = v.maxLength("replica", replica, AUDIT_LIMITS.source) || "data-plane";
  const ids = new Set<string>();
  return events.map((e, i) => {
    const at = (name: string) => `events[${i}].${name}`;
    if (!AUDIT_ID.test(e.id)) throw errors.invalid(at("id"), "must be 1 to 64 letters, digits, '.', '_' or '-'");
    if (ids.has(e.id)) throw errors.invalid(at("id"), `${JSON.stringify(e.id)} appears twice in this report`);
    ids.add(e.id);
    if (!DATA_PLANE_KINDS.has(e.kind)) throw errors.invalid(at("kind"), `must be one of ${DATA_PLANE_AUDIT_KINDS.join(", ")} (got ${JSON.stringify(e.kind)})`);
    if (e.source !== "") throw errors.invalid(at("source"), "is set by the control plane; leave it empty");
    if (e.time === undefined) throw errors.invalid(at("time"), "is required");
    const time = timestampDate(e.time);
    const firstTime = e.firstTime === undefined ? time : timestampDate(e.firstTime);
    if (firstTime > time) throw errors.invalid(at("first_time"), "must not be after time");
    if (e.cluster !== "") v.dnsLabel(at("cluster"), e.cluster);
    for (const [name, key] of TEXT_FIELDS) v.maxLength(at(name), e[key], AUDIT_LIMITS[key]);
    if (e.statusCode < 0 || e.statusCode > 999) throw errors.invalid(at("status_code"), "must be an HTTP status (0 to 999)");
    return {
      ...auditText(e),
      at: time,
      firstAt: firstTime,
      kind: e.kind as AuditKind,
      status: e.statusCode,
      count: wholeNumber(at("count"), e.count, 1n),
      durationMs: wholeNumber(at("duration_ms"), e.durationMs, 0n),
      bytesIn: wholeNumber(at("bytes_in"), e.bytesIn, 0n),
      bytesOut: wholeNumber(at("bytes_out"), e.bytesOut, 0n),
      source,
    };
  });
}
