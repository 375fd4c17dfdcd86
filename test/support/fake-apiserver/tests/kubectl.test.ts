/**
 * The real kubectl 1.32 against the fake, directly: the behaviours a gateway
 * must later preserve (get/describe/apply/delete, watch, follow logs, exec,
 * auth can-i, discovery, RBAC denials, impersonation).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeApiserver, roleBinding, startFakeApiserver } from "../index.ts";
import { request1 } from "./http-client.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, run, stream } from "../../programs.ts";

const available = requireProgram(hasFile(KUBECTL), `kubectl at ${KUBECTL}`);

describe.skipIf(!available)("kubectl 1.32 against the fake apiserver", () => {
  let fake: FakeApiserver;
  let home: string;
  const kc: Record<string, string> = {};
  const kubectl = (who: string, args: string[], input?: string | Buffer) => run(KUBECTL, args, clientEnv(kc[who]!, home), input);

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "kubectl-home-"));
    fake = await startFakeApiserver({
      gateway: { token: "gateway-token" },
      tokens: { "viewer-token": { user: "viewer" }, "nobody-token": { user: "nobody", groups: ["interns"] } },
      objects: [roleBinding("default", "viewer-view", { kind: "ClusterRole", name: "view" }, [{ kind: "User", name: "viewer" }]), roleBinding("default", "bob-edit", { kind: "ClusterRole", name: "edit" }, [{ kind: "User", name: "bob" }])],
    });
    kc["admin"] = await fake.kubeconfig();
    kc["viewer"] = await fake.kubeconfig({ token: "viewer-token" });
    kc["nobody"] = await fake.kubeconfig({ token: "nobody-token" });
    kc["gateway"] = await fake.kubeconfig({ token: "gateway-token" });
    kc["cert"] = await fake.kubeconfig({ clientCert: await fake.issueClientCert("cert-admin", ["system:masters"]) });
  });
  afterAll(async () => {
    await fake?.close();
    await rm(home, { recursive: true, force: true });
  });

  it("lists served resources with short names and verbs (api-resources)", async () => {
    const r = await kubectl("admin", ["api-resources", "-o", "wide"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^configmaps\s+cm\s+v1\s+true\s+ConfigMap\s+create,delete,deletecollection,get,list,patch,update,watch/m);
    for (const [name, short] of [["pods", "po"], ["namespaces", "ns"], ["services", "svc"], ["deployments", "deploy"], ["events", "ev"], ["serviceaccounts", "sa"]]) {
      expect(r.stdout).toMatch(new RegExp(`^${name}\\s+${short}\\s`, "m"));
    }
    expect(r.stdout).toMatch(/^rolebindings\s+rbac\.authorization\.k8s\.io\/v1\s+true\s+RoleBinding/m);
  });

  it("applies, gets, describes, re-applies and deletes objects", async () => {
    const file = join(home, "app.yaml");
    const manifest = (image: string, value: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  labels: {app: demo}
data:
  mode: "${value}"
  level: debug
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ${image}
        env: [{name: A, value: "1"}]
      - name: sidecar
        image: busybox:1.36
`;
    await writeFile(file, manifest("nginx:1.25", "one"));
    let r = await kubectl("admin", ["apply", "-f", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("configmap/app-config created");
    expect(r.stdout).toContain("deployment.apps/web created");

    r = await kubectl("admin", ["get", "cm", "app-config"]);
    expect(r.stdout).toMatch(/^NAME\s+DATA\s+AGE\n(app-config)\s+2\s+\d+s\n$/);
    r = await kubectl("admin", ["get", "deploy"]);
    expect(r.stdout).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+2\/2\s+2\s+2\s+/);
    r = await kubectl("admin", ["get", "pods", "-o", "wide"]);
    expect(r.stdout).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
    expect(r.stdout).toMatch(/fake-pod\s+1\/1\s+Running\s+0/);

    r = await kubectl("admin", ["describe", "cm", "app-config"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Name:\s+app-config/);
    expect(r.stdout).toMatch(/mode:\n----\none/);
    r = await kubectl("admin", ["describe", "pod", "fake-pod"]);
    expect(r.stdout).toMatch(/Status:\s+Running/);

    await writeFile(file, manifest("nginx:1.27", "two"));
    r = await kubectl("admin", ["apply", "-f", file]);
    expect(r.stdout).toContain("configmap/app-config configured");
    expect(r.stdout).toContain("deployment.apps/web configured");
    r = await kubectl("admin", ["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image} {.spec.template.spec.containers[0].env[0].name} {.metadata.generation}"]);
    // Strategic merge kept both containers (merged by name) and bumped the generation.
    expect(r.stdout).toBe("nginx:1.27 busybox:1.36 A 2");

    r = await kubectl("admin", ["apply", "--server-side", "-f", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("serverside-applied");

    r = await kubectl("admin", ["delete", "-f", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('configmap "app-config" deleted');
    r = await kubectl("admin", ["get", "cm", "app-config"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error from server (NotFound): configmaps "app-config" not found');
  });

  it("creates with typed (protobuf) clients: create configmap, secret, namespace, rolebinding", async () => {
    let r = await kubectl("admin", ["create", "namespace", "team-a"]);
    expect(r.code, r.stderr).toBe(0);
    r = await kubectl("admin", ["create", "configmap", "typed", "-n", "team-a", "--from-literal=k=v"]);
    expect(r.stdout).toContain("configmap/typed created");
    r = await kubectl("admin", ["create", "secret", "generic", "s", "-n", "team-a", "--from-literal=p=q"]);
    expect(r.code, r.stderr).toBe(0);
    r = await kubectl("admin", ["get", "cm,secret", "-n", "team-a", "-o", "jsonpath={.items[0].data.k} {.items[1].data.p} {.items[1].type}"]);
    expect(r.stdout).toBe(`v ${Buffer.from("q").toString("base64")} Opaque`);
    r = await kubectl("admin", ["create", "namespace", "team-a"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error from server (AlreadyExists): namespaces "team-a" already exists');
  });

  it("prints watch events as they happen (get -w)", async () => {
    fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "watched", namespace: "default" }, data: { a: "1" } });
    const w = stream(KUBECTL, ["get", "cm", "watched", "-w"], clientEnv(kc["admin"]!, home));
    try {
      await w.waitFor((l) => l.some((x) => /^watched\s+1\s/.test(x)));
      const res = await request1(fake, {
        method: "PATCH",
        path: "/api/v1/namespaces/default/configmaps/watched",
        headers: { "content-type": "application/merge-patch+json" },
        body: JSON.stringify({ data: { b: "2" } }),
      });
      expect(res.status).toBe(200);
      const lines = await w.waitFor((l) => l.some((x) => /^watched\s+2\s/.test(x)));
      expect(lines[0]).toMatch(/^NAME\s+DATA\s+AGE$/);
      expect(lines.filter((x) => x.startsWith("NAME")).length).toBe(1);
    } finally {
      await w.stop();
    }
  });

  it("follows logs as lines arrive (logs -f)", async () => {
    const f = stream(KUBECTL, ["logs", "-f", "fake-pod", "--tail=1"], clientEnv(kc["admin"]!, home));
    try {
      const seen: number[] = [];
      await f.waitFor((l) => {
        while (seen.length < l.length) seen.push(Date.now());
        return l.length >= 3;
      });
      expect(f.lines[0]).toBe("log line 5 from fake-pod/main");
      expect(f.lines[1]).toBe("log line 6 from fake-pod/main");
      expect(f.lines[2]).toBe("log line 7 from fake-pod/main");
      expect(seen[2]! - seen[1]!).toBeGreaterThanOrEqual(50);
      expect(fake.liveStreams().log).toBe(1);
    } finally {
      await f.stop();
    }
    await expect.poll(() => fake.liveStreams().log).toBe(0);
  });

  it("round-trips stdin through exec -i cat byte for byte", async () => {
    const input = Buffer.concat([randomBytes(96 * 1024), Buffer.from("\nend\n")]);
    const r = await kubectl("admin", ["exec", "-i", "fake-pod", "--", "cat"], input);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdoutBytes.equals(input)).toBe(true);
  });

  it("reports the command's exit code (exec sh -c 'exit 3')", async () => {
    let r = await kubectl("admin", ["exec", "fake-pod", "--", "sh", "-c", "echo before; exit 3"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("before\n");
    expect(r.stderr).toContain("command terminated with exit code 3");
    r = await kubectl("admin", ["exec", "fake-pod", "-c", "main", "--", "no-such-binary"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('exec: "no-such-binary": executable file not found in $PATH');
    r = await kubectl("admin", ["exec", "fake-pod", "--", "echo", "hello", "world"]);
    expect(r.stdout).toBe("hello world\n");
  });

  it("answers auth can-i for allowed and denied actions", async () => {
    let r = await kubectl("viewer", ["auth", "can-i", "list", "configmaps"]);
    expect([r.code, r.stdout.trim()]).toEqual([0, "yes"]);
    r = await kubectl("viewer", ["auth", "can-i", "create", "configmaps"]);
    expect([r.code, r.stdout.trim()]).toEqual([1, "no"]);
    r = await kubectl("viewer", ["auth", "can-i", "list", "configmaps", "-n", "kube-system"]);
    expect(r.stdout.trim()).toBe("no");
    r = await kubectl("cert", ["auth", "can-i", "delete", "nodes"]);
    expect(r.stdout.trim()).toBe("yes");
    r = await kubectl("viewer", ["auth", "can-i", "--list"]);
    expect(r.stdout).toMatch(/configmaps\s+\[\]\s+\[\]\s+\[get list watch\]/);
  });

  it("denies a view-bound user who tries to create, worded like kube-apiserver", async () => {
    const r = await kubectl("viewer", ["create", "configmap", "nope", "--from-literal=a=b"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('configmaps is forbidden: User "viewer" cannot create resource "configmaps" in API group "" in the namespace "default"');
    const g = await kubectl("viewer", ["get", "secrets"]);
    expect(g.stderr).toContain('secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "default"');
  });

  it("lets an impersonator act --as another user and refuses everyone else", async () => {
    fake.clearRequests();
    let r = await kubectl("gateway", ["--as", "bob", "--as-group", "devs", "create", "configmap", "by-bob"]);
    expect(r.code, r.stderr).toBe(0);
    const create = fake.requests.find((q) => q.method === "POST" && q.path.endsWith("/configmaps"));
    expect(create?.user?.name).toBe("kubegate-gateway");
    expect(create?.impersonatedUser).toMatchObject({ name: "bob", groups: ["devs", "system:authenticated"] });
    r = await kubectl("gateway", ["--as", "bob", "auth", "can-i", "create", "roles"]);
    expect(r.stdout.trim()).toBe("no");

    r = await kubectl("viewer", ["--as", "bob", "get", "configmaps"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('users "bob" is forbidden: User "viewer" cannot impersonate resource "users" in API group "" at the cluster scope');
    r = await kubectl("nobody", ["get", "pods"]);
    expect(r.stderr).toContain('pods is forbidden: User "nobody" cannot list resource "pods" in API group "" in the namespace "default"');
  });

  it("authenticates client certificates (CN user, O groups)", async () => {
    const r = await kubectl("cert", ["get", "namespaces"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^default\s+Active\s/m);
    expect(fake.requests.at(-1)?.user).toMatchObject({ name: "cert-admin", groups: ["system:masters", "system:authenticated"] });
  });
});
