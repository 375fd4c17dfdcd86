/** Table-driven tests of the fake's pure parts: selectors, patches, the tiny shell, request parsing, RBAC rules. */
import { describe, expect, it } from "vitest";
import { jsonPatch, mergePatch, strategicMerge } from "../patch.ts";
import { ruleAllows } from "../rbac.ts";
import { parseRequestInfo } from "../request-info.ts";
import { parseFieldSelector, parseLabelSelector } from "../selectors.ts";
import { runCommand } from "../shell.ts";
import { humanDuration } from "../table.ts";

describe("label selectors", () => {
  const obj = { metadata: { name: "n", labels: { env: "prod", tier: "web" } } };
  it.each([
    ["env=prod", true],
    ["env==prod", true],
    ["env!=prod", false],
    ["env in (dev, prod)", true],
    ["env notin (prod)", false],
    ["tier", true],
    ["!tier", false],
    ["!missing,env=prod", true],
    ["missing notin (x)", true],
  ])("%s → %s", (sel, want) => expect(parseLabelSelector(sel)(obj)).toBe(want));
  it("rejects garbage with 400", () => expect(() => parseLabelSelector("a=b=c")).toThrow(/unable to parse requirement/));
  it("field selectors read dotted paths", () => expect(parseFieldSelector("metadata.name=n,metadata.namespace!=x")(obj)).toBe(true));
});

describe("patches", () => {
  it("merge patch deletes with null", () => expect(mergePatch({ a: 1, b: { c: 2 } }, { b: { c: null, d: 3 } })).toEqual({ a: 1, b: { d: 3 } }));
  it("json patch applies ops in order and fails tests", () => {
    expect(jsonPatch({ a: [1, 2] }, [{ op: "add", path: "/a/-", value: 3 }, { op: "move", from: "/a", path: "/b" }])).toEqual({ b: [1, 2, 3] });
    expect(() => jsonPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }])).toThrow();
  });
  it("strategic merge merges containers by name and honours $patch: delete", () => {
    const pod = { spec: { containers: [{ name: "a", image: "x:1" }, { name: "b", image: "y:1" }] } };
    expect(strategicMerge(pod, { spec: { $setElementOrder: 1, containers: [{ name: "b", image: "y:2" }, { name: "c", image: "z" }] } })).toEqual({
      spec: { containers: [{ name: "a", image: "x:1" }, { name: "b", image: "y:2" }, { name: "c", image: "z" }] },
    });
    expect(strategicMerge(pod, { spec: { containers: [{ name: "a", $patch: "delete" }] } })).toEqual({ spec: { containers: [{ name: "b", image: "y:1" }] } });
  });
});

describe("shell", () => {
  async function sh(argv: string[], stdin: string[] = []) {
    let out = "";
    let err = "";
    const code = await runCommand(argv, {
      stdout: (d) => (out += d.toString()),
      stderr: (d) => (err += d.toString()),
      stdin: (async function* () {
        for (const s of stdin) yield Buffer.from(s);
      })(),
      env: { HOME: "/root" },
      hostname: "pod-1",
      signal: new AbortController().signal,
    });
    return { code, out, err };
  }
  it.each([
    [["echo", "a", "b"], 0, "a b\n"],
    [["sh", "-c", "echo one; echo 'two three'; exit 4"], 4, "one\ntwo three\n"],
    [["sh", "-c", "false && echo no || echo yes"], 0, "yes\n"],
    [["sh", "-c", 'false; echo "$? $HOME"'], 0, "1 /root\n"],
    [["hostname"], 0, "pod-1\n"],
    [["true"], 0, ""],
  ] as const)("%j exits %i", async (argv, code, out) => expect(await sh([...argv])).toMatchObject({ code, out }));
  it("cat echoes stdin until it closes", async () => expect((await sh(["cat"], ["ab", "cd"])).out).toBe("abcd"));
  it("unknown commands exit 127", async () => expect(await sh(["nope"])).toMatchObject({ code: 127, err: expect.stringContaining('exec: "nope"') }));
});

describe("request info and RBAC rules", () => {
  const q = new URLSearchParams();
  it.each([
    ["GET", "/api/v1/namespaces/ns/pods/p/log", { verb: "get", namespace: "ns", resource: "pods", name: "p", subresource: "log" }],
    ["GET", "/api/v1/namespaces/ns", { verb: "get", namespace: "ns", resource: "namespaces", name: "ns" }],
    ["DELETE", "/apis/apps/v1/namespaces/ns/deployments", { verb: "deletecollection", apiGroup: "apps", resource: "deployments" }],
    ["GET", "/api/v1/watch/namespaces/ns/configmaps", { verb: "watch", resource: "configmaps" }],
    ["GET", "/apis/rbac.authorization.k8s.io/v1", { resourceRequest: false }],
  ])("%s %s", (method, path, want) => expect(parseRequestInfo(method, path, q)).toMatchObject(want));
  it("matches */subresource and resourceNames like kube-apiserver", () => {
    const a = { verb: "get", resourceRequest: true, apiGroup: "", resource: "pods", subresource: "log", namespace: "n", name: "p", path: "" };
    expect(ruleAllows({ verbs: ["get"], apiGroups: [""], resources: ["*/log"] }, a)).toBe(true);
    expect(ruleAllows({ verbs: ["get"], apiGroups: [""], resources: ["pods"] }, a)).toBe(false);
    expect(ruleAllows({ verbs: ["get"], apiGroups: [""], resources: ["pods/log"], resourceNames: ["q"] }, a)).toBe(false);
  });
  it("prints ages like kubectl", () => expect([5_000, 150_000, 3_600_000 * 3.5, 86_400_000 * 3].map(humanDuration)).toEqual(["5s", "2m30s", "3h30m", "3d"]));
});
