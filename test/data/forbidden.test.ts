/** The data plane's 403 words, checked against what kube-apiserver v1.32 says for the same request. */
import { describe, expect, it } from "vitest";
import { forbidden } from "../../src/data/forbidden.ts";
import { statusBody } from "../../src/forward/kube-status.ts";
import { parseRequestInfo } from "../../src/data/request-info.ts";

const USER = "kubegate:alice";
const refuse = (method: string, path: string, query = "") => statusBody(forbidden(parseRequestInfo(method, path, new URLSearchParams(query)), USER, "why", "audit detail"));

describe("forbidden", () => {
  it.each([
    ["POST", "/api/v1/namespaces/a/configmaps", "", `configmaps is forbidden: User "kubegate:alice" cannot create resource "configmaps" in API group "" in the namespace "a": why`, { kind: "configmaps" }],
    ["DELETE", "/api/v1/namespaces/a/configmaps/x", "", `configmaps "x" is forbidden: User "kubegate:alice" cannot delete resource "configmaps" in API group "" in the namespace "a": why`, { kind: "configmaps", name: "x" }],
    ["GET", "/apis/apps/v1/deployments", "watch=true", `deployments.apps is forbidden: User "kubegate:alice" cannot watch resource "deployments" in API group "apps" at the cluster scope: why`, { kind: "deployments", group: "apps" }],
    ["POST", "/api/v1/namespaces/a/pods/web/exec", "", `pods "web" is forbidden: User "kubegate:alice" cannot create resource "pods/exec" in API group "" in the namespace "a": why`, { kind: "pods", name: "web" }],
    ["DELETE", "/api/v1/namespaces/a/secrets", "", `secrets is forbidden: User "kubegate:alice" cannot deletecollection resource "secrets" in API group "" in the namespace "a": why`, { kind: "secrets" }],
    ["POST", "/version", "", `forbidden: User "kubegate:alice" cannot post path "/version": why`, undefined],
  ])("%s %s?%s", (method, path, query, message, details) => {
    const body = refuse(method, path, query);
    expect(body).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403, message });
    expect(body.details).toEqual(details);
  });

  it("escapes HTML in the API server's part as kube-apiserver does, not in kubegate's reason", () => {
    const info = parseRequestInfo("GET", "/api/v1/namespaces/a/configmaps/<b>", new URLSearchParams());
    const body = statusBody(forbidden(info, "kubegate:a&b", "grant <x>", ""));
    expect(body.message).toBe(`configmaps "<b>" is forbidden: User "kubegate:a&amp;b" cannot get resource "configmaps" in API group "" in the namespace "a": grant <x>`);
  });
});
