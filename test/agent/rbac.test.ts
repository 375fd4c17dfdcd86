/**
 * Grants become RBAC in the member (issue #6). On a cluster registered with manage_rbac, a
 * grant starts PENDING, and the data plane writes a ClusterRoleBinding (cluster-wide) or a
 * RoleBinding per namespace for the impersonated identity, then reports APPLIED — or FAILED
 * with the member's own words. Revoking removes the binding. The member's gateway identity
 * holds exactly the ClusterRole of deploy/kubegate-agent.yaml (the fake checks RBAC
 * escalation as kube-apiserver does), so these tests prove the documented role suffices.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrantState, Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { clusterRoleBinding, type KubeObject } from "../support/fake-apiserver/index.ts";
import { holdOnlyDocumentedRole } from "../support/documented-role.ts";
import { MEMBER, startTestGateway, type TestGateway } from "../support/gateway.ts";
import { http2Request, type RawResponse } from "../support/raw-client.ts";

const RBAC_V1 = "rbac.authorization.k8s.io/v1";

/** Polls until `check` returns a value; resolves with it and the time it took. */
async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5_000): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return { value, ms: performance.now() - started };
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function grantOf(gw: TestGateway, id: string) {
  return (await gw.admin.grants.getGrant({ id })).grant!;
}

/** Resolves when the grant has left PENDING; with its state, message and how long it took. */
async function settled(gw: TestGateway, id: string) {
  return eventually(`grant ${id} to leave PENDING`, async () => {
    const g = await grantOf(gw, id);
    return g.state === GrantState.PENDING ? undefined : g;
  });
}

type Binding = KubeObject & { roleRef: { apiGroup: string; kind: string; name: string }; subjects: Array<{ kind: string; apiGroup?: string; name: string }> };

const crb = (gw: TestGateway, name: string) => gw.fake.getObject(RBAC_V1, "ClusterRoleBinding", undefined, name) as Binding | undefined;
const rb = (gw: TestGateway, namespace: string, name: string) => gw.fake.getObject(RBAC_V1, "RoleBinding", namespace, name) as Binding | undefined;

/** What the member's own RBAC says, asked directly as its admin impersonating `user`. */
function memberAs(gw: TestGateway, user: string, path: string): Promise<RawResponse> {
  return http2Request(gw.fake.url, gw.fake.caPem, { path, headers: { authorization: `Bearer ${gw.fake.adminToken}`, "impersonate-user": user } });
}

function throughGateway(gw: TestGateway, token: string, path: string): Promise<RawResponse> {
  return http2Request(gw.dataUrl, gw.caPem, { path: `/clusters/${MEMBER}${path}`, headers: { authorization: `Bearer ${token}` } });
}

const PODS = "/api/v1/namespaces/default/pods";

