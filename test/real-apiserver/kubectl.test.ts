/**
 * Plain kubectl 1.32 through kubegate to a real kube-apiserver v1.32, in direct mode and
 * through an agent out of cluster (--kubeconfig): everything that needs no kubelet, with
 * the member's own RBAC deciding behind kubegate's fence. One API server for the file.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { roleBinding } from "../support/fake-apiserver/index.ts";
import { startRealGateway, type RealGateway, type TestUser } from "../support/gateway.ts";
import { realApiserverAvailable, startKubeApiserver, type KubeApiserver } from "../support/kube-apiserver.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, run, stream } from "../support/programs.ts";
import { rawRequest } from "../support/raw-client.ts";

const enabled = realApiserverAvailable() && requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.kubegate.dev
spec:
  group: example.kubegate.dev
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, shortNames: [wd] }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer, minimum: 1 }
`;

let apiserver: KubeApiserver;
let work: string;
beforeAll(async () => {
  if (!enabled) return;
  apiserver = await startKubeApiserver();
  work = await mkdtemp(join(tmpdir(), "kubegate-real-kubectl-"));
  await writeFile(join(work, "crd.yaml"), CRD);
  await apiserver.apply({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "widget-editor" },
    rules: [{ apiGroups: ["example.kubegate.dev"], resources: ["widgets"], verbs: ["*"] }],
  });
  const admin = clientEnv(await apiserver.kubeconfig("admin"), work);
  const crd = await run(KUBECTL, ["apply", "-f", join(work, "crd.yaml")], admin);
  expect(crd.stderr).toBe("");
  expect((await run(KUBECTL, ["wait", "--for=condition=Established", "crd/widgets.example.kubegate.dev", "--timeout=30s"], admin)).code).toBe(0);
});
afterAll(async () => {
  await apiserver?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe.runIf(enabled).each(["direct", "agent"] as const)("kubectl through kubegate to a real kube-apiserver (%s mode)", (mode) => {
  const ns = `team-${mode}`;
  let gw: RealGateway;
  let alice: TestUser;
  let home: string;
  let kubeconfig: string;
  const kubectl = (args: string[], input?: string) => run(KUBECTL, args, clientEnv(kubeconfig, home), input, 30_000);
  const file = async (name: string, text: string) => {
    const path = join(home, name);
    await writeFile(path, text);
    return path;
  };

  beforeAll(async () => {
    await apiserver.namespace(ns);
    gw = await startRealGateway(apiserver, { mode, clusterName: `real-${mode}` });
    alice = await gw.user("alice", { role: "edit", namespaces: [ns] });
    home = await mkdtemp(join(tmpdir(), "kubegate-real-home-"));
    kubeconfig = await alice.kubeconfig({ namespace: ns });
  });
  afterAll(async () => {
    await gw?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("the cluster is READY with the version the API server itself reports", async () => {
    const own = (await apiserver.api("GET", "/version")).json<{ gitVersion: string }>().gitVersion;
    expect(own).toMatch(/^v1\.32\.\d+$/);
    const status = async () => (await gw.admin.clusters.getCluster({ name: `real-${mode}` })).cluster!.status!;
    await expect.poll(async () => (await status()).phase, { timeout: 10_000 }).toBe(ClusterPhase.READY);
    expect((await status()).kubernetesVersion).toBe(own);
  });

  it("applies with client-side validation, gets, patches, diffs, waits and deletes", async () => {
    const cm = await file("cm.yaml", `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n`);
    const applied = await kubectl(["apply", "--validate=strict", "-f", cm]);
    expect(applied.stderr).toBe("");
    expect(applied.stdout).toContain("configmap/settings created");
    // Strict validation reads the OpenAPI schema through the gateway and refuses an unknown field.
    const bad = await file("bad.yaml", `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nbogusField: 1\n`);
    const refused = await kubectl(["apply", "--validate=strict", "-f", bad]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/unknown field "bogusField"/);

    expect((await kubectl(["get", "configmap", "settings", "-o", "jsonpath={.data.color}"])).stdout).toBe("blue");
    const patched = await kubectl(["patch", "configmap", "settings", "--type=merge", "-p", '{"data":{"color":"green"}}']);
    expect(patched.stdout).toContain("configmap/settings patched");

    const changed = await file("cm2.yaml", `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: red\n`);
    const diff = await kubectl(["diff", "-f", changed]);
    expect(diff.code).toBe(1); // kubectl diff exits 1 when there are differences
    expect(diff.stdout).toMatch(/-\s+color: green/);
    expect(diff.stdout).toMatch(/\+\s+color: red/);

    const waiter = kubectl(["wait", "--for=delete", "configmap/settings", "--timeout=20s"]);
    await new Promise((r) => setTimeout(r, 300));
    expect((await kubectl(["delete", "configmap", "settings"])).stdout).toContain('configmap "settings" deleted');
    expect((await waiter).code).toBe(0);
  });

  it("applies server-side and reports a conflict with another field manager", async () => {
    const cm = await file("ssa.yaml", `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  owner: alice\n`);
    const first = await kubectl(["apply", "--server-side", "-f", cm]);
    expect(first.stdout).toContain("configmap/ssa serverside-applied");
    const other = await kubectl(["apply", "--server-side", "--field-manager=robot", "-f", await file("ssa2.yaml", `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  owner: robot\n`)]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/conflict/i);
    const managed = await kubectl(["get", "configmap", "ssa", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"]);
    expect(managed.stdout).toContain("kubectl");
  });

  it("lists in pages and watches as changes happen", async () => {
    for (let i = 0; i < 12; i++) await kubectl(["create", "configmap", `page-${String(i).padStart(2, "0")}`, "--from-literal=i=" + i]);
    const paged = await kubectl(["get", "configmaps", "--chunk-size=5", "-o", "name", "-v=6"]);
    expect(paged.code).toBe(0);
    expect(paged.stdout.split("\n").filter((l) => l.startsWith("configmap/page-"))).toHaveLength(12);
    // Three pages of five: kubectl followed the API server's continue tokens through kubegate.
    expect(paged.stderr.match(/limit=5/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    expect(paged.stderr).toMatch(/continue=/);

    const w = stream(KUBECTL, ["get", "configmap", "page-00", "-w", "-o", "custom-columns=NAME:.metadata.name,I:.data.i", "--no-headers"], clientEnv(kubeconfig, home));
    try {
      await w.waitFor((lines) => lines.some((l) => /page-00\s+0/.test(l)), 15_000);
      await kubectl(["patch", "configmap", "page-00", "-p", '{"data":{"i":"100"}}']);
      await w.waitFor((lines) => lines.some((l) => /page-00\s+100/.test(l)), 15_000);
    } finally {
      await w.stop();
    }
  });

  it("api-resources and explain work again with a warm cache (304 passes through)", async () => {
    for (let round = 1; round <= 2; round++) {
      const resources = await kubectl(["api-resources"]);
      expect(resources.stderr).toBe("");
      expect(resources.stdout).toMatch(/configmaps\s+cm\s+v1\s+true\s+ConfigMap/);
      expect(resources.stdout).toMatch(/widgets\s+wd\s+example\.kubegate\.dev\/v1\s+true\s+Widget/);
      const explained = await kubectl(["explain", "configmap.data"]);
      expect(explained.stderr).toBe("");
      expect(explained.stdout).toContain("FIELD: data");
    }
    // The second round revalidated its cache: kubegate passed the API server's 304s on.
    const audited = gw.logs.filter((l) => l["audit"] === "request" && l["user"] === "alice" && l["status"] === 304);
    expect(audited.length).toBeGreaterThan(0);
    const cm = await file("after-explain.yaml", `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after-explain\n`);
    expect((await kubectl(["apply", "-f", cm])).stdout).toContain("configmap/after-explain created");
  });

  it("auth can-i, can-i --list and whoami answer for the impersonated user", async () => {
    expect((await kubectl(["auth", "can-i", "create", "configmaps"])).stdout.trim()).toBe("yes");
    expect((await kubectl(["auth", "can-i", "create", "clusterroles"])).stdout.trim()).toBe("no");
    const list = await kubectl(["auth", "can-i", "--list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/configmaps\s+\[\]\s+\[\]\s+\[.*create.*\]/);
    const whoami = await kubectl(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    expect(whoami.stdout).toBe("kubegate:alice");
  });

  it("creates, lists and validates custom resources of a CRD", async () => {
    const widget = await file("widget.yaml", `apiVersion: example.kubegate.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n`);
    // The member's RBAC decides custom resources: the admin lets alice edit widgets in her namespace.
    await gw.member.seed([roleBinding(ns, "alice-widgets", { kind: "ClusterRole", name: "widget-editor" }, [{ kind: "User", name: "kubegate:alice" }])]);
    const created = await kubectl(["apply", "-f", widget]);
    expect(created.stderr).toBe("");
    expect(created.stdout).toContain("widget.example.kubegate.dev/w1 created");
    expect((await kubectl(["get", "wd", "w1", "-o", "jsonpath={.spec.size}"])).stdout).toBe("3");
    const tooSmall = await file("w0.yaml", `apiVersion: example.kubegate.dev/v1\nkind: Widget\nmetadata:\n  name: w0\nspec:\n  size: 0\n`);
    const refused = await kubectl(["apply", "-f", tooSmall]);
    expect(refused.stderr).toMatch(/spec\.size: Invalid value: 0: spec\.size in body should be greater than or equal to 1/);
    expect((await kubectl(["delete", "widget", "w1"])).stdout).toContain('widget.example.kubegate.dev "w1" deleted');
  });

  it("refuses what the grant does not allow in the API server's own words, then kubegate's reason", async () => {
    const viewer = await gw.user("vera", { role: "view", namespaces: [ns] });
    const vk = await viewer.kubeconfig({ namespace: ns });
    const asVera = (args: string[]) => run(KUBECTL, args, clientEnv(vk, home), undefined, 30_000);
    // What the API server itself says to kubegate:vera, who may only view.
    const direct = clientEnv(await apiserver.kubeconfig("admin"), home);
    const own = await run(KUBECTL, ["create", "configmap", "x", "-n", ns, "--as=kubegate:vera"], direct);
    const ownDelete = await run(KUBECTL, ["delete", "configmap", "kube-root", "-n", ns, "--as=kubegate:vera"], direct);
    // kubectl prints a refusal as "Error from server (Forbidden): …", or for `create cm` as "error: failed to create configmap: …".
    const refusal = (stderr: string) => /(?:Error from server \(Forbidden\)|error: failed to create configmap): (.*)/.exec(stderr)?.[1];
    const ownMessage = refusal(own.stderr);
    const ownDeleteMessage = refusal(ownDelete.stderr);
    expect(ownMessage).toBe(`configmaps is forbidden: User "kubegate:vera" cannot create resource "configmaps" in API group "" in the namespace "${ns}"`);
    expect(ownDeleteMessage).toBe(`configmaps "kube-root" is forbidden: User "kubegate:vera" cannot delete resource "configmaps" in API group "" in the namespace "${ns}"`);

    const created = await asVera(["create", "configmap", "x"]);
    expect(created.code).not.toBe(0);
    expect(refusal(created.stderr)).toBe(`${ownMessage}: grant ${viewer.grantId} (view) is read-only: it does not allow create on configmaps`);
    const deleted = await asVera(["delete", "configmap", "kube-root"]);
    expect(refusal(deleted.stderr)).toBe(`${ownDeleteMessage}: grant ${viewer.grantId} (view) is read-only: it does not allow delete on configmaps`);
    // Clients read the Status details as the API server fills them.
    const raw = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, {
      method: "DELETE",
      path: `/clusters/real-${mode}/apis/apps/v1/namespaces/${ns}/deployments/web`,
      headers: { authorization: `Bearer ${await viewer.token()}` },
    });
    expect(raw.status).toBe(403);
    expect(JSON.parse(raw.body)).toMatchObject({
      kind: "Status",
      reason: "Forbidden",
      code: 403,
      details: { name: "web", group: "apps", kind: "deployments" },
      message: `deployments.apps "web" is forbidden: User "kubegate:vera" cannot delete resource "deployments" in API group "apps" in the namespace "${ns}": grant ${viewer.grantId} (view) is read-only: it does not allow delete on deployments.apps`,
    });
    const elsewhere = await asVera(["get", "configmaps", "-n", "default"]);
    expect(elsewhere.stderr).toContain(
      `Error from server (Forbidden): configmaps is forbidden: User "kubegate:vera" cannot list resource "configmaps" in API group "" in the namespace "default": grant ${viewer.grantId} allows namespaces ${ns} only`,
    );
  });

  it("a grant added while a token is cached takes effect at once", async () => {
    const viewer = await gw.user("ned", { role: "view", namespaces: [ns] });
    const nk = await viewer.kubeconfig({ namespace: ns });
    const asNed = (args: string[]) => run(KUBECTL, args, clientEnv(nk, home), undefined, 30_000);
    expect((await asNed(["get", "configmaps"])).code).toBe(0);
    const refused = await asNed(["create", "configmap", "ned-cm"]);
    expect(refused.stderr).toContain("is read-only");

    // The admin adds edit on the same namespace, and binds it in the member (direct-mode RBAC is the admin's job).
    const added = (await gw.admin.grants.createGrant({ cluster: `real-${mode}`, subject: { kind: SubjectKind.USER, name: "ned" }, role: Role.EDIT, namespaces: [ns] })).grant!;
    await gw.member.seed([roleBinding(ns, "kubegate-ned-edit", { kind: "ClusterRole", name: "edit" }, [{ kind: "User", name: "kubegate:ned" }])]);
    await gw.until(() => gw.kubegate.data!.view.grants.has(added.id), 1000);
    // The same cached token, minted before the edit grant existed.
    const passed = await asNed(["create", "configmap", "ned-cm"]);
    expect(passed.stderr).toBe("");
    expect(passed.stdout).toContain("configmap/ned-cm created");
    const audit = gw.logs.find((l) => l["audit"] === "request" && l["user"] === "ned" && l["verb"] === "create" && l["status"] === 201);
    expect(audit?.["grant"]).toBe(added.id);
  });
});

describe.runIf(enabled)("the health probe of a direct cluster on a real kube-apiserver", () => {
  it("marks a cluster whose credential the API server refuses OFFLINE, and says so", async () => {
    const gw = await startRealGateway(apiserver, { clusterName: "real-probed" });
    try {
      await gw.admin.clusters.registerCluster({
        name: "real-refused",
        mode: { case: "direct", value: { serverUrl: apiserver.url, caPem: apiserver.caPem, credential: { kind: { case: "bearerToken", value: "kgtest-not-a-token" } } } },
      });
      const status = async () => (await gw.admin.clusters.getCluster({ name: "real-refused" })).cluster!.status!;
      await expect.poll(async () => (await status()).phase, { timeout: 10_000 }).toBe(ClusterPhase.OFFLINE);
      expect((await status()).message).toBe("the API server refused kubegate's credential (401)");
    } finally {
      await gw.close();
    }
  });
});
