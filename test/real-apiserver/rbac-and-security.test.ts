/**
 * Against a real kube-apiserver v1.32: grants reconciled into RBAC (manage_rbac) and
 * decided by the real authorizer, in direct and agent mode; the data-path security rules
 * with the API server itself telling who it saw (SelfSubjectReview); revocation cutting a
 * live watch; the Python client through the kubeconfig; deploy/ accepted by a server dry run.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrantState, Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { startRealGateway, tokenIdOf, type RealGateway } from "../support/gateway.ts";
import { realApiserverAvailable, startKubeApiserver, type KubeApiserver } from "../support/kube-apiserver.ts";
import { KUBECTL, PYTHON, clientEnv, hasFile, hasPythonKubernetes, requireProgram, run, stream } from "../support/programs.ts";
import { http1Request, rawRequest, rawUpgrade, readBody, type Protocol } from "../support/raw-client.ts";

const enabled = realApiserverAvailable() && requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");
const python = enabled && requireProgram(hasPythonKubernetes(), `python3-kubernetes (${PYTHON} -c 'import kubernetes')`);
const SCRIPT = join(import.meta.dirname, "..", "support", "python", "list-and-watch.py");
const RBAC = "/apis/rbac.authorization.k8s.io/v1";

let apiserver: KubeApiserver;
let home: string;
beforeAll(async () => {
  if (!enabled) return;
  apiserver = await startKubeApiserver();
  home = await mkdtemp(join(tmpdir(), "kubegate-real-rbac-"));
});
afterAll(async () => {
  await apiserver?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.runIf(enabled).each(["direct", "agent"] as const)("manage_rbac on a real kube-apiserver (%s mode)", (mode) => {
  const cluster = `rbac-${mode}`;
  const ns = `rbac-${mode}`;
  let gw: RealGateway;
  beforeAll(async () => {
    await apiserver.namespace(ns);
    gw = await startRealGateway(apiserver, { mode, clusterName: cluster, manageRbac: true });
  });
  afterAll(() => gw?.close());

  const bindings = async (grantId: string) => {
    const selector = encodeURIComponent(`kubegate.dev/grant=${grantId}`);
    const rbs = (await apiserver.api("GET", `${RBAC}/rolebindings?labelSelector=${selector}`)).json<{ items: unknown[] }>().items;
    const crbs = (await apiserver.api("GET", `${RBAC}/clusterrolebindings?labelSelector=${selector}`)).json<{ items: unknown[] }>().items;
    type Binding = { kind: string; metadata: { namespace?: string }; roleRef: { name: string }; subjects: Array<{ kind: string; name: string }> };
    // List items carry no kind: say which list each came from.
    return [...(rbs as Binding[]).map((b) => ({ ...b, kind: "RoleBinding" })), ...(crbs as Binding[]).map((b) => ({ ...b, kind: "ClusterRoleBinding" }))];
  };
  const settled = (id: string) =>
    eventually(`grant ${id} to leave PENDING`, async () => {
      const g = (await gw.admin.grants.getGrant({ id })).grant!;
      return g.state === GrantState.PENDING ? undefined : g;
    });

  it("a namespaced view grant becomes a RoleBinding the real authorizer honours; revoking removes it", async () => {
    const user = await gw.user("rita", { role: "view", namespaces: [ns], bindRbac: false });
    const grant = await settled(user.grantId);
    expect(grant.state).toBe(GrantState.APPLIED);
    const [binding, ...more] = await bindings(user.grantId);
    expect(more).toEqual([]);
    expect(binding).toMatchObject({ kind: "RoleBinding", metadata: { namespace: ns }, roleRef: { name: "view" }, subjects: [{ kind: "User", name: "kubegate:rita" }] });

    const token = await user.token();
    const list = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: `/clusters/${cluster}/api/v1/namespaces/${ns}/configmaps`, headers: { authorization: `Bearer ${token}` } });
    expect(list.status).toBe(200);
    // The real authorizer, asked directly, agrees: view in the namespace, nothing elsewhere.
    const review = async (verb: string, namespace: string) =>
      (
        await apiserver.api("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: { user: "kubegate:rita", resourceAttributes: { verb, resource: "configmaps", namespace } },
        })
      ).json<{ status: { allowed: boolean } }>().status.allowed;
    expect(await review("list", ns)).toBe(true);
    expect(await review("create", ns)).toBe(false);
    expect(await review("list", "default")).toBe(false);

    await gw.admin.grants.revokeGrant({ id: user.grantId });
    await eventually("the binding to be deleted", async () => ((await bindings(user.grantId)).length === 0 ? true : undefined));
    expect(await review("list", ns)).toBe(false);
  });

  it("a cluster-admin grant becomes a ClusterRoleBinding: escalation is checked by the real API server", async () => {
    const user = await gw.user("carl", { role: "cluster-admin", bindRbac: false });
    expect((await settled(user.grantId)).state).toBe(GrantState.APPLIED);
    const [binding] = await bindings(user.grantId);
    expect(binding).toMatchObject({ kind: "ClusterRoleBinding", roleRef: { name: "cluster-admin" } });
    const kubeconfig = await user.kubeconfig();
    const nodes = await run(KUBECTL, ["auth", "can-i", "delete", "nodes"], clientEnv(kubeconfig, home));
    expect(nodes.stdout.trim()).toBe("yes");
  });

  it("a group grant binds the group, and every member of it gets access", async () => {
    const key = (await gw.admin.identity.createApiKey({ name: "gina", subject: "gina", groups: ["platform"] })).secret;
    const g = (await gw.admin.grants.createGrant({ cluster, subject: { kind: SubjectKind.GROUP, name: "platform" }, role: Role.EDIT, namespaces: [ns] })).grant!;
    expect((await settled(g.id)).state).toBe(GrantState.APPLIED);
    expect((await bindings(g.id))[0]?.subjects).toEqual([{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "kubegate:platform" }]);
    const { createKubegateClients } = await import("../../src/client/clients.ts");
    const gina = createKubegateClients({ baseUrl: gw.kubegate.control!.url, caPem: gw.caPem, credential: key });
    const token = (await gina.tokens.mintToken({ cluster })).token;
    const created = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, {
      method: "POST",
      path: `/clusters/${cluster}/api/v1/namespaces/${ns}/configmaps`,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "by-group" } }),
    });
    expect(created.status).toBe(201);
  });
});

describe.runIf(enabled).each(["direct", "agent"] as const)("the data-path rules on a real kube-apiserver (%s mode)", (mode) => {
  const cluster = `secure-${mode}`;
  const ns = `secure-${mode}`;
  let gw: RealGateway;
  let token: string;
  let grantId: string;
  beforeAll(async () => {
    await apiserver.namespace(ns);
    gw = await startRealGateway(apiserver, { mode, clusterName: cluster });
    const sam = await gw.user("sam", { role: "edit", namespaces: [ns], groups: ["dev"] });
    grantId = sam.grantId;
    token = await sam.token();
  });
  afterAll(() => gw?.close());

  /** Who the API server says the caller is, asked through kubegate with extra headers. */
  async function whoami(protocol: Protocol, headers: Record<string, string | string[]>) {
    const res = await rawRequest(protocol, gw.dataUrl, gw.caPem, {
      method: "POST",
      path: `/clusters/${cluster}/apis/authentication.k8s.io/v1/selfsubjectreviews`,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" }),
    });
    expect(res.status, res.body).toBe(201);
    return JSON.parse(res.body).status.userInfo as { username: string; groups: string[]; extra?: Record<string, string[]> };
  }

  it("client identity headers never reach the API server, however they are spelled", async () => {
    for (const protocol of ["HTTP/2", "HTTP/1.1"] as const) {
      const who = await whoami(protocol, {
        "Impersonate-User": "system:admin",
        "impersonate-group": "system:masters",
        "IMPERSONATE-EXTRA-scopes": "all",
        "Impersonate-Uid": "0",
        "X-Remote-User": "system:admin",
        "x-remote-group": "system:masters",
        "X-Remote-Extra-Scopes": "all",
      });
      expect(who.username).toBe("kubegate:sam");
      expect(who.groups).toContain("kubegate:dev");
      expect(who.groups).not.toContain("system:masters");
      expect(Object.keys(who.extra ?? {})).not.toContain("scopes");
      // The member's audit log can tell which grant and token allowed it (user.extra).
      expect(who.extra).toEqual({ "kubegate.dev/grant": [grantId], "kubegate.dev/token-id": [tokenIdOf(token)] });
    }
  });

  it("the Connection header cannot be used to keep an identity header, nor to drop kubegate's", async () => {
    const res = await http1Request(gw.dataUrl, gw.caPem, {
      method: "POST",
      path: `/clusters/${cluster}/apis/authentication.k8s.io/v1/selfsubjectreviews`,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        connection: "keep-alive, Impersonate-User, X-Remote-User, Authorization",
        "impersonate-user": "system:admin",
        "x-remote-user": "system:admin",
      },
      body: JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" }),
    });
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body).status.userInfo.username).toBe("kubegate:sam");
  });

  it("the user's kubegate token never reaches the API server: sent there directly, it is refused", async () => {
    const direct = await apiserver.api("GET", "/api/v1/namespaces", undefined, {});
    expect(direct.status).toBe(200); // the admin certificate works...
    const withToken = await rawRequest("HTTP/2", apiserver.url, apiserver.caPem, { path: "/api", headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(401); // ...and the gateway token means nothing to the member.
  });

  it("a token in the query string, a path trick, or a token for another cluster is refused before the member", async () => {
    const q = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: `/clusters/${cluster}/api/v1/namespaces/${ns}/configmaps?access_token=${token}`, headers: { authorization: `Bearer ${token}` } });
    expect(q.status).toBe(400);
    for (const path of [`/clusters/${cluster}/../other/api`, `/clusters/${cluster}/api/%2e%2e/v1`, `/clusters/${cluster}%2Fx/api`])
      expect((await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path, headers: { authorization: `Bearer ${token}` } })).status).toBe(400);
    const other = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: "/clusters/elsewhere/api", headers: { authorization: `Bearer ${token}` } });
    expect(other.status).toBe(404);
  });

  it("a conditional GET gets the API server's 304 with its ETag and no body; a stale ETag gets the document", async () => {
    for (const protocol of ["HTTP/2", "HTTP/1.1"] as const) {
      // OpenAPI v2, and aggregated discovery (which kubectl asks for), as kubectl's cache revalidates them.
      for (const [path, accept] of [["/openapi/v2", "application/json"], ["/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"]] as const) {
        const headers = { authorization: `Bearer ${token}`, accept };
        const first = await rawRequest(protocol, gw.dataUrl, gw.caPem, { path: `/clusters/${cluster}${path}`, headers });
        expect(first.status).toBe(200);
        const etag = first.headers["etag"] as string;
        expect(etag).toMatch(/^"[0-9A-F]+"$/);
        const again = await rawRequest(protocol, gw.dataUrl, gw.caPem, { path: `/clusters/${cluster}${path}`, headers: { ...headers, "if-none-match": etag } });
        expect(again.status, `${protocol} ${path}`).toBe(304);
        expect(again.headers["etag"]).toBe(etag);
        expect(again.headers["vary"]).toContain("Accept");
        expect(again.headers["cache-control"]).toBe(first.headers["cache-control"]);
        expect(again.body).toBe("");
        const stale = await rawRequest(protocol, gw.dataUrl, gw.caPem, { path: `/clusters/${cluster}${path}`, headers: { ...headers, "if-none-match": '"stale"' } });
        expect(stale.status).toBe(200);
        expect(stale.body.length).toBeGreaterThan(100);
      }
    }
  });

  it("an upgrade the API server refuses closes the connection", async () => {
    const up = await rawUpgrade(gw.dataUrl, gw.caPem, {
      path: `/clusters/${cluster}/api/v1/namespaces/${ns}/pods/nowhere/exec?command=true&stdout=true`,
      headers: [
        ["Authorization", `Bearer ${token}`],
        ["Connection", "Upgrade"],
        ["Upgrade", "SPDY/3.1"],
        ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
      ],
    });
    try {
      expect(up.status).toBe(404);
      expect(await readBody(up)).toContain('pods \\"nowhere\\" not found');
      await up.closed;
    } finally {
      up.destroy();
    }
  });

  it("revoking the grant ends a live kubectl watch within a second", async () => {
    const user = await gw.user("wes", { role: "view", namespaces: [ns] });
    const kubeconfig = await user.kubeconfig({ namespace: ns });
    const w = stream(KUBECTL, ["get", "configmaps", "-w"], clientEnv(kubeconfig, home));
    try {
      await eventually("the watch to be live", async () => (gw.kubegate.data!.sessions.count("watch") > 0 ? true : undefined));
      const started = performance.now();
      await gw.admin.grants.revokeGrant({ id: user.grantId });
      await Promise.race([w.exited, new Promise((_, reject) => setTimeout(() => reject(new Error("watch still running")), 5_000))]);
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      await w.stop();
    }
  });

  it.runIf(python)("the Python client lists and watches through the kubeconfig", async () => {
    const user = await gw.user("pat", { role: "view" });
    await apiserver.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "py-cm", namespace: "default" }, data: { k: "before" } });
    const kubeconfig = await user.kubeconfig();
    const p = stream(PYTHON, [SCRIPT, kubeconfig], clientEnv(kubeconfig, home));
    try {
      await p.waitFor((l) => l.includes("EVENT ADDED py-cm before"), 20_000);
      await apiserver.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "py-cm", namespace: "default" }, data: { k: "after" } });
      expect(await p.waitFor((l) => l.includes("DONE"), 20_000)).toContain("EVENT MODIFIED py-cm after");
    } finally {
      await p.stop();
    }
  });
});