describe("agent mode with manage_rbac", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      mode: "agent",
      manageRbac: true,
      fake: { objects: ["team-a", "team-b"].map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } })) },
    });
    await holdOnlyDocumentedRole(gw);
  });
  afterAll(async () => gw?.close());

  it("a cluster-wide grant goes PENDING → APPLIED with a ClusterRoleBinding for the impersonated user, and the member then lets alice in", async () => {
    // Without a binding the member's own RBAC refuses kubegate:alice.
    expect((await memberAs(gw, "kubegate:alice", PODS)).status).toBe(403);

    const alice = await gw.user("alice", { role: "edit", bindRbac: false });
    const { value: grant, ms } = await settled(gw, alice.grantId);
    console.log(`agent mode: grant PENDING → APPLIED in ${ms.toFixed(0)} ms (observed through GetGrant)`);
    expect(grant.state, grant.stateMessage).toBe(GrantState.APPLIED);
    const name = `kubegate-${alice.grantId}`;
    expect(grant.stateMessage).toBe(`bound in the member by ClusterRoleBinding ${name}`);

    const binding = crb(gw, name)!;
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" });
    expect(binding.subjects).toEqual([{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "kubegate:alice" }]);
    expect(binding.metadata?.labels).toEqual({ "app.kubernetes.io/managed-by": "kubegate", "kubegate.dev/cluster": MEMBER, "kubegate.dev/grant": alice.grantId });

    // Through the gateway, with the documented role doing the impersonating.
    await gw.until(() => gw.kubegate.data!.view.grants.get(alice.grantId)?.state === "APPLIED");
    const res = await throughGateway(gw, await alice.token(), PODS);
    expect(res.status, res.body).toBe(200);
    expect((await memberAs(gw, "kubegate:alice", PODS)).status).toBe(200);
  });

  it("a namespaced grant gets a RoleBinding in each of its namespaces and no ClusterRoleBinding", async () => {
    const bob = await gw.user("bob", { role: "view", namespaces: ["team-a", "team-b"], bindRbac: false });
    const { value: grant } = await settled(gw, bob.grantId);
    expect(grant.state, grant.stateMessage).toBe(GrantState.APPLIED);
    const name = `kubegate-${bob.grantId}`;
    for (const ns of ["team-a", "team-b"]) {
      const binding = rb(gw, ns, name)!;
      expect(binding.roleRef.name).toBe("view");
      expect(binding.subjects).toEqual([{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "kubegate:bob" }]);
      expect(binding.metadata?.labels?.["kubegate.dev/grant"]).toBe(bob.grantId);
    }
    expect(crb(gw, name)).toBeUndefined();
    await gw.until(() => gw.kubegate.data!.view.grants.get(bob.grantId)?.state === "APPLIED");
    expect((await throughGateway(gw, await bob.token(), "/api/v1/namespaces/team-b/pods")).status).toBe(200);
    // The member itself confines bob to his namespaces.
    expect((await memberAs(gw, "kubegate:bob", PODS)).status).toBe(403);
  });

  it("a grant for a group binds the prefixed group, as the data plane impersonates it", async () => {
    const started = performance.now();
    const { grant } = await gw.admin.grants.createGrant({ cluster: MEMBER, subject: { kind: SubjectKind.GROUP, name: "sre" }, role: Role.VIEW });
    const { value: done } = await settled(gw, grant!.id);
    console.log(`agent mode: CreateGrant → APPLIED in ${(performance.now() - started).toFixed(0)} ms`);
    expect(done.state, done.stateMessage).toBe(GrantState.APPLIED);
    expect(crb(gw, `kubegate-${grant!.id}`)!.subjects).toEqual([{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "kubegate:sre" }]);
  });

  it("settles: one round of member requests per grant change; its own report coming back starts no other", async () => {
    const lists = () => gw.fake.requests.filter((r) => r.method === "GET" && r.path.endsWith("/clusterrolebindings")).length;
    const before = lists();
    const jack = await gw.user("jack", { role: "view", bindRbac: false });
    expect((await settled(gw, jack.grantId)).value.state).toBe(GrantState.APPLIED);
    await gw.until(() => gw.kubegate.data!.view.grants.get(jack.grantId)?.state === "APPLIED");
    await new Promise((r) => setTimeout(r, 300));
    expect(lists() - before).toBe(1);
  });

  it("a grant on a namespace the member does not have goes FAILED with the member's message, and APPLIED once it exists", async () => {
    const { grant } = await gw.admin.grants.createGrant({ cluster: MEMBER, subject: { kind: SubjectKind.USER, name: "carol" }, role: Role.EDIT, namespaces: ["nope"] });
    expect(grant!.state).toBe(GrantState.PENDING);
    const { value: failed } = await settled(gw, grant!.id);
    expect(failed.state).toBe(GrantState.FAILED);
    expect(failed.stateMessage).toBe(`RoleBinding kubegate-${grant!.id} in namespace nope: namespaces "nope" not found`);
    // The data plane tells carol why.
    await gw.until(() => gw.kubegate.data!.view.grants.get(grant!.id)?.state === "FAILED");

    // The namespace appears; the next run (here: prompted by another grant on the cluster) applies it.
    gw.fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "nope" } });
    await gw.admin.grants.createGrant({ cluster: MEMBER, subject: { kind: SubjectKind.USER, name: "dave" }, role: Role.VIEW });
    const { value: applied } = await eventually("carol's grant to be APPLIED", async () => {
      const g = await grantOf(gw, grant!.id);
      return g.state === GrantState.APPLIED ? g : undefined;
    });
    expect(applied.stateMessage).toBe(`bound in the member by RoleBinding kubegate-${grant!.id} in namespace nope`);
  });

  it("a member hiccup (500) leaves the grant PENDING rather than FAILED; the next run applies it", async () => {
    const hook = gw.fake.hooks.fail(500, { method: "POST", path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" });
    const kim = await gw.user("kim", { role: "view", bindRbac: false });
    await eventually("the failing create", () => (hook.hits === 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    expect((await grantOf(gw, kim.grantId)).state).toBe(GrantState.PENDING);
    await gw.admin.grants.createGrant({ cluster: MEMBER, subject: { kind: SubjectKind.USER, name: "lee" }, role: Role.VIEW });
    expect((await settled(gw, kim.grantId)).value.state).toBe(GrantState.APPLIED);
  });

  it("a grant made while the agent is away waits PENDING, and is applied as soon as its tunnel is back", async () => {
    await gw.agent!.stop();
    await gw.until(() => gw.kubegate.data!.tunnels.count(MEMBER) === 0);
    const { grant } = await gw.admin.grants.createGrant({ cluster: MEMBER, subject: { kind: SubjectKind.USER, name: "max" }, role: Role.VIEW });
    await new Promise((r) => setTimeout(r, 200));
    expect((await grantOf(gw, grant!.id)).state).toBe(GrantState.PENDING);
    const started = performance.now();
    await gw.restartAgent!();
    const { value } = await settled(gw, grant!.id);
    console.log(`agent mode: tunnel back → grant APPLIED in ${(performance.now() - started).toFixed(0)} ms (agent restart included)`);
    expect(value.state).toBe(GrantState.APPLIED);
  });

  it("revoking a grant removes its bindings, and the member refuses the user again", async () => {
    const erin = await gw.user("erin", { role: "edit", bindRbac: false });
    expect((await settled(gw, erin.grantId)).value.state).toBe(GrantState.APPLIED);
    const ns = await gw.user("erin-ns", { role: "edit", namespaces: ["team-a"], bindRbac: false });
    expect((await settled(gw, ns.grantId)).value.state).toBe(GrantState.APPLIED);
    expect((await memberAs(gw, "kubegate:erin", PODS)).status).toBe(200);

    const started = performance.now();
    await gw.admin.grants.revokeGrant({ id: erin.grantId, reason: "test" });
    await gw.admin.grants.revokeGrant({ id: ns.grantId, reason: "test" });
    await eventually("erin's bindings to be deleted", () => (crb(gw, `kubegate-${erin.grantId}`) === undefined && rb(gw, "team-a", `kubegate-${ns.grantId}`) === undefined ? true : undefined));
    console.log(`agent mode: revocation → bindings deleted in the member in ${(performance.now() - started).toFixed(0)} ms`);
    expect((await memberAs(gw, "kubegate:erin", PODS)).status).toBe(403);
    // A revoked grant keeps its final state: the reconciler reports nothing for it.
    expect((await grantOf(gw, erin.grantId)).state).toBe(GrantState.REVOKED);
  });

  it("bindings changed or left behind by hand are put right on the next run; others' bindings are left alone", async () => {
    const frank = await gw.user("frank", { role: "view", bindRbac: false });
    expect((await settled(gw, frank.grantId)).value.state).toBe(GrantState.APPLIED);
    const name = `kubegate-${frank.grantId}`;
    const labels = crb(gw, name)!.metadata!.labels!;
    // Someone widens frank's binding to another role and another user.
    gw.fake.seed({ ...clusterRoleBinding(name, "cluster-admin", [{ kind: "User", name: "mallory" }]), metadata: { name, labels } });
    // A kubegate binding whose grant no longer exists, and a binding that is not kubegate's.
    gw.fake.seed({ ...clusterRoleBinding("kubegate-gr-gone", "admin", [{ kind: "User", name: "kubegate:ghost" }]), metadata: { name: "kubegate-gr-gone", labels: { ...labels, "kubegate.dev/grant": "gr-gone" } } });
    gw.fake.seed(clusterRoleBinding("someone-elses", "view", [{ kind: "User", name: "zed" }]));

    await gw.admin.grants.createGrant({ cluster: MEMBER, subject: { kind: SubjectKind.USER, name: "gina" }, role: Role.VIEW });
    await eventually("the stale binding to go", () => (crb(gw, "kubegate-gr-gone") === undefined ? true : undefined));
    await eventually("frank's binding to be restored", () => (crb(gw, name)?.roleRef.name === "view" ? true : undefined));
    expect(crb(gw, name)!.subjects).toEqual([{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "kubegate:frank" }]);
    expect(crb(gw, "someone-elses")).toBeDefined();
  });
});

describe("direct mode with manage_rbac", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ manageRbac: true });
  });
  afterAll(async () => gw?.close());

  it("without the documented role the grant goes FAILED saying so; with it, APPLIED; revoked, the binding goes", async () => {
    // The registered credential can impersonate but not list or write bindings.
    const hank = await gw.user("hank", { role: "view", bindRbac: false });
    const { value: refused } = await settled(gw, hank.grantId);
    expect(refused.state).toBe(GrantState.FAILED);
    expect(refused.stateMessage).toMatch(/^kubegate cannot list its RoleBindings and ClusterRoleBindings in the member: .*forbidden/);

    await holdOnlyDocumentedRole(gw);
    const ivy = await gw.user("ivy", { role: "edit", bindRbac: false });
    const { value: grant, ms } = await settled(gw, ivy.grantId);
    console.log(`direct mode: grant PENDING → APPLIED in ${ms.toFixed(0)} ms (observed through GetGrant)`);
    expect(grant.state, grant.stateMessage).toBe(GrantState.APPLIED);
    // Hank's grant was retried in the same run.
    expect((await grantOf(gw, hank.grantId)).state).toBe(GrantState.APPLIED);
    expect(crb(gw, `kubegate-${ivy.grantId}`)!.subjects).toEqual([{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "kubegate:ivy" }]);
    await gw.until(() => gw.kubegate.data!.view.grants.get(ivy.grantId)?.state === "APPLIED");
    expect((await throughGateway(gw, await ivy.token(), PODS)).status).toBe(200);

    // Losing the right to list later does not take APPLIED grants away; a new grant says why it cannot apply.
    gw.fake.hooks.fail(403, { method: "GET", path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" });
    const { grant: late } = await gw.admin.grants.createGrant({ cluster: MEMBER, subject: { kind: SubjectKind.USER, name: "jo" }, role: Role.VIEW });
    expect((await settled(gw, late!.id)).value.state).toBe(GrantState.FAILED);
    expect((await grantOf(gw, ivy.grantId)).state).toBe(GrantState.APPLIED);
    expect((await grantOf(gw, hank.grantId)).state).toBe(GrantState.APPLIED);

    await gw.admin.grants.revokeGrant({ id: ivy.grantId });
    await eventually("ivy's binding to be deleted", () => (crb(gw, `kubegate-${ivy.grantId}`) === undefined ? true : undefined));
    expect((await memberAs(gw, "kubegate:ivy", PODS)).status).toBe(403);
  });
});
