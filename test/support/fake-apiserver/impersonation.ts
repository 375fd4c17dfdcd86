/**
 * Impersonation headers handled as kube-apiserver's WithImpersonation filter does:
 * each requested user, group, uid and extra value needs the `impersonate` verb,
 * checked against the real requester; the result is the identity every later
 * step (authorization, audit) sees.
 */
import { type UserInfo, withImpliedGroups } from "./identity.ts";
import type { Authorizer } from "./rbac.ts";
import { headerValues } from "./http-io.ts";
import { badRequest, forbidden } from "./status.ts";

/** Whether the request carries any impersonation header. */
export function wantsImpersonation(headers: Record<string, string | string[]>): boolean {
  return Object.keys(headers).some((h) => h.startsWith("impersonate-"));
}

type Check = { group: string; resource: string; subresource: string; namespace: string; name: string };

function checkOrThrow(authorize: Authorizer, requester: UserInfo, c: Check): void {
  const allowed = authorize({ user: requester, verb: "impersonate", resourceRequest: true, apiGroup: c.group, resource: c.resource, subresource: c.subresource, namespace: c.namespace, name: c.name, path: "" });
  if (!allowed) {
    throw forbidden({ user: requester.name, verb: "impersonate", group: c.group, resource: c.resource, subresource: c.subresource, namespace: c.namespace || undefined, name: c.name });
  }
}

/** Returns the impersonated identity, or throws 403/400. Call only when wantsImpersonation(). */
export function impersonate(headers: Record<string, string | string[]>, requester: UserInfo, authorize: Authorizer): UserInfo {
  const user = headerValues(headers, "impersonate-user")[0];
  const groups = headerValues(headers, "impersonate-group");
  const uid = headerValues(headers, "impersonate-uid")[0];
  const extra: Record<string, string[]> = {};
  for (const [h, v] of Object.entries(headers)) {
    if (!h.startsWith("impersonate-extra-")) continue;
    // As kube-apiserver: the (lowercased) key is percent-decoded.
    const key = decodeURIComponent(h.slice("impersonate-extra-".length).toLowerCase());
    extra[key] = [...(extra[key] ?? []), ...(Array.isArray(v) ? v : [v])];
  }
  if (user === undefined || user === "") {
    throw badRequest("requested impersonation of groups, uid or extra without impersonating a user");
  }
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
  if (sa) checkOrThrow(authorize, requester, { group: "", resource: "serviceaccounts", subresource: "", namespace: sa[1]!, name: sa[2]! });
  else checkOrThrow(authorize, requester, { group: "", resource: "users", subresource: "", namespace: "", name: user });
  for (const g of groups) checkOrThrow(authorize, requester, { group: "", resource: "groups", subresource: "", namespace: "", name: g });
  if (uid !== undefined) checkOrThrow(authorize, requester, { group: "authentication.k8s.io", resource: "uids", subresource: "", namespace: "", name: uid });
  for (const [key, values] of Object.entries(extra)) {
    for (const value of values) checkOrThrow(authorize, requester, { group: "authentication.k8s.io", resource: "userextras", subresource: key, namespace: "", name: value });
  }
  const result: UserInfo = { name: user, groups };
  if (uid !== undefined) result.uid = uid;
  if (Object.keys(extra).length) result.extra = extra;
  return withImpliedGroups(result);
}
