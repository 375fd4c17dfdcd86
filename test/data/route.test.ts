import { describe, expect, it } from "vitest";
import { parseRoute, percentDecodePath, percentDecodePathLenient } from "../../src/data/route.ts";

describe("parseRoute accepts canonical targets", () => {
  const cases: [target: string, cluster: string, path: string, query: string][] = [
    ["/clusters/a/api/v1/namespaces/default/pods?limit=500", "a", "/api/v1/namespaces/default/pods", "limit=500"],
    ["/clusters/prod-eu-1/apis/apps/v1/namespaces/ns/deployments/web", "prod-eu-1", "/apis/apps/v1/namespaces/ns/deployments/web", ""],
    ["/clusters/a", "a", "/", ""],
    ["/clusters/a/", "a", "/", ""],
    ["/clusters/a?timeout=32s", "a", "/", "timeout=32s"],
    ["/clusters/a/api/", "a", "/api/", ""],
    ["/clusters/0/version", "0", "/version", ""],
    ["/clusters/a/api?x=/../b", "a", "/api", "x=/../b"],
    ["/clusters/a/api?x=%2e%2e%2fb&y=%00", "a", "/api", "x=%2e%2e%2fb&y=%00"],
    ["/clusters/a/api?", "a", "/api", ""],
    ["/clusters/a/api?a=1?b=2", "a", "/api", "a=1?b=2"],
    ["/clusters/a/openapi/v3/apis/apps/v1?hash=ABC", "a", "/openapi/v3/apis/apps/v1", "hash=ABC"],
    // Escapes other than dot, slash, backslash and NUL pass through undecoded.
    ["/clusters/a/api/v1/namespaces/ns/services/svc%3Ahttp/proxy/x%20y", "a", "/api/v1/namespaces/ns/services/svc%3Ahttp/proxy/x%20y", ""],
    ["/clusters/a/api/v1/namespaces/x%2Dy/pods", "a", "/api/v1/namespaces/x%2Dy/pods", ""],
    ["/clusters/a/api/v1/namespaces/ns/configmaps/caf%C3%A9", "a", "/api/v1/namespaces/ns/configmaps/caf%C3%A9", ""],
    // Dots inside a segment are not dot segments.
    ["/clusters/a/apis/rbac.authorization.k8s.io/v1/clusterroles", "a", "/apis/rbac.authorization.k8s.io/v1/clusterroles", ""],
    ["/clusters/a/api/v1/namespaces/ns/configmaps/..x", "a", "/api/v1/namespaces/ns/configmaps/..x", ""],
    [`/clusters/${"a".repeat(63)}/api`, "a".repeat(63), "/api", ""],
    ["/clusters/a-b-c/api", "a-b-c", "/api", ""],
  ];
  it.each(cases)("%s", (target, cluster, path, query) => {
    expect(parseRoute(target)).toEqual({ ok: true, cluster, path, query });
  });
});

