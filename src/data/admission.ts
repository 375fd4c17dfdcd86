/**
 * The admission chain every data-plane request passes before anything reaches a member:
 * route → authenticate → parse the Kubernetes request → authorize → build upstream
 * headers (client credentials and identity stripped, the gateway's own set after).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { RateLimiter } from "../net/rate-limit.ts";
import type { GatewayClaims } from "../token/claims.ts";
import { bearerToken, webSocketBearer } from "../net/bearer.ts";
import { authenticate, liveGrants, type AccessOptions } from "./authenticate.ts";
import { authorize } from "./authorize.ts";
import type { GrantView } from "../sync/view.ts";
import { forbidden } from "./forbidden.ts";
import { identityHeaders, queryCarriesToken, requestIdHeader, sanitizeRequestHeaders } from "./headers.ts";
import type { IdentityMode } from "../store/types.ts";
import { parseRequestInfo, type RequestInfo } from "./request-info.ts";
import { parseRoute } from "./route.ts";
import { DataPathError } from "../forward/kube-status.ts";
import type { Upstream, Upstreams } from "../forward/upstream.ts";

const BODILESS = new Set(["GET", "HEAD", "OPTIONS"]);

export interface AdmitContext {
  access: AccessOptions;
  upstreams: Upstreams;
  impersonationPrefix: string;
  /** Per-user request limit on this replica, when configured. */
  limiter?: RateLimiter;
}

export interface Admitted {
  cluster: string;
  /** Kubernetes path plus query, as sent. */
  target: string;
  claims: GatewayClaims;
  info: RequestInfo;
  /** The query, parsed once for the whole request. */
  query: URLSearchParams;
  grant: GrantView;
  upstream: Upstream;
  headers: Record<string, string | string[]>;
}

/** Partial facts for the audit line of a refused request. */
export interface AdmitFacts {
  cluster?: string;
  claims?: GatewayClaims;
  info?: RequestInfo;
}

/** A token's identity headers for one grant, mode and prefix; a token's requests mostly share them. */
interface IdentityEntry {
  grantId: string;
  mode: IdentityMode;
  prefix: string;
  headers: Record<string, string | string[]>;
}

/** Keyed by the verifier's cached claims object, so an entry lives as long as its token's cache entry. */
const identities = new WeakMap<GatewayClaims, IdentityEntry>();

/** The identity headers (all but the per-request audit-id) for a token's claims and the grant that allowed the request. */
function identityOf(claims: GatewayClaims, grantId: string, mode: IdentityMode, prefix: string): Record<string, string | string[]> {
  const hit = identities.get(claims);
  if (hit !== undefined && hit.grantId === grantId && hit.mode === mode && hit.prefix === prefix) return hit.headers;
  const headers = identityHeaders({ mode, user: claims.sub, groups: claims.groups, grantIds: [grantId], tokenId: claims.jti, prefix });
  identities.set(claims, { grantId, mode, prefix, headers });
  return headers;
}

export async function admit(
  ctx: AdmitContext,
  req: { method: string; url: string; headers: IncomingHttpHeaders; upgrade: boolean; requestId: string },
  facts: AdmitFacts,
): Promise<Admitted> {
  const route = parseRoute(req.url);
  // A body on a bodiless method would desynchronise a pooled member connection (the
  // forwarder drops it, the member waits for it): refuse it outright.
  if (BODILESS.has(req.method) && (Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined))
    throw new DataPathError("invalid", `a ${req.method} request must not have a body`, { status: 400 });
  if (!route.ok) throw new DataPathError(route.status === 404 ? "notFound" : "invalid", route.message, { status: route.status });
  facts.cluster = route.cluster;
  const token = bearerToken(req.headers.authorization) ?? (req.upgrade ? webSocketBearer(req.headers["sec-websocket-protocol"]) : undefined);
  const caller = await authenticate(ctx.access, token, route.cluster);
  facts.claims = caller.claims;
  const wait = ctx.limiter?.take(caller.claims.sub) ?? 0;
  if (wait > 0)
    throw new DataPathError("rateLimited", `too many requests from ${caller.claims.sub}: retry in ${Math.ceil(wait / 1000)}s`, {
      retryAfterSeconds: Math.ceil(wait / 1000),
    });
  const query = new URLSearchParams(route.query);
  const info = parseRequestInfo(req.method, route.path, query);
  facts.info = info;
  if (queryCarriesToken(route.query, caller.token))
    throw new DataPathError("invalid", "the kubegate token must not be sent in the query string", { status: 400 });
  const decision = authorize(info, liveGrants(ctx.access.view, caller.claims), route.cluster, new Date(ctx.access.clock()));
  if (!decision.allowed) throw forbidden(info, `${ctx.impersonationPrefix}${caller.claims.sub}`, decision.message, decision.reason);
  const upstream = ctx.upstreams.get(caller.cluster);
  // One object, filled in place: spreads and `delete` cost a copy each and a slow shape.
  const headers = sanitizeRequestHeaders(req.headers, { keepUpgrade: req.upgrade, dropContentLength: BODILESS.has(req.method) });
  const identity = identityOf(caller.claims, decision.grant.id, caller.cluster.identityMode, ctx.impersonationPrefix);
  for (const name in identity) headers[name] = identity[name]!;
  headers["audit-id"] = requestIdHeader(req.requestId);
  // Front-proxy mode: the front-proxy certificate is the only credential (its upstream has no authorization).
  if (upstream.authorization !== undefined) headers["authorization"] = upstream.authorization;
  return {
    cluster: route.cluster,
    target: route.query === "" ? route.path : `${route.path}?${route.query}`,
    claims: caller.claims,
    info,
    query,
    grant: decision.grant,
    upstream,
    headers,
  };
}
