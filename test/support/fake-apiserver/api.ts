/**
 * Routes an admitted request to the handler for its path: health, version,
 * discovery, OpenAPI, self reviews, pod logs, or stored objects.
 */
import type { RequestContext } from "./context.ts";
import * as discovery from "./discovery.ts";
import { sendJson } from "./http-io.ts";
import { DISCOVERY_CACHE, OPENAPI_CACHE, sendCacheable } from "./http-cache.ts";
import { handleLogs } from "./logs.ts";
import { handleObjects } from "./objects.ts";
import { OPENAPI_V2_PROTOBUF, openApiDocument, openApiV2Document } from "./openapi.ts";
import { findByResource } from "./resources.ts";
import { handleReview } from "./reviews.ts";
import { apiError, badRequest } from "./status.ts";
import type { ServerResponse } from "node:http";

/** 404 for paths the fake does not serve, worded as the real server. */
export function notServed() {
  return apiError(404, "NotFound", "the server could not find the requested resource", {});
}

/** Settings discovery needs. */
export interface ApiSettings {
  version: discovery.VersionInfo;
  serverAddress: string;
}

function sendText(ctx: RequestContext, text: string): void {
  const r = ctx.res as ServerResponse;
  r.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
  r.end(text);
}

function nonResource(ctx: RequestContext, s: ApiSettings): void {
  const { path, info } = { path: ctx.info.path.replace(/\/+$/, "") || "/", info: ctx.info };
  if (path === "/healthz" || path === "/livez" || path === "/readyz") return sendText(ctx, "ok");
  if (path === "/version") return sendJson(ctx.res, 200, discovery.versionDocument(s.version));
  if (path === "/openapi/v2") return sendCacheable(ctx, openApiV2Document(), OPENAPI_V2_PROTOBUF, OPENAPI_CACHE);
  if (path.startsWith("/openapi/")) {
    const doc = openApiDocument(path);
    if (doc) return sendCacheable(ctx, Buffer.from(JSON.stringify(doc)), "application/json", OPENAPI_CACHE);
    throw notServed();
  }
  if (path === "/api" || path === "/apis") {
    const agg = discovery.negotiateAggregated(String(ctx.req.headers["accept"] ?? ""));
    if (agg) {
      const doc = discovery.aggregatedDiscovery(path === "/api" ? "api" : "apis", agg.version);
      return sendCacheable(ctx, Buffer.from(JSON.stringify(doc)), agg.contentType, DISCOVERY_CACHE);
    }
    return sendJson(ctx.res, 200, path === "/api" ? discovery.coreVersions(s.serverAddress) : discovery.groupList());
  }
  if (info.apiPrefix === "apis" && !info.apiVersion) {
    const g = discovery.group(path.split("/")[2] ?? "");
    if (g) return sendJson(ctx.res, 200, g);
    throw notServed();
  }
  if (info.apiPrefix && info.apiVersion && info.parts.length === 0) {
    const list = discovery.resourceList(info.apiGroup, info.apiVersion);
    if (list) return sendJson(ctx.res, 200, list);
  }
  throw notServed();
}

/** Serves an admitted, non-upgrade request. */
export async function routeApiRequest(ctx: RequestContext, s: ApiSettings): Promise<void> {
  const { info } = ctx;
  if (!info.resourceRequest) return nonResource(ctx, s);
  const t = findByResource(info.apiGroup, info.apiVersion, info.resource);
  if (!t || (t.namespaced === false && info.namespace && info.resource !== "namespaces")) throw notServed();
  if (!t.stored) return handleReview(ctx);
  if (t.resource === "pods" && info.subresource === "log") return handleLogs(ctx);
  if (t.resource === "pods" && ["exec", "attach", "portforward"].includes(info.subresource)) {
    throw badRequest("Upgrade request required");
  }
  return handleObjects(ctx, t);
}