describe("parseRoute refuses everything else", () => {
  const cases: [target: string, status: 400 | 404, message: RegExp][] = [
    // Not ours.
    ["/", 404, /kubegate serves \/clusters\/<cluster>\/<kubernetes path>/],
    ["/api/v1/pods", 404, /not found/],
    ["/clusters", 404, /not found/],
    ["/clusters?x=1", 404, /not found/],
    ["/Clusters/a/api", 404, /not found/],
    ["//clusters/a/api", 404, /not found/],
    ["/%63lusters/a/api", 404, /not found/],
    // Not origin-form.
    ["*", 400, /must be a path/],
    ["https://gateway.example/clusters/a/api", 400, /must be a path/],
    ["clusters/a/api", 400, /must be a path/],
    ["", 400, /must be a path/],
    ["/clusters/a/api#frag", 400, /fragment/],
    ["/clusters/a/api?x=1#frag", 400, /fragment/],
    // Cluster segment.
    ["/clusters/", 400, /missing cluster name/],
    ["/clusters//a/api", 400, /missing cluster name/],
    ["/clusters/A/api", 400, /DNS-1123/],
    ["/clusters/a_b/api", 400, /DNS-1123/],
    ["/clusters/-a/api", 400, /DNS-1123/],
    ["/clusters/a-/api", 400, /DNS-1123/],
    ["/clusters/a.b/api", 400, /DNS-1123/],
    [`/clusters/${"a".repeat(64)}/api`, 400, /DNS-1123/],
    [`/clusters/${"a".repeat(5000)}/api`, 400, /DNS-1123/],
    ["/clusters/a%2fb/api", 400, /encoded '\/'/],
    ["/clusters/%61/api", 400, /spelled literally/],
    ["/clusters/a%2Db/api", 400, /spelled literally/],
    ["/clusters/./a/api", 400, /'\.' or '\.\.' segments/],
    ["/clusters/../a/api", 400, /'\.' or '\.\.' segments/],
    // Dot segments anywhere.
    ["/clusters/a/../b/api", 400, /'\.' or '\.\.' segments/],
    ["/clusters/a/./api", 400, /'\.' or '\.\.' segments/],
    ["/clusters/a/api/v1/namespaces/x/../y/pods", 400, /'\.' or '\.\.' segments/],
    ["/clusters/a/api/..", 400, /'\.' or '\.\.' segments/],
    ["/clusters/a/api/.", 400, /'\.' or '\.\.' segments/],
    ["/clusters/a/api/../", 400, /'\.' or '\.\.' segments/],
    // Encoded dots, slashes, backslashes, NUL — any case.
    ["/clusters/a/%2e%2e/b", 400, /encoded '\.' \(%2E\)/],
    ["/clusters/a/%2E%2E/b", 400, /encoded '\.'/],
    ["/clusters/a/%2e%2E/b", 400, /encoded '\.'/],
    ["/clusters/a/.%2e/b", 400, /encoded '\.'/],
    ["/clusters/a/%2e/b", 400, /encoded '\.'/],
    ["/clusters/a/api/v1/namespaces/ns/pods/x%2ey", 400, /encoded '\.'/],
    ["/clusters/a/api/v1/namespaces%2fns/pods", 400, /encoded '\/' \(%2F\)/],
    ["/clusters/a/api/v1/namespaces%2Fns/pods", 400, /encoded '\/'/],
    ["/clusters/a/api%5cv1", 400, /encoded '\\' \(%5C\)/],
    ["/clusters/a/api%5Cv1", 400, /encoded '\\'/],
    ["/clusters/a/api%00", 400, /encoded NUL/],
    ["/clusters/a\\..\\b", 400, /backslash/],
    ["/clusters/a/api\\v1", 400, /backslash/],
    // Malformed escapes: the member's URL parser refuses them, so the two sides could disagree.
    ["/clusters/a/api/%zz", 400, /malformed percent-escape/],
    ["/clusters/a/api/%2", 400, /malformed percent-escape/],
    ["/clusters/a/api/%", 400, /malformed percent-escape/],
    // Bytes that are not UTF-8 once decoded (overlong '.' = %C0%AE), encoded control characters.
    ["/clusters/a/%c0%ae%c0%ae/b", 400, /valid UTF-8/],
    ["/clusters/a/api/%ff", 400, /valid UTF-8/],
    ["/clusters/a/api/x%0ay", 400, /control characters/],
    ["/clusters/a/api/x%0Dy", 400, /control characters/],
    ["/clusters/a/api/x%7fy", 400, /control characters/],
    ["/clusters/a/api/x%1b", 400, /control characters/],
    // Empty segments (only one trailing slash is allowed).
    ["/clusters/a//api", 400, /empty segments/],
    ["/clusters/a/api//v1", 400, /empty segments/],
    ["/clusters/a/api//", 400, /empty segments/],
    ["/clusters/a//", 400, /empty segments/],
    // Spaces, control characters and raw non-ASCII, in path or query.
    ["/clusters/a/api v1", 400, /spaces, control characters/],
    ["/clusters/a/api\tv1", 400, /spaces, control characters/],
    ["/clusters/a/api\r\nX-Evil: 1", 400, /spaces, control characters/],
    ["/clusters/a/api\u0000", 400, /spaces, control characters/],
    ["/clusters/a/api\u007f", 400, /spaces, control characters/],
    ["/clusters/a/café", 400, /non-ASCII/],
    ["/clusters/a/api?x=a b", 400, /spaces/],
    ["/clusters/a/api?x=\r\n", 400, /control characters/],
  ];
  it.each(cases)("%j → %i", (target, status, message) => {
    const route = parseRoute(target);
    expect(route.ok).toBe(false);
    if (route.ok) return;
    expect(route.status).toBe(status);
    expect(route.message).toMatch(message);
  });

  it("accepts an encoded percent (the member decodes only once)", () => {
    expect(parseRoute("/clusters/a/api/%252e%252e")).toEqual({ ok: true, cluster: "a", path: "/api/%252e%252e", query: "" });
  });
});

describe("percent-decoding a path as the member's apiserver does", () => {
  const strict: [raw: string, decoded: string | null][] = [
    ["/api/v1", "/api/v1"],
    ["/%61pi/v1", "/api/v1"],
    ["/a%2Fb", "/a/b"],
    ["caf%C3%A9", "café"],
    ["%zz", null],
    ["%4", null],
    ["%ff", null],
    ["%c0%ae", null],
  ];
  it.each(strict)("strict %j → %j", (raw, decoded) => {
    expect(percentDecodePath(raw)).toBe(decoded);
  });

  const lenient: [raw: string, decoded: string][] = [
    ["/%61pi/v1/secrets", "/api/v1/secrets"],
    ["/%61pi/v1/x%zz", "/api/v1/x%zz"],
    ["/%61pi/v1/%ff/secret%73", "/api/v1/\uFFFD/secrets"],
  ];
  it.each(lenient)("lenient %j → %j", (raw, decoded) => {
    expect(percentDecodePathLenient(raw)).toBe(decoded);
  });
});
