/**
 * One structured line per request, and session start/end lines for streams and upgrades:
 * who, which cluster and grant, what Kubernetes request, the outcome, bytes and timings.
 */
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

/** Writes the audit line and counts the request in the metrics. */
export function recordOutcome(ctx: { log: Logger; metrics: Metrics; access: { view: View } }, r: AuditRecord): void {
  auditRequest(ctx.log, r);
  // Only known clusters become label values: random names must not grow the metrics.
  const c = r.facts.cluster;
  const cluster = c !== undefined && ctx.access.view.clusters.has(c) ? c : "";
  ctx.metrics.observeRequest(cluster, r.facts.info?.verb ?? "", r.status, r.durationMs / 1000);
}

export function auditSession(log: Logger, event: "start" | "end", requestId: string, facts: AdmitFacts, extra: Record<string, unknown> = {}): void {
  log.info(
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
}
