/**
 * The data plane's 403 in the API server's own words. People and scripts look for
 * `configmaps "x" is forbidden: User "kubegate:alice" cannot create resource …`, and
 * clients read the Status details (name, group, kind); kubegate's reason follows after a
 * colon, as the API server puts its authorizer's reason. Pure.
 */
import type { RequestInfo } from "./request-info.ts";
import { DataPathError, type StatusDetails } from "../forward/kube-status.ts";

/** kube-apiserver escapes these in forbidden messages; so do we, so the two read alike. */
const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** "User "u" cannot create resource "configmaps" in API group "" in the namespace "a"". */
function cannot(info: RequestInfo, user: string): string {
  if (!info.isResourceRequest) return `User ${JSON.stringify(user)} cannot ${info.verb} path ${JSON.stringify(info.path)}`;
  const resource = info.subresource === "" ? info.resource : `${info.resource}/${info.subresource}`;
  const what = `User ${JSON.stringify(user)} cannot ${info.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(info.apiGroup)}`;
  return info.namespace === "" ? `${what} at the cluster scope` : `${what} in the namespace ${JSON.stringify(info.namespace)}`;
}

/** The Status a refused request gets: the API server's sentence, then kubegate's reason. */
export function forbidden(info: RequestInfo, user: string, reason: string, detail: string): DataPathError {
  const because = `${escapeHtml(cannot(info, user))}: ${reason}`;
  if (!info.isResourceRequest || info.resource === "") return new DataPathError("forbidden", `forbidden: ${because}`, { detail });
  const qualified = info.apiGroup === "" ? info.resource : `${info.resource}.${info.apiGroup}`;
  const subject = info.name === "" ? qualified : `${qualified} ${JSON.stringify(info.name)}`;
  const details: StatusDetails = { kind: info.resource };
  if (info.name !== "") details.name = info.name;
  if (info.apiGroup !== "") details.group = info.apiGroup;
  return new DataPathError("forbidden", `${subject} is forbidden: ${because}`, { detail, details });
}
