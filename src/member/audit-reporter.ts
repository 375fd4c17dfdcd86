/**
 * The data plane's audit sink: buffers what the request path audits and sends it to the
 * control plane (ReportAuditEvents) every couple of seconds, or sooner once a batch is full.
 * The request path pays an array push or a Map increment: successful reads (get, list,
 * watch) are counted per window by cluster, user, verb, group, resource, namespace and
 * status into one event; every other request (writes, refusals, failures) and every upgrade
 * session is kept whole. The buffer is bounded: beyond it events are counted, not kept, and
 * one "audit.dropped" event says how many. A failed send is kept (within the bound) and
 * retried on the next tick, with the same ids, so a retry is stored once.
 */
import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { AUDIT_LIMITS, blankAuditEvent, type AuditEvent, type AuditSink, type AuditedRequest, type AuditedSession } from "../audit-event.ts";
import type { Logger } from "../log.ts";

export interface AuditReporterOptions {
  /** Sends one batch (at most `maxPerCall` events); rejects when it was not stored. */
  send(events: AuditEvent[]): Promise<void>;
  log: Logger;
  /** How often buffered events are sent (default 2 s). */
  flushMs?: number;
  /** Events buffered that make a send start before the tick (default 500). */
  batchSize?: number;
  /** Events held at most, unsent retries included; more are dropped and counted (default 10,000). */
  maxBuffered?: number;
  clock?: () => number;
}

export interface AuditReporter extends AuditSink {
  /** Sends what is buffered; resolves when it was sent or kept for a retry. */
  flush(): Promise<void>;
  /** Stops the timer and sends what is left, waiting at most `timeoutMs` (default 1 s). */
  close(timeoutMs?: number): Promise<void>;
}

/** Most events one ReportAuditEvents call carries (the control plane's limit). */
const MAX_PER_CALL = 1000;
const READ_VERBS: ReadonlySet<string> = new Set(["get", "list", "watch"]);

/** A whole event waiting: the request path's own record, converted when sent. */
interface Pending {
  at: number;
  cluster: string;
  request?: AuditedRequest;
  session?: AuditedSession;
}

/** Successful reads with the same key in one window; name and grant kept while they agree. */
interface ReadTally {
  cluster: string;
  r: AuditedRequest;
  /** null once the reads named different objects (or grants). */
  name: string | null;
  grant: string | null;
  first: number;
  last: number;
  count: number;
}

const cut = (text: string | undefined, max: number) => (text === undefined ? "" : text.length > max ? text.slice(0, max) : text);

function resourceOf(info: AuditedRequest["facts"]["info"]): string {
  if (info === undefined) return "";
  return info.subresource === "" ? info.resource : `${info.resource}/${info.subresource}`;
}

/** A non-resource request (e.g. /version) has no resource: its path stands for the name. */
const nameOf = (info: AuditedRequest["facts"]["info"]): string => (info === undefined ? "" : info.isResourceRequest ? info.name : info.path);

