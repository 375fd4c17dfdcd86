/**
 * The control plane's audit: one call writes the log line and stores the same event for
 * AuditLog, both from one set of fields, so the two cannot drift apart. The log line is
 * the complete record; a failed store write is logged and never fails the caller's RPC.
 */
import { randomBytes } from "node:crypto";
import { AUDIT_LIMITS, blankAuditEvent, CONTROL_PLANE_SOURCE, type AuditEvent, type CONTROL_PLANE_AUDIT_KINDS } from "../audit-event.ts";
import type { ControlDeps } from "./deps.ts";

/**
 * A control-plane audit line's fields: `by` (the caller) acted on `subject` (a grantee, a
 * key's or token's subject); without `by`, `subject` acted itself (token.mint). Any
 * other field is a detail, logged as it is and kept in the event's message.
 */
export interface AuditFields {
  audit: (typeof CONTROL_PLANE_AUDIT_KINDS)[number];
  by?: string;
  subject?: string;
  cluster?: string;
  grant?: string;
  [detail: string]: unknown;
}

/** Each cluster keeps at most this many events; the maintenance loop deletes the oldest beyond. */
export const AUDIT_EVENTS_PER_CLUSTER = 100_000;

function detail(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.join(",");
  if (value instanceof Date) return value.toISOString();
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** The stored form of an audit line: `msg`, then its details as key=value. */
export function controlEvent(fields: AuditFields, msg: string, at: Date): AuditEvent {
  const { audit: kind, by, subject, cluster, grant, ...rest } = fields;
  const details = Object.entries(rest).flatMap(([k, value]) => {
    const text = detail(value);
    return text === undefined ? [] : [`${k}=${text}`];
  });
  return {
    ...blankAuditEvent(`ev-${randomBytes(9).toString("base64url")}`, at, kind),
    cluster: cluster ?? "",
    actor: (by ?? subject ?? "").slice(0, AUDIT_LIMITS.actor),
    message: (details.length === 0 ? msg : `${msg}: ${details.join(" ")}`).slice(0, AUDIT_LIMITS.message),
    grantId: grant ?? "",
    targetSubject: by === undefined ? "" : (subject ?? "").slice(0, AUDIT_LIMITS.targetSubject),
    source: CONTROL_PLANE_SOURCE,
  };
}

/** Writes the audit line and stores its event; resolves once stored (or the failure logged). */
export async function audit(deps: Pick<ControlDeps, "log" | "store" | "clock">, fields: AuditFields, msg: string): Promise<void> {
  deps.log.info(fields, msg);
  try {
    await deps.store.auditEvents.append([controlEvent(fields, msg, deps.clock())]);
  } catch (err) {
    deps.log.warn({ err, audit: fields.audit }, "could not store the audit event for AuditLog; the log line stands");
  }
}
