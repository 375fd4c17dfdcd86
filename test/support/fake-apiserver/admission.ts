/**
 * The request chain both plain requests and upgrades go through, in
 * kube-apiserver's order: authenticate → impersonate → authorize.
 */
import type { TLSSocket } from "node:tls";
import { type AuthenticatedBy, type Authenticators, authenticate } from "./authn.ts";
import type { UserInfo } from "./identity.ts";
import { impersonate, wantsImpersonation } from "./impersonation.ts";
import type { Authorizer } from "./rbac.ts";
import { type RequestInfo, parseRequestInfo } from "./request-info.ts";
import { forbidden, unauthorized } from "./status.ts";

/** Paths anyone may read, like the real server's system:public-info-viewer. */
export const ANONYMOUS_PATHS = new Set(["/healthz", "/livez", "/readyz", "/version", "/version/"]);

/** The outcome of admission. */
export interface Admitted {
  info: RequestInfo;
  /** Who authenticated; undefined only on anonymous public paths. */
  requester?: UserInfo;
  /** Set when impersonation headers were honoured. */
  impersonated?: UserInfo;
  /** The identity to act as. */
  user?: UserInfo;
}

/** Everything admission needs from a request. */
export interface AdmissionInput {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[]>;
  socket: TLSSocket;
  authn: Authenticators;
  authorize: Authorizer;
  /** Receives identities as soon as they are known, so the request log has them even when admission fails later. */
  onIdentity?: (requester: UserInfo | undefined, impersonated: UserInfo | undefined, by?: AuthenticatedBy) => void;
  /** Receives why authentication failed (kube-apiserver logs it; the client sees only "Unauthorized"). */
  onAuthenticationErrors?: (errors: string[]) => void;
}

/** Runs the chain; throws 401/403/400 as ApiError. */
export function admit(a: AdmissionInput): Admitted {
  const info = parseRequestInfo(a.method, a.path, a.query);
  const authenticated = authenticate(a.headers, a.socket, a.authn);
  if (authenticated !== undefined && "errors" in authenticated) {
    a.onAuthenticationErrors?.(authenticated.errors);
    throw unauthorized();
  }
  const requester = authenticated?.user;
  a.onIdentity?.(requester, undefined, authenticated?.by);
  if (!requester) {
    if (ANONYMOUS_PATHS.has(a.path) && a.method === "GET") return { info };
    throw unauthorized();
  }
  let user = requester;
  let impersonated: UserInfo | undefined;
  if (wantsImpersonation(a.headers)) {
    impersonated = impersonate(a.headers, requester, a.authorize);
    user = impersonated;
    a.onIdentity?.(requester, impersonated, authenticated?.by);
  }
  if (ANONYMOUS_PATHS.has(a.path)) return { info, requester, impersonated, user };
  const allowed = a.authorize({ user, verb: info.verb, resourceRequest: info.resourceRequest, apiGroup: info.apiGroup, resource: info.resource, subresource: info.subresource, namespace: info.namespace, name: info.name, path: a.path });
  if (!allowed) {
    throw info.resourceRequest
      ? forbidden({ user: user.name, verb: info.verb, group: info.apiGroup, resource: info.resource, subresource: info.subresource, namespace: info.namespace || undefined, name: info.name || undefined })
      : forbidden({ user: user.name, verb: info.verb, group: "", resource: "", path: a.path });
  }
  return { info, requester, impersonated, user };
}
