/**
 * Parses a request path and method into kube-apiserver's RequestInfo: verb,
 * API group and version, namespace, resource, name, subresource. Pure.
 * Written apart from src/data/request-info.ts on purpose: the fake plays the member, so
 * a parsing mistake in the gateway must not be copied into the server that checks it.
 */

/** The parsed request. */
export interface RequestInfo {
  resourceRequest: boolean;
  path: string;
  verb: string;
  apiPrefix: "api" | "apis" | "";
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** Path segments after group/version (for discovery and 404s). */
  parts: string[];
}

const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

function isTrue(v: string | null): boolean {
  return v !== null && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

/** Parses `/api/v1/namespaces/ns/pods/name/log` etc. */
export function parseRequestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const segs = path.split("/").filter((s) => s !== "");
  const info: RequestInfo = {
    resourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiPrefix: "",
    apiGroup: "",
    apiVersion: "",
    namespace: "",
    resource: "",
    subresource: "",
    name: "",
    parts: [],
  };
  const prefix = segs[0];
  if (prefix !== "api" && prefix !== "apis") return info;
  info.apiPrefix = prefix;
  let rest = segs.slice(1);
  if (prefix === "apis") {
    if (rest.length < 2) return info; // /apis or /apis/<group>: discovery
    info.apiGroup = rest[0]!;
    rest = rest.slice(1);
  } else if (rest.length < 1) return info;
  info.apiVersion = rest[0]!;
  rest = rest.slice(1);
  info.parts = rest;
  if (rest.length === 0) return info; // /api/v1: discovery
  info.resourceRequest = true;
  let watchPath = false;
  if (rest[0] === "watch") {
    watchPath = true;
    rest = rest.slice(1);
  }
  if (rest[0] === "namespaces" && rest.length > 1) {
    info.namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  info.resource = rest[0] ?? "";
  info.name = rest[1] ?? "";
  info.subresource = rest.slice(2).join("/");
  const m = method.toUpperCase();
  if (watchPath || (m === "GET" && isTrue(query.get("watch")))) info.verb = "watch";
  else if (m === "GET") info.verb = info.name ? "get" : "list";
  else if (m === "POST") info.verb = "create";
  else if (m === "PUT") info.verb = "update";
  else if (m === "PATCH") info.verb = "patch";
  else if (m === "DELETE") info.verb = info.name ? "delete" : "deletecollection";
  else if (m === "HEAD") info.verb = info.name ? "get" : "list";
  return info;
}

/** Whether a query flag such as `watch`, `follow` or `stdin` is set ("1", "true", "True"). */
export function queryFlag(query: URLSearchParams, name: string): boolean {
  return isTrue(query.get(name));
}
