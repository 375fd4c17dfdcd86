import { describe, expect, it } from "vitest";
import { bindingName, desiredBindings, grantBindings, isLiveGrant, managedSelector, type Binding, type GrantForRbac } from "../../src/kube/rbac.ts";
import { bindingDiff, planBindings, type ExistingBinding } from "../../src/kube/rbac-plan.ts";

const NOW = new Date("2030-01-01T12:00:00Z");
const PREFIX = "kubegate:";

function grant(over: Partial<GrantForRbac> = {}): GrantForRbac {
  return { id: "gr-0123456789abcdef", cluster: "prod", role: "edit", namespaces: [], state: "APPLIED", expiresAt: null, subject: { kind: "user", name: "alice" }, ...over };
}

const LABELS = { "app.kubernetes.io/managed-by": "kubegate", "kubegate.dev/cluster": "prod", "kubegate.dev/grant": "gr-0123456789abcdef" };
const ALICE = [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "kubegate:alice" }];

describe("isLiveGrant", () => {
  const cases: [what: string, g: GrantForRbac, live: boolean][] = [
    ["PENDING", grant({ state: "PENDING" }), true],
    ["APPLIED", grant({ state: "APPLIED" }), true],
    ["FAILED (may apply on a later try)", grant({ state: "FAILED" }), true],
    ["REVOKED", grant({ state: "REVOKED" }), false],
    ["EXPIRED", grant({ state: "EXPIRED" }), false],
    ["APPLIED, expiry in the future", grant({ expiresAt: new Date(NOW.getTime() + 1) }), true],
    ["APPLIED, expiry exactly now (exclusive)", grant({ expiresAt: NOW }), false],
    ["APPLIED, expiry past", grant({ expiresAt: new Date(NOW.getTime() - 1) }), false],
  ];
  it.each(cases)("%s → %s", (_what, g, live) => expect(isLiveGrant(g, NOW)).toBe(live));
});

describe("bindingName", () => {
  const cases: [id: string, name: RegExp][] = [
    ["gr-0123456789abcdef", /^kubegate-gr-0123456789abcdef$/],
    ["GR_Upper/slash", /^kubegate-[0-9a-f]{40}$/],
    ["x".repeat(60), /^kubegate-[0-9a-f]{40}$/],
  ];
  it.each(cases)("%s → %s", (id, name) => {
    const n = bindingName(id);
    expect(n).toMatch(name);
    expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(n.length).toBeLessThanOrEqual(63);
  });
  it("is one per grant", () => expect(bindingName("A/1")).not.toBe(bindingName("A/2")));
});

