/**
 * One structured line per request, and session start/end lines for streams and upgrades:
 * who, which cluster and grant, what Kubernetes request, the outcome, bytes and timings.
 * The same facts go to the audit sink, when there is one, for AuditLog.
 */
import type { AuditSink } from "../audit-event.ts";
import type { Logger } from "../log.ts";
import type { AdmitFacts } from "./admission.ts";
import type { Metrics } from "./metrics.ts";
import type { View } from "../sync/view.ts";

export interface AuditRecord {
  requestId: string;
  facts: AdmitFacts;
  grant?: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  upstreamMs?: number;
  /** Why a request was refused or cut; never sent to the client. */
  reason?: string;
  protocol: string;
}

/** What audit needs of the handler context. */
export interface AuditContext {
  log: Logger;
  access: { view: View };
  /** Receives every request and upgrade session for AuditLog; absent: the log only. */
  auditSink?: AuditSink;
}

export function auditFields(r: AuditRecord): Record<string, unknown> {
  const { facts } = r;
  return {
    audit: "request",
    requestId: r.requestId,
    user: facts.claims?.sub,
    groups: facts.claims?.groups,
    cluster: facts.cluster,
    grant: r.grant,
    jti: facts.claims?.jti,
    verb: facts.info?.verb,
    apiGroup: facts.info?.apiGroup,
    resource: facts.info?.subresource ? `${facts.info.resource}/${facts.info.subresource}` : facts.info?.resource,
    namespace: facts.info?.namespace,
    name: facts.info?.name,
    path: facts.info?.path,
    status: r.status,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    durationMs: r.durationMs,
    upstreamMs: r.upstreamMs,
    reason: r.reason,
    protocol: r.protocol,
  };
}

export function auditRequest(log: Logger, r: AuditRecord): void {
  log.info(auditFields(r), "request");
}

/** The cluster's name if the view knows it, else "": random names must not grow metrics or the audit store. */
function knownCluster(ctx: AuditContext, facts: AdmitFacts): string {
  const c = facts.cluster;
  return c !== undefined && ctx.access.view.clusters.has(c) ? c : "";
}

/** Writes the audit line, hands the request to the audit sink and counts it in the metrics. */
export function recordOutcome(ctx: AuditContext & { metrics: Metrics }, r: AuditRecord): void {
  auditRequest(ctx.log, r);
  const cluster = knownCluster(ctx, r.facts);
  ctx.auditSink?.request(cluster, r);
  ctx.metrics.observeRequest(cluster, r.facts.info?.verb ?? "", r.status, r.durationMs / 1000);
}

/**
 * A stream's or upgrade's start or end line. Upgrades (exec, attach, port-forward) also go
 * to the audit sink; a watch or `logs -f` is a read, counted there when it ends.
 */
export function auditSession(
  ctx: AuditContext,
  kind: "stream" | "upgrade",
  event: "start" | "end",
  requestId: string,
  facts: AdmitFacts,
  extra: { grant?: string; reason?: string; bytesIn?: number; bytesOut?: number; durationMs?: number; protocol?: string } = {},
): void {
  ctx.log.info(
    {
      audit: `session.${event}`,
      requestId,
      user: facts.claims?.sub,
      cluster: facts.cluster,
      verb: facts.info?.verb,
      resource: facts.info?.subresource ? `${facts.info.resource}/${facts.info.subresource}` : facts.info?.resource,
      namespace: facts.info?.namespace,
      name: facts.info?.name,
      ...extra,
    },
    `session ${event}`,
  );
  if (kind === "upgrade") ctx.auditSink?.session(knownCluster(ctx, facts), { event, requestId, facts, ...extra });
}