export function createAuditReporter(opts: AuditReporterOptions): AuditReporter {
  const clock = opts.clock ?? Date.now;
  const flushMs = opts.flushMs ?? 2_000;
  const batchSize = opts.batchSize ?? 500;
  const maxBuffered = opts.maxBuffered ?? 10_000;
  const idPrefix = `ae-${randomBytes(6).toString("hex")}-`;
  let seq = 0;
  let pending: Pending[] = [];
  let reads = new Map<string, ReadTally>();
  let unsent: AuditEvent[] = [];
  let dropped = 0;
  let sending: Promise<void> | undefined;
  let soon = false;
  let closed = false;

  const buffered = () => pending.length + reads.size + unsent.length;

  /** Room for one more event? Otherwise it is counted as dropped. */
  const room = (): boolean => {
    if (buffered() < maxBuffered) return true;
    dropped++;
    return false;
  };
  /** After an event was added: a full batch is sent without waiting for the tick. */
  const added = () => {
    if (!soon && pending.length + reads.size >= batchSize) {
      soon = true;
      setImmediate(() => void flush());
    }
  };

  const event = (at: number, firstAt: number, cluster: string, r: Pick<AuditedRequest, "facts" | "requestId">): AuditEvent => {
    const info = r.facts.info;
    return {
      ...blankAuditEvent(`${idPrefix}${(seq++).toString(36)}`, new Date(at), "request"),
      firstAt: new Date(firstAt),
      cluster,
      actor: cut(r.facts.claims?.sub, AUDIT_LIMITS.actor),
      verb: cut(info?.verb, AUDIT_LIMITS.verb),
      apiGroup: cut(info?.apiGroup, AUDIT_LIMITS.apiGroup),
      resource: cut(resourceOf(info), AUDIT_LIMITS.resource),
      namespace: cut(info?.namespace, AUDIT_LIMITS.namespace),
      name: cut(nameOf(info), AUDIT_LIMITS.name),
      requestId: cut(r.requestId, AUDIT_LIMITS.requestId),
    };
  };

  const fromPending = (p: Pending): AuditEvent => {
    if (p.request !== undefined) {
      const r = p.request;
      return {
        ...event(p.at, p.at, p.cluster, r),
        status: r.status,
        message: cut(r.reason, AUDIT_LIMITS.message),
        grantId: cut(r.grant, AUDIT_LIMITS.grantId),
        durationMs: r.durationMs,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
      };
    }
    const s = p.session!;
    return {
      ...event(p.at, p.at, p.cluster, s),
      kind: s.event === "start" ? "session.start" : "session.end",
      status: 101,
      message: cut(s.reason, AUDIT_LIMITS.message),
      grantId: cut(s.grant, AUDIT_LIMITS.grantId),
      durationMs: s.durationMs ?? 0,
      bytesIn: s.bytesIn ?? 0,
      bytesOut: s.bytesOut ?? 0,
    };
  };

  const fromTally = (t: ReadTally): AuditEvent => ({
    ...event(t.last, t.first, t.cluster, t.r),
    name: cut(t.name ?? "", AUDIT_LIMITS.name),
    status: t.r.status,
    grantId: cut(t.grant ?? "", AUDIT_LIMITS.grantId),
    count: t.count,
    // One request's id would mislead for many.
    requestId: t.count === 1 ? cut(t.r.requestId, AUDIT_LIMITS.requestId) : "",
  });

  /** Takes everything buffered as events to send, the drop count last. */
  const drain = (): AuditEvent[] => {
    const out = unsent;
    for (const p of pending) out.push(fromPending(p));
    for (const t of reads.values()) out.push(fromTally(t));
    unsent = [];
    pending = [];
    reads = new Map();
    if (dropped > 0) {
      const now = clock();
      out.push({
        ...event(now, now, "", { requestId: "", facts: {} }),
        kind: "audit.dropped",
        count: dropped,
        message: `${dropped} audit event(s) dropped: more than ${maxBuffered} were waiting to be sent to the control plane`,
      });
      dropped = 0;
    }
    return out;
  };

  const sendAll = async (events: AuditEvent[]): Promise<void> => {
    for (let i = 0; i < events.length; i += MAX_PER_CALL) {
      const batch = events.slice(i, i + MAX_PER_CALL);
      try {
        await opts.send(batch);
      } catch (err) {
        if (ConnectError.from(err).code === Code.InvalidArgument) {
          // Sending it again cannot help; the log lines hold these events.
          opts.log.error({ err: (err as Error).message, events: batch.length }, "the control plane refused a batch of audit events; dropped");
          continue;
        }
        opts.log.warn({ err: (err as Error).message, events: events.length - i }, "sending audit events to the control plane failed; retrying");
        // Kept for the next tick, ahead of newer events, within the bound.
        const kept = events.slice(i);
        const over = kept.length + buffered() - maxBuffered;
        if (over > 0) dropped += kept.splice(0, over).length;
        unsent = kept.concat(unsent);
        return;
      }
    }
  };

  const flush = (): Promise<void> => {
    soon = false;
    if (sending !== undefined) return sending;
    const events = drain();
    if (events.length === 0) return Promise.resolve();
    sending = sendAll(events).finally(() => (sending = undefined));
    return sending;
  };

  const timer = setInterval(() => void flush(), flushMs);
  timer.unref();

  return {
    request(cluster, r) {
      if (closed || r.status === 101) return; // an upgrade is audited by its session events
      const verb = r.facts.info?.verb ?? "";
      if (READ_VERBS.has(verb) && r.status >= 200 && r.status < 400) {
        const info = r.facts.info!;
        const key = `${cluster}\u0000${r.facts.claims?.sub ?? ""}\u0000${verb}\u0000${info.apiGroup}\u0000${info.resource}\u0000${info.subresource}\u0000${info.namespace}\u0000${r.status}`;
        const now = clock();
        const t = reads.get(key);
        if (t !== undefined) {
          t.count++;
          t.last = now;
          if (t.name !== null && t.name !== nameOf(info)) t.name = null;
          if (t.grant !== null && t.grant !== (r.grant ?? "")) t.grant = null;
        } else if (room()) {
          reads.set(key, { cluster, r, name: nameOf(info), grant: r.grant ?? "", first: now, last: now, count: 1 });
          added();
        }
        return;
      }
      if (room()) {
        pending.push({ at: clock(), cluster, request: r });
        added();
      }
    },

    session(cluster, s) {
      if (closed || !room()) return;
      pending.push({ at: clock(), cluster, session: s });
      added();
    },

    flush,

    async close(timeoutMs = 1_000) {
      clearInterval(timer);
      closed = true;
      let timeout: NodeJS.Timeout | undefined;
      const last = (async () => {
        await sending;
        await flush();
      })();
      await Promise.race([last, new Promise<void>((resolve) => (timeout = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timeout);
    },
  };
}
