/**
 * Ordinary (non-upgrade) requests: admit, register as a live session so revocation can
 * cut it, forward, and write one audit line when it ends.
 */
import { randomUUID } from "node:crypto";
import { constants } from "node:http2";
import type { Logger } from "../log.ts";
import { admit, type AdmitContext, type AdmitFacts } from "./admission.ts";
import type { AuditSink } from "../audit-event.ts";
import { auditSession, recordOutcome } from "./audit.ts";
import type { ClientRequest, ClientResponse } from "../forward/client-side.ts";
import { forward } from "../forward/forward.ts";
import type { Metrics } from "./metrics.ts";
import type { Sessions } from "./sessions.ts";
import { DataPathError, writeStatus } from "../forward/kube-status.ts";

export interface HandlerContext extends AdmitContext {
  sessions: Sessions;
  metrics: Metrics;
  log: Logger;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  /** Receives what is audited, for AuditLog (the data plane's audit reporter). */
  auditSink?: AuditSink;
}

/** Long-lived reads whose start and end are audited as a session. */
function isStream(verb: string, subresource: string, query: URLSearchParams): boolean {
  return verb === "watch" || (subresource === "log" && (query.get("follow") === "true" || query.get("follow") === "1"));
}

export async function handleRequest(ctx: HandlerContext, req: ClientRequest, res: ClientResponse): Promise<void> {
  const started = performance.now();
  const requestId = randomUUID();
  const facts: AdmitFacts = {};
  let bytesIn = 0;
  let bytesOut = 0;
  let upstreamMs: number | undefined;
  let status = 0;
  let grant: string | undefined;
  let reason: string | undefined;
  let removeSession: (() => void) | undefined;
  let stream = false;
  // Counted from the declared length: a "data" listener here would start the body flowing
  // before the forwarder is ready for it, and the upload would be lost.
  bytesIn = Number(req.headers["content-length"] ?? 0) || 0;
  try {
    const admitted = await admit(ctx, { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, upgrade: false, requestId }, facts);
    grant = admitted.grant.id;
    stream = isStream(admitted.info.verb, admitted.info.subresource, admitted.query);
    removeSession = ctx.sessions.add({
      id: requestId,
      kind: stream ? "watch" : "request",
      cluster: admitted.cluster,
      claims: admitted.claims,
      info: admitted.info,
      cut(why) {
        reason = why;
        if ("stream" in req && req.stream !== undefined) req.stream.close(constants.NGHTTP2_CANCEL);
        else res.destroy();
      },
    });
    if (stream) auditSession(ctx, "stream", "start", requestId, facts, { grant });
    await forward(req, res, {
      upstream: admitted.upstream,
      target: admitted.target,
      headers: admitted.headers,
      connectTimeoutMs: ctx.connectTimeoutMs,
      responseTimeoutMs: ctx.responseTimeoutMs,
      onResponse(s) {
        status = s;
        upstreamMs = Math.round(performance.now() - started);
      },
      onBytesOut: (n) => (bytesOut += n),
    });
  } catch (err) {
    if (err instanceof DataPathError) {
      reason ??= err.detail;
      if (!(err as { midStream?: boolean }).midStream) {
        status = err.status;
        writeStatus(res, err);
      }
    } else {
      reason = (err as Error).message;
      status = 500;
      ctx.log.error({ err, requestId }, "unexpected error on the data path");
      writeStatus(res, new DataPathError("internal", "internal error in kubegate"));
    }
  } finally {
    removeSession?.();
    const durationMs = Math.round(performance.now() - started);
    if (stream) auditSession(ctx, "stream", "end", requestId, facts, { grant, reason, bytesOut, durationMs });
    recordOutcome(ctx, {
      requestId,
      facts,
      grant,
      status,
      bytesIn,
      bytesOut,
      durationMs,
      upstreamMs,
      reason,
      protocol: `HTTP/${req.httpVersion}`,
    });
  }
}
