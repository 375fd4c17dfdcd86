/**
 * An audit event as the store keeps it and AuditLog lists it, its kinds, the bounds of its
 * fields and its wire form. Shared by the data plane (which records requests and sessions),
 * the control plane (which records its own acts and validates reports) and the store.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema, type AuditEvent as AuditEventMessage } from "../gen/kubegate/v1/audit_pb.ts";

/** Kinds a data plane records; ReportAuditEvents accepts only these. */
export const DATA_PLANE_AUDIT_KINDS = ["request", "session.start", "session.end", "audit.dropped"] as const;

/** Kinds the control plane records: the `audit` field of its log lines. */
export const CONTROL_PLANE_AUDIT_KINDS = [
  "grant.create",
  "grant.revoke",
  "grant.expire",
  "subject.revoke",
  "token.mint",
  "token.revoke",
  "token.exchange",
  "cluster.register",
  "cluster.update",
  "cluster.deregister",
  "apikey.create",
  "apikey.revoke",
  "console.session.start",
] as const;

export type AuditKind = (typeof DATA_PLANE_AUDIT_KINDS)[number] | (typeof CONTROL_PLANE_AUDIT_KINDS)[number];

export interface AuditEvent {
  /** Unique; a retried report with the same id is stored once. */
  id: string;
  /** When it happened; for an aggregated read, when the last request ended. */
  at: Date;
  /** The first request of an aggregated read; `at` otherwise. */
  firstAt: Date;
  /** "" when the event concerns no known cluster. */
  cluster: string;
  kind: AuditKind;
  actor: string;
  verb: string;
  apiGroup: string;
  /** resource or resource/subresource. */
  resource: string;
  namespace: string;
  name: string;
  /** HTTP status; 0 for control-plane events. */
  status: number;
  message: string;
  grantId: string;
  /** Whom the event is about when not the actor, as kind:name. */
  targetSubject: string;
  /** How many requests the event stands for (aggregated reads), or events dropped. */
  count: number;
  requestId: string;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  /** "control-plane" or the reporting data-plane replica. */
  source: string;
}

/** An event of `kind` with nothing else said yet: each recorder sets the fields it knows on top. */
export function blankAuditEvent(id: string, at: Date, kind: AuditKind): AuditEvent {
  return {
    id,
    at,
    firstAt: at,
    cluster: "",
    kind,
    actor: "",
    verb: "",
    apiGroup: "",
    resource: "",
    namespace: "",
    name: "",
    status: 0,
    message: "",
    grantId: "",
    targetSubject: "",
    count: 1,
    requestId: "",
    durationMs: 0,
    bytesIn: 0,
    bytesOut: 0,
    source: "",
  };
}

/** Longest value of each text field; the data plane cuts to these, the control plane refuses longer. */
export const AUDIT_LIMITS = {
  id: 64,
  actor: 256,
  verb: 64,
  apiGroup: 253,
  resource: 507,
  namespace: 253,
  name: 1024,
  message: 1024,
  grantId: 64,
  targetSubject: 300,
  requestId: 64,
  source: 256,
} as const;

export const AUDIT_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The control plane's own source name. */
export const CONTROL_PLANE_SOURCE = "control-plane";

/** The text fields the record and the message name alike. */
export const AUDIT_TEXT_FIELDS = ["id", "cluster", "actor", "verb", "apiGroup", "resource", "namespace", "name", "message", "grantId", "targetSubject", "requestId", "source"] as const;
type AuditText = Pick<AuditEvent, (typeof AUDIT_TEXT_FIELDS)[number]>;

/** The text fields of a record or a message, copied. */
export function auditText(from: AuditText): AuditText {
  const out = {} as AuditText;
  for (const k of AUDIT_TEXT_FIELDS) out[k] = from[k];
  return out;
}

export function auditEventToProto(e: AuditEvent): AuditEventMessage {
  return create(AuditEventSchema, {
    ...auditText(e),
    time: timestampFromDate(e.at),
    firstTime: timestampFromDate(e.firstAt),
    kind: e.kind,
    statusCode: e.status,
    count: BigInt(e.count),
    durationMs: BigInt(e.durationMs),
    bytesIn: BigInt(e.bytesIn),
    bytesOut: BigInt(e.bytesOut),
  });
}

/** The parts of a parsed Kubernetes request the audit keeps (the data plane's RequestInfo). */
export interface AuditedRequestInfo {
  isResourceRequest: boolean;
  verb: string;
  apiGroup: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  path: string;
}

/** A finished data-plane request, as the data plane's audit line has it (its AuditRecord). */
export interface AuditedRequest {
  requestId: string;
  facts: { claims?: { sub: string }; info?: AuditedRequestInfo };
  grant?: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  reason?: string;
}

/** An upgrade (exec, attach, port-forward) once the member switched protocols, and when it ended. */
export interface AuditedSession {
  event: "start" | "end";
  requestId: string;
  facts: AuditedRequest["facts"];
  grant?: string;
  reason?: string;
  bytesIn?: number;
  bytesOut?: number;
  durationMs?: number;
}

/**
 * Where the data plane hands what it audits, besides its log. Called on the request path:
 * an implementation returns at once, with no I/O and no waiting. `cluster` is "" unless
 * the data plane knows the cluster, so random names cannot fill the store.
 */
export interface AuditSink {
  request(cluster: string, r: AuditedRequest): void;
  session(cluster: string, s: AuditedSession): void;
}