describe.runIf(enabled)("deploy/ on a real kube-apiserver", () => {
  it("the agent manifest passes a server-side dry run", async () => {
    await apiserver.namespace("kubegate-system");
    const env = clientEnv(await apiserver.kubeconfig("admin"), home);
    const res = await run(KUBECTL, ["apply", "--dry-run=server", "-f", join(import.meta.dirname, "..", "..", "deploy", "kubegate-agent.yaml")], env);
    // The only words on stderr: the namespace made above was not made by kubectl apply.
    expect(res.stderr.split("\n").filter((l) => l !== "" && !l.includes("missing the kubectl.kubernetes.io/last-applied-configuration annotation"))).toEqual([]);
    for (const kind of ["namespace/kubegate-system", "serviceaccount/kubegate-agent", "clusterrole.rbac.authorization.k8s.io/kubegate-agent", "statefulset.apps/kubegate-agent"])
      expect(res.stdout).toContain(kind);
  });

  it("the gateway manifest passes a server-side dry run", async () => {
    await apiserver.namespace("kubegate-system");
    const env = clientEnv(await apiserver.kubeconfig("admin"), home);
    const res = await run(KUBECTL, ["apply", "--dry-run=server", "-f", join(import.meta.dirname, "..", "..", "deploy", "kubegate-gateway.yaml")], env);
    expect(res.stderr.split("\n").filter((l) => l !== "" && !l.includes("missing the kubectl.kubernetes.io/last-applied-configuration annotation"))).toEqual([]);
    for (const kind of [
      "serviceaccount/kubegate",
      "service/kubegate-control",
      "service/kubegate-data",
      "deployment.apps/kubegate-control",
      "deployment.apps/kubegate-data",
      "poddisruptionbudget.policy/kubegate-control",
      "poddisruptionbudget.policy/kubegate-data",
    ])
      expect(res.stdout).toContain(`${kind} created (server dry run)`);
  });
});