describe("grantBindings", () => {
  const cases: [what: string, g: GrantForRbac, want: Binding[]][] = [
    [
      "cluster-wide user grant → one ClusterRoleBinding",
      grant(),
      [{ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "kubegate-gr-0123456789abcdef", labels: LABELS }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" }, subjects: ALICE as Binding["subjects"] }],
    ],
    [
      "namespaced grant → a RoleBinding (to the ClusterRole) per namespace",
      grant({ role: "view", namespaces: ["team-a", "team-b"] }),
      ["team-a", "team-b"].map((namespace) => ({
        apiVersion: "rbac.authorization.k8s.io/v1" as const,
        kind: "RoleBinding" as const,
        metadata: { name: "kubegate-gr-0123456789abcdef", namespace, labels: LABELS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io" as const, kind: "ClusterRole" as const, name: "view" },
        subjects: ALICE as Binding["subjects"],
      })),
    ],
    [
      "group grant → Group subject with the prefix, as impersonationHeaders sends groups",
      grant({ role: "cluster-admin", subject: { kind: "group", name: "sre" } }),
      [{ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "kubegate-gr-0123456789abcdef", labels: LABELS }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" }, subjects: [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "kubegate:sre" }] }],
    ],
    ["revoked grant → nothing", grant({ state: "REVOKED" }), []],
    ["expired grant → nothing", grant({ expiresAt: NOW }), []],
    ["no subject → nothing", grant({ subject: undefined }), []],
  ];
  it.each(cases)("%s", (_what, g, want) => expect(grantBindings(g, PREFIX, NOW)).toEqual(want));

  it("keeps a non-ASCII name as Unicode (the member decodes the header's UTF-8 to the same string)", () => {
    expect(grantBindings(grant({ subject: { kind: "user", name: "josé" } }), PREFIX, NOW)[0]!.subjects[0]!.name).toBe("kubegate:josé");
  });
});

describe("desiredBindings", () => {
  it("takes live grants of the cluster only, keyed by grant id", () => {
    const got = desiredBindings(
      [grant({ id: "gr-a" }), grant({ id: "gr-b", cluster: "staging" }), grant({ id: "gr-c", state: "REVOKED" }), grant({ id: "gr-d", namespaces: ["x"] })],
      "prod",
      PREFIX,
      NOW,
    );
    expect([...got.keys()]).toEqual(["gr-a", "gr-d"]);
    expect(got.get("gr-d")![0]!.metadata.namespace).toBe("x");
  });
  it("selects by managed-by and cluster", () => {
    expect(managedSelector("prod")).toBe("app.kubernetes.io/managed-by=kubegate,kubegate.dev/cluster=prod");
  });
});

describe("planBindings", () => {
  const crb = grantBindings(grant(), PREFIX, NOW)[0]!;
  const rb = grantBindings(grant({ id: "gr-ns", namespaces: ["team-a"] }), PREFIX, NOW)[0]!;
  const existing = (b: Binding, over: Partial<ExistingBinding> = {}): ExistingBinding => ({
    ...structuredClone(b),
    metadata: { ...structuredClone(b.metadata), resourceVersion: "7" },
    ...over,
  });
  // Kubernetes returns User/Group subjects with apiGroup filled in; an older writer may have left it out.
  const noApiGroup = existing(crb, { subjects: [{ kind: "User", name: "kubegate:alice" }] });
  const otherUser = existing(crb, { subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "kubegate:mallory" }] });
  const extraSubject = existing(crb, { subjects: [...ALICE, { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "system:masters" }] });
  const otherRole = existing(crb, { roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" } });
  const roleKind = existing(rb, { roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "view" } });
  const lostLabel = existing(crb, { metadata: { name: crb.metadata.name, labels: { ...LABELS, "kubegate.dev/grant": "gr-other" } } });
  const extraLabel = existing(crb, { metadata: { name: crb.metadata.name, labels: { ...LABELS, team: "x" } } });
  const stale = existing(grantBindings(grant({ id: "gr-gone" }), PREFIX, NOW)[0]!);

  const diffs: [what: string, e: ExistingBinding, want: "same" | "update" | "recreate"][] = [
    ["identical", existing(crb), "same"],
    ["subject without apiGroup (defaulted by Kubernetes)", noApiGroup, "same"],
    ["someone else's label added", extraLabel, "same"],
    ["another subject", otherUser, "update"],
    ["an extra subject", extraSubject, "update"],
    ["kubegate's label changed", lostLabel, "update"],
    ["another role (roleRef is immutable)", otherRole, "recreate"],
    ["Role instead of ClusterRole", roleKind, "recreate"],
    ["no roleRef at all", existing(crb, { roleRef: undefined }), "recreate"],
  ];
  it.each(diffs)("bindingDiff: %s → %s", (_what, e, want) => expect(bindingDiff(e.kind === "RoleBinding" ? rb : crb, e)).toBe(want));

  const plans: [what: string, desired: Binding[], have: ExistingBinding[], want: string[]][] = [
    ["nothing anywhere", [], [], []],
    ["missing → create", [crb, rb], [], ["create ClusterRoleBinding//kubegate-gr-0123456789abcdef", "create RoleBinding/team-a/kubegate-gr-ns"]],
    ["all in place → nothing", [crb, rb], [existing(crb), existing(rb)], []],
    ["grant gone → delete, before anything else", [rb], [existing(rb), stale, otherRole], ["delete ClusterRoleBinding//kubegate-gr-gone", "delete ClusterRoleBinding//kubegate-gr-0123456789abcdef"]],
    ["subjects differ → update; role differs → recreate", [crb, rb], [otherUser, roleKind], ["update ClusterRoleBinding//kubegate-gr-0123456789abcdef", "recreate RoleBinding/team-a/kubegate-gr-ns"]],
    ["same name in another namespace is another binding", [rb], [existing({ ...rb, metadata: { ...rb.metadata, namespace: "team-b" } })], ["delete RoleBinding/team-b/kubegate-gr-ns", "create RoleBinding/team-a/kubegate-gr-ns"]],
  ];
  it.each(plans)("planBindings: %s", (_what, desired, have, want) => {
    const got = planBindings(desired, have).map((a) => {
      const b = a.op === "delete" ? a.existing : a.desired;
      return `${a.op} ${b.kind}/${b.metadata.namespace ?? ""}/${b.metadata.name}`;
    });
    expect(got).toEqual(want);
  });
});
