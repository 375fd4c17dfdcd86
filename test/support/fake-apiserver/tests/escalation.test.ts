/** The fake's RBAC escalation prevention on bindings, case by case as kube-apiserver decides it. */
import { describe, expect, it } from "vitest";
import { checkBindingEscalation } from "../escalation.ts";
import type { UserInfo } from "../identity.ts";
import type { KubeObject } from "../object.ts";
import { clusterRoleBinding, defaultRbacObjects, roleBinding, type PolicyRule } from "../rbac-defaults.ts";
import { createRbacAuthorizer } from "../rbac.ts";
import { findByKind, findByResource } from "../resources.ts";
import { createStore } from "../store.ts";
import { validateUpdate } from "../validate.ts";

const role = (name: string, rules: PolicyRule[]): KubeObject => ({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name }, rules });
const user = (name: string, groups: string[] = []): UserInfo => ({ name, groups: [...groups, "system:authenticated"] });

function world() {
  const store = createStore(findByResource("", "v1", "namespaces")!);
  const put = (o: KubeObject) => store.create(findByKind(String(o["apiVersion"]), String(o["kind"]))!, o);
  for (const ns of ["default", "team-a"]) put({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  for (const o of defaultRbacObjects()) put(o);
  put(role("binder", [{ apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], resourceNames: ["view", "edit"], verbs: ["bind"] }]));
  put(role("pods-status", [{ apiGroups: [""], resources: ["pods/status"], verbs: ["get"] }]));
  put(role("star-status", [{ apiGroups: [""], resources: ["*/status"], verbs: ["get"] }]));
  put(role("version", [{ nonResourceURLs: ["/version"], verbs: ["get"] }]));
  put(role("all-urls", [{ nonResourceURLs: ["/ver*"], verbs: ["get"] }]));
  put(clusterRoleBinding("binder", "binder", [{ kind: "User", name: "binder" }]));
  put(clusterRoleBinding("editor", "edit", [{ kind: "User", name: "editor" }]));
  put(clusterRoleBinding("star-status", "star-status", [{ kind: "User", name: "statuser" }]));
  put(clusterRoleBinding("all-urls", "all-urls", [{ kind: "User", name: "urler" }]));
  put(roleBinding("team-a", "binder-a", { kind: "ClusterRole", name: "binder" }, [{ kind: "User", name: "ns-binder" }]));
  return { store, authorize: createRbacAuthorizer(store) };
}

const crbType = findByResource("rbac.authorization.k8s.io", "v1", "clusterrolebindings")!;
const rbType = findByResource("rbac.authorization.k8s.io", "v1", "rolebindings")!;

describe("checkBindingEscalation", () => {
  const { store, authorize } = world();
  const cases: [what: string, who: UserInfo, binding: KubeObject, allowed: boolean][] = [
    ["system:masters may bind anything", user("root", ["system:masters"]), clusterRoleBinding("x", "cluster-admin", []), true],
    ["bind on the role's name allows it", user("binder"), clusterRoleBinding("x", "edit", []), true],
    ["bind on other names does not", user("binder"), clusterRoleBinding("x", "admin", []), false],
    ["bind granted in one namespace allows a RoleBinding there", user("ns-binder"), roleBinding("team-a", "x", { kind: "ClusterRole", name: "view" }, []), true],
    ["… but not in another namespace", user("ns-binder"), roleBinding("default", "x", { kind: "ClusterRole", name: "view" }, []), false],
    ["… nor cluster-wide", user("ns-binder"), clusterRoleBinding("x", "view", []), false],
    ["holding every permission of the role allows it (edit covers view)", user("editor"), clusterRoleBinding("x", "view", []), true],
    ["holding less does not (edit does not cover admin)", user("editor"), clusterRoleBinding("x", "admin", []), false],
    ["*/status covers pods/status", user("statuser"), clusterRoleBinding("x", "pods-status", []), true],
    ["a URL prefix with * covers /version", user("urler"), clusterRoleBinding("x", "version", []), true],
    ["nothing held, no bind", user("nobody"), clusterRoleBinding("x", "version", []), false],
  ];
  it.each(cases)("%s", (_what, who, binding, allowed) => {
    const t = binding["kind"] === "RoleBinding" ? rbType : crbType;
    const check = () => checkBindingEscalation(store, authorize, who, t, binding);
    if (allowed) expect(check).not.toThrow();
    else expect(check).toThrow(/is forbidden: user .* is attempting to grant RBAC permissions not currently held/);
  });
  it("a missing role without bind is NotFound", () =>
    expect(() => checkBindingEscalation(store, authorize, user("nobody"), crbType, clusterRoleBinding("x", "no-such-role", []))).toThrow(/clusterroles.rbac.authorization.k8s.io "no-such-role" not found/));
});

describe("validateUpdate", () => {
  it("refuses to change a binding's roleRef, as the real server does", () => {
    expect(() => validateUpdate(crbType, clusterRoleBinding("x", "edit", []), clusterRoleBinding("x", "view", []))).toThrow(
      /ClusterRoleBinding.rbac.authorization.k8s.io "x" is invalid: roleRef: Invalid value: .*cannot change roleRef/,
    );
    expect(() => validateUpdate(crbType, clusterRoleBinding("x", "view", [{ kind: "User", name: "a" }]), clusterRoleBinding("x", "view", []))).not.toThrow();
  });
});
