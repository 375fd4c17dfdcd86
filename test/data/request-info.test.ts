import { describe, expect, it } from "vitest";
import { parseRequestInfo, type RequestInfo } from "../../src/data/request-info.ts";

/** The fields a case states; the rest must be empty/false. */
type Expected = Partial<Omit<RequestInfo, "path">>;

const EMPTY: Omit<RequestInfo, "path"> = {
  isResourceRequest: false,
  verb: "",
  apiPrefix: "",
  apiGroup: "",
  apiVersion: "",
  namespace: "",
  resource: "",
  subresource: "",
  name: "",
};

function parse(method: string, target: string): RequestInfo {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  return parseRequestInfo(method, path, new URLSearchParams(q === -1 ? "" : target.slice(q + 1)));
}

const core = { isResourceRequest: true, apiPrefix: "api", apiVersion: "v1" } as const;
const apps = { isResourceRequest: true, apiPrefix: "apis", apiGroup: "apps", apiVersion: "v1" } as const;

const cases: [method: string, target: string, expected: Expected][] = [
  // kubectl's everyday requests
  ["GET", "/api/v1/namespaces/default/pods?limit=500", { ...core, verb: "list", namespace: "default", resource: "pods" }],
  ["GET", "/api/v1/namespaces/default/pods/web-1", { ...core, verb: "get", namespace: "default", resource: "pods", name: "web-1" }],
  ["HEAD", "/api/v1/namespaces/default/pods/web-1", { ...core, verb: "get", namespace: "default", resource: "pods", name: "web-1" }],
  ["GET", "/apis/apps/v1/namespaces/ns/deployments/web", { ...apps, verb: "get", namespace: "ns", resource: "deployments", name: "web" }],
  ["GET", "/api/v1/configmaps", { ...core, verb: "list", resource: "configmaps" }],
  ["GET", "/apis/apps/v1/deployments?limit=500", { ...apps, verb: "list", resource: "deployments" }],
  ["POST", "/api/v1/namespaces/ns/configmaps", { ...core, verb: "create", namespace: "ns", resource: "configmaps" }],
  ["PUT", "/api/v1/namespaces/ns/configmaps/c", { ...core, verb: "update", namespace: "ns", resource: "configmaps", name: "c" }],
  ["PATCH", "/apis/apps/v1/namespaces/ns/deployments/web", { ...apps, verb: "patch", namespace: "ns", resource: "deployments", name: "web" }],
  ["PATCH", "/apis/apps/v1/namespaces/ns/deployments/web/scale", { ...apps, verb: "patch", namespace: "ns", resource: "deployments", name: "web", subresource: "scale" }],
  ["DELETE", "/api/v1/namespaces/ns/pods/p", { ...core, verb: "delete", namespace: "ns", resource: "pods", name: "p" }],
  ["DELETE", "/api/v1/namespaces/ns/pods?labelSelector=app%3Dweb", { ...core, verb: "deletecollection", namespace: "ns", resource: "pods" }],
  ["DELETE", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dp", { ...core, verb: "deletecollection", namespace: "ns", resource: "pods" }],
  // watch, by query and by the legacy path prefix
  ["GET", "/api/v1/namespaces/ns/configmaps?watch=1&resourceVersion=5", { ...core, verb: "watch", namespace: "ns", resource: "configmaps" }],
  ["GET", "/api/v1/namespaces/ns/configmaps?watch=true", { ...core, verb: "watch", namespace: "ns", resource: "configmaps" }],
  ["GET", "/api/v1/namespaces/ns/configmaps?watch=TRUE", { ...core, verb: "watch", namespace: "ns", resource: "configmaps" }],
  ["GET", "/api/v1/namespaces/ns/configmaps?watch=", { ...core, verb: "watch", namespace: "ns", resource: "configmaps" }],
  ["GET", "/api/v1/namespaces/ns/configmaps?watch=0", { ...core, verb: "list", namespace: "ns", resource: "configmaps" }],
  ["GET", "/api/v1/namespaces/ns/configmaps?watch=False", { ...core, verb: "list", namespace: "ns", resource: "configmaps" }],
  ["GET", "/api/v1/namespaces/ns/configmaps?watch=false&watch=true", { ...core, verb: "list", namespace: "ns", resource: "configmaps" }],
  ["GET", "/api/v1/namespaces/ns/configmaps/c?watch=true", { ...core, verb: "get", namespace: "ns", resource: "configmaps", name: "c" }],
  ["GET", "/api/v1/watch/namespaces/ns/pods", { ...core, verb: "watch", namespace: "ns", resource: "pods" }],
  ["GET", "/api/v1/watch/namespaces/ns/pods/p", { ...core, verb: "watch", namespace: "ns", resource: "pods", name: "p" }],
  ["GET", "/api/v1/watch/pods", { ...core, verb: "watch", resource: "pods" }],
  ["GET", "/apis/apps/v1/watch/namespaces/ns/deployments", { ...apps, verb: "watch", namespace: "ns", resource: "deployments" }],
  ["GET", "/api/v1/watch", { ...core, verb: "watch" }],
  // fieldSelector=metadata.name=x names the object of a list or watch, as Kubernetes does for authorization
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3Dteam-a", { ...core, verb: "list", resource: "namespaces", name: "team-a" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3Dteam-a&watch=true", { ...core, verb: "watch", resource: "namespaces", name: "team-a" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3D%3Dteam-a", { ...core, verb: "list", resource: "namespaces", name: "team-a" }],
  ["GET", "/api/v1/namespaces?fieldSelector=status.phase%3DActive,metadata.name%3Dteam-a", { ...core, verb: "list", resource: "namespaces", name: "team-a" }],
  ["GET", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dp", { ...core, verb: "list", namespace: "ns", resource: "pods", name: "p" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name!%3Dteam-a", { ...core, verb: "list", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.namespace%3Dteam-a", { ...core, verb: "list", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3D..", { ...core, verb: "list", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3Da/b", { ...core, verb: "list", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3D", { ...core, verb: "list", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3Dteam-a,bogus", { ...core, verb: "list", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3Dteam\\a", { ...core, verb: "list", resource: "namespaces" }],
  // Pairs Go's query parser would drop (';', a bad escape) or repeat do not count: the member might list everything.
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3Dteam-a,x%3D;", { ...core, verb: "list", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3Dteam-a,x%3D%zz", { ...core, verb: "list", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces?fieldSelector=metadata.name%3Dteam-a&fieldSelector=", { ...core, verb: "list", resource: "namespaces" }],
  // the namespaces resource itself
  ["GET", "/api/v1/namespaces", { ...core, verb: "list", resource: "namespaces" }],
  ["POST", "/api/v1/namespaces", { ...core, verb: "create", resource: "namespaces" }],
  ["GET", "/api/v1/namespaces/foo", { ...core, verb: "get", namespace: "foo", resource: "namespaces", name: "foo" }],
  ["DELETE", "/api/v1/namespaces/foo", { ...core, verb: "delete", namespace: "foo", resource: "namespaces", name: "foo" }],
  ["GET", "/api/v1/namespaces/foo/status", { ...core, verb: "get", namespace: "foo", resource: "namespaces", name: "foo", subresource: "status" }],
  ["PUT", "/api/v1/namespaces/foo/finalize", { ...core, verb: "update", namespace: "foo", resource: "namespaces", name: "foo", subresource: "finalize" }],
  ["GET", "/api/v1/namespaces/foo/pods", { ...core, verb: "list", namespace: "foo", resource: "pods" }],
  // subresources
  ["POST", "/api/v1/namespaces/ns/pods/p/exec?command=sh&stdin=true", { ...core, verb: "create", namespace: "ns", resource: "pods", name: "p", subresource: "exec" }],
  ["GET", "/api/v1/namespaces/ns/pods/p/exec?command=sh&stdin=true", { ...core, verb: "get", namespace: "ns", resource: "pods", name: "p", subresource: "exec" }],
  ["POST", "/api/v1/namespaces/ns/pods/p/attach?stdin=true", { ...core, verb: "create", namespace: "ns", resource: "pods", name: "p", subresource: "attach" }],
  ["POST", "/api/v1/namespaces/ns/pods/p/portforward", { ...core, verb: "create", namespace: "ns", resource: "pods", name: "p", subresource: "portforward" }],
  ["GET", "/api/v1/namespaces/ns/pods/p/log?follow=true", { ...core, verb: "get", namespace: "ns", resource: "pods", name: "p", subresource: "log" }],
  ["GET", "/api/v1/namespaces/ns/pods/p/proxy/metrics/x", { ...core, verb: "get", namespace: "ns", resource: "pods", name: "p", subresource: "proxy" }],
  ["GET", "/api/v1/namespaces/ns/services/https:svc:443/proxy/", { ...core, verb: "get", namespace: "ns", resource: "services", name: "https:svc:443", subresource: "proxy" }],
  ["GET", "/api/v1/nodes/n1/proxy/configz", { ...core, verb: "get", resource: "nodes", name: "n1", subresource: "proxy" }],
  ["PUT", "/api/v1/namespaces/ns/pods/p/status", { ...core, verb: "update", namespace: "ns", resource: "pods", name: "p", subresource: "status" }],
  ["POST", "/api/v1/namespaces/ns/pods/p/eviction", { ...core, verb: "create", namespace: "ns", resource: "pods", name: "p", subresource: "eviction" }],
  ["POST", "/api/v1/namespaces/ns/serviceaccounts/sa/token", { ...core, verb: "create", namespace: "ns", resource: "serviceaccounts", name: "sa", subresource: "token" }],
  // legacy proxy verb: no subresource after the name
  ["GET", "/api/v1/proxy/namespaces/ns/pods/p/x/y", { ...core, verb: "proxy", namespace: "ns", resource: "pods", name: "p" }],
  ["POST", "/api/v1/proxy/nodes/n1/run", { ...core, verb: "proxy", resource: "nodes", name: "n1" }],
  // cluster-scoped and self reviews
  ["GET", "/api/v1/nodes", { ...core, verb: "list", resource: "nodes" }],
  ["DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", { isResourceRequest: true, apiPrefix: "apis", apiGroup: "rbac.authorization.k8s.io", apiVersion: "v1", verb: "delete", resource: "clusterroles", name: "x" }],
  ["POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", { isResourceRequest: true, apiPrefix: "apis", apiGroup: "authorization.k8s.io", apiVersion: "v1", verb: "create", resource: "selfsubjectaccessreviews" }],
  ["POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", { isResourceRequest: true, apiPrefix: "apis", apiGroup: "authentication.k8s.io", apiVersion: "v1", verb: "create", resource: "selfsubjectreviews" }],
  // a trailing slash changes nothing
  ["GET", "/api/v1/namespaces/ns/pods/", { ...core, verb: "list", namespace: "ns", resource: "pods" }],
  // methods Kubernetes does not map to a verb
  ["OPTIONS", "/api/v1/namespaces/ns/pods", { ...core, verb: "", namespace: "ns", resource: "pods" }],
  ["get", "/api/v1/namespaces/ns/pods/p", { ...core, verb: "", namespace: "ns", resource: "pods", name: "p" }],
  // discovery and other non-resource paths: the verb is the lowercased method
  ["GET", "/api", { verb: "get" }],
  ["GET", "/api/", { verb: "get" }],
  ["GET", "/apis", { verb: "get" }],
  ["GET", "/api/v1", { verb: "get" }],
  ["GET", "/apis/apps", { verb: "get" }],
  ["GET", "/apis/apps/v1", { verb: "get", apiPrefix: "apis" }],
  ["GET", "/version", { verb: "get" }],
  ["GET", "/version?timeout=32s", { verb: "get" }],
  ["GET", "/healthz", { verb: "get" }],
  ["GET", "/metrics", { verb: "get" }],
  ["GET", "/openapi/v2", { verb: "get" }],
  ["GET", "/openapi/v3/apis/apps/v1?hash=abc", { verb: "get" }],
  ["HEAD", "/openapi/v3", { verb: "head" }],
  ["POST", "/version", { verb: "post" }],
  ["DELETE", "/logs/x/y", { verb: "delete" }],
  ["GET", "/", { verb: "get" }],
  // The member decodes the path before it parses it; so do we.
  ["GET", "/%61pi/v1/namespaces/ns/secrets", { ...core, verb: "list", namespace: "ns", resource: "secrets" }],
  ["GET", "/api/v1/namespaces/ns/secret%73/s", { ...core, verb: "get", namespace: "ns", resource: "secrets", name: "s" }],
  ["GET", "/api/v1/namespaces/ns/pods/p/%65xec", { ...core, verb: "get", namespace: "ns", resource: "pods", name: "p", subresource: "exec" }],
  ["GET", "/%61pi/v1/namespaces/ns/pods/p/proxy/%ff", { ...core, verb: "get", namespace: "ns", resource: "pods", name: "p", subresource: "proxy" }],
  ["GET", "/API/v1/namespaces/ns/secrets", { verb: "get" }],
];

describe("parseRequestInfo", () => {
  it.each(cases)("%s %s", (method, target, expected) => {
    const path = target.split("?")[0]!;
    expect(parse(method, target)).toEqual({ ...EMPTY, ...expected, path });
  });
});
