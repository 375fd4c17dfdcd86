/**
 * pods/log: a container's "output" is a deterministic sequence of lines, so a
 * plain read returns the first ones and `follow=true` keeps producing new ones
 * on a timer until the client goes away (like `kubectl logs -f`).
 */
import type { ServerResponse } from "node:http";
import type { RequestContext } from "./context.ts";
import { startStream } from "./http-io.ts";
import { meta, timestamp } from "./object.ts";
import { queryFlag } from "./request-info.ts";
import { findByResource } from "./resources.ts";
import { badRequest, notFound } from "./status.ts";

/** Lines a container has "printed" before any follow. */
export const INITIAL_LOG_LINES = 5;

/** The n-th log line of a container (1-based). */
export function logLine(pod: string, container: string, n: number): string {
  return `log line ${n} from ${pod}/${container}`;
}

/** Serves GET pods/<name>/log. */
export function handleLogs(ctx: RequestContext): void {
  const pods = findByResource("", "v1", "pods")!;
  const pod = ctx.store.get(pods, ctx.info.namespace, ctx.info.name);
  if (!pod) throw notFound("", "pods", ctx.info.name);
  const containers = ((pod["spec"] as { containers?: Array<{ name: string }> })?.containers ?? []).map((c) => c.name);
  const container = ctx.query.get("container") ?? containers[0] ?? "";
  if (!ctx.query.get("container") && containers.length > 1) {
    throw badRequest(`a container name must be specified for pod ${ctx.info.name}, choose one of: [${containers.join(" ")}]`);
  }
  if (!containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${ctx.info.name}`);
  const withTime = queryFlag(ctx.query, "timestamps");
  const format = (n: number) => `${withTime ? `${timestamp()} ` : ""}${logLine(meta(pod).name ?? "", container, n)}\n`;
  const tail = ctx.query.get("tailLines");
  const first = tail === null ? 1 : Math.max(1, INITIAL_LOG_LINES - Number(tail) + 1);
  const res = ctx.res as ServerResponse;
  startStream(ctx.res, "text/plain");
  let n = first;
  for (; n <= INITIAL_LOG_LINES; n++) res.write(format(n));
  if (!queryFlag(ctx.query, "follow")) {
    res.end();
    return;
  }
  const timer = setInterval(() => res.write(format(n++)), ctx.timings.logLineIntervalMs);
  const unregister = ctx.streams.add("log", () => res.end());
  ctx.res.on("close", () => {
    clearInterval(timer);
    unregister();
  });
  res.on("finish", () => {
    clearInterval(timer);
    unregister();
  });
}
