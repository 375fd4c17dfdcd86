/**
 * Watches: one JSON event per line, written (and so flushed as one chunk or
 * HTTP/2 DATA frame) as it happens. resourceVersion semantics follow the real
 * server: absent or "0" starts with synthetic ADDED events for current objects;
 * any other value replays history after it (ERROR 410 when too old). Selector
 * watches turn objects leaving the selection into DELETED and entering into ADDED.
 */
import type { ServerResponse } from "node:http";
import type { RequestContext } from "./context.ts";
import { startStream } from "./http-io.ts";
import { type KubeObject, meta } from "./object.ts";
import { queryFlag } from "./request-info.ts";
import { type ResourceType, groupVersion } from "./resources.ts";
import { isApiError } from "./status.ts";
import type { StoreEvent } from "./store.ts";
import { tableContentType, toTable, wantsTable } from "./table.ts";

type WatchType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** Decides what a store event means to a watch with the given predicate (undefined: nothing). */
export function translateEvent(e: StoreEvent, matches: (o: KubeObject) => boolean): { type: WatchType; object: KubeObject } | undefined {
  const now = matches(e.object);
  const before = e.previous !== undefined && matches(e.previous);
  if (e.type === "ADDED") return now ? { type: "ADDED", object: e.object } : undefined;
  if (e.type === "DELETED") return before || now ? { type: "DELETED", object: e.object } : undefined;
  if (now) return { type: before ? "MODIFIED" : "ADDED", object: e.object };
  return before ? { type: "DELETED", object: e.object } : undefined;
}

/** Serves `?watch=1` on a resource. */
export function handleWatch(ctx: RequestContext, t: ResourceType, predicate: (o: KubeObject) => boolean): void {
  const ns = t.namespaced ? ctx.info.namespace : "";
  const name = ctx.info.name;
  const matches = (o: KubeObject) => (!ns || meta(o).namespace === ns) && (!name || meta(o).name === name) && predicate(o);
  const table = wantsTable(String(ctx.req.headers["accept"] ?? ""));
  const res = ctx.res as ServerResponse;
  const rvParam = ctx.query.get("resourceVersion");
  let ended = false;
  const timers: NodeJS.Timeout[] = [];

  const encode = (type: WatchType, object: KubeObject): string => {
    const out = table && type !== "ERROR" && type !== "BOOKMARK" ? toTable(t, [object], { version: table, includeObject: ctx.query.get("includeObject"), listMeta: { resourceVersion: meta(object).resourceVersion } }) : object;
    return JSON.stringify({ type, object: out }) + "\n";
  };
  const send = (type: WatchType, object: KubeObject) => {
    if (!ended) res.write(encode(type, object));
  };

  startStream(ctx.res, table ? tableContentType(table) : "application/json");

  const unregister = ctx.streams.add("watch", () => end());
  let unsubscribe = () => {};
  function end(): void {
    if (ended) return;
    ended = true;
    unsubscribe();
    unregister();
    for (const timer of timers) clearTimeout(timer);
    if (!res.writableEnded && !res.destroyed) res.end();
  }
  ctx.res.on("close", end);

  // History is read and the subscription made in one synchronous turn, so no event falls between them.
  if (!rvParam || rvParam === "0") {
    for (const o of ctx.store.list(t, ns || undefined).filter(matches)) send("ADDED", o);
    if (queryFlag(ctx.query, "sendInitialEvents") && queryFlag(ctx.query, "allowWatchBookmarks")) {
      send("BOOKMARK", { kind: t.kind, apiVersion: groupVersion(t), metadata: { resourceVersion: String(ctx.store.resourceVersion()), annotations: { "k8s.io/initial-events-end": "true" } } });
    }
  } else {
    try {
      for (const e of ctx.store.eventsSince(Number(rvParam))) {
        const out = translateEvent(e, matches);
        if (out) send(out.type, out.object);
      }
    } catch (err) {
      if (!isApiError(err)) throw err;
      send("ERROR", err.status as unknown as KubeObject);
      end();
      return;
    }
  }
  unsubscribe = ctx.store.subscribe((e) => {
    if (e.resourceType !== t) return;
    const out = translateEvent(e, matches);
    if (out) send(out.type, out.object);
  });

  if (queryFlag(ctx.query, "allowWatchBookmarks")) {
    timers.push(
      setInterval(() => send("BOOKMARK", { kind: t.kind, apiVersion: groupVersion(t), metadata: { resourceVersion: String(ctx.store.resourceVersion()) } }), ctx.timings.bookmarkIntervalMs),
    );
  }
  const timeout = Number(ctx.query.get("timeoutSeconds") ?? "0");
  if (timeout > 0) timers.push(setTimeout(end, timeout * 1000));
}
