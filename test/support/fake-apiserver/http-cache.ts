/**
 * ETags and 304 Not Modified for discovery and OpenAPI, as kube-apiserver sends them:
 * kubectl keeps an HTTP cache of both (~/.kube/cache/http) and revalidates it with
 * If-None-Match, so a gateway that mishandles 304 fails against a real server only if the
 * fake does not send them too. The ETag is a hash of the exact representation sent.
 */
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { RequestContext } from "./context.ts";

export interface CacheHeaders {
  "cache-control": string;
  vary: string;
}

/** Whether If-None-Match names this ETag (a list, or "*"). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(",").some((t) => t.trim() === etag || t.trim() === "*" || t.trim() === `W/${etag}`);
}

/** Sends `body` with its ETag, or a bodiless 304 when the client already holds it. */
export function sendCacheable(ctx: RequestContext, body: Buffer, contentType: string, cache: CacheHeaders): void {
  const etag = `"${createHash("sha512").update(contentType).update("\0").update(body).digest("hex").toUpperCase()}"`;
  const res = ctx.res as ServerResponse;
  const headers = { etag, ...cache };
  if (matches(ctx.req.headers["if-none-match"] as string | undefined, etag)) {
    res.writeHead(304, headers);
    return void res.end();
  }
  res.writeHead(200, { ...headers, "content-type": contentType, "content-length": String(body.length) });
  res.end(body);
}

/** What the real server says for discovery (public: the same for every caller) and OpenAPI. */
export const DISCOVERY_CACHE: CacheHeaders = { "cache-control": "public", vary: "Accept" };
export const OPENAPI_CACHE: CacheHeaders = { "cache-control": "no-cache, private", vary: "Accept-Encoding, Accept" };
