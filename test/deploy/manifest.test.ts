/**
 * deploy/kubegate-agent.yaml as an operator applies it: every object it needs, wired to
 * each other by the names Kubernetes resolves (service account, role, binding, Secret,
 * ConfigMap, volume mounts), the agent started with environment variables `kubegate agent`
 * actually reads, and the ClusterRole docs/rbac.md shows being the one deployed.
 * (That the role suffices is proven against the fake member in test/agent/rbac.test.ts.)
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";

const ROOT = join(import.meta.dirname, "..", "..");

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
type Container = { name: string; image: string; command: string[]; env: Array<{ name: string; value: string }>; volumeMounts: Array<{ name: string; mountPath: string }> };

let objects: Obj[];
const find = (kind: string, name?: string) => {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (o === undefined) throw new Error(`no ${kind} ${name ?? ""} in the manifest`);
  return o;
};

beforeAll(async () => {
  const docs = parseAllDocuments(await readFile(join(ROOT, "deploy", "kubegate-agent.yaml"), "utf8"));
  for (const d of docs) expect(d.errors, String(d.errors)).toEqual([]);
  objects = docs.map((d) => d.toJS() as Obj);
});

describe("deploy/kubegate-agent.yaml", () => {
  it("has the objects, every namespaced one in kubegate-system", () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "Namespace/kubegate-system",
      "ServiceAccount/kubegate-agent",
      "ClusterRole/kubegate-agent",
      "ClusterRoleBinding/kubegate-agent",
      "Secret/kubegate-agent-bootstrap",
      "ConfigMap/kubegate-gateway-ca",
      "StatefulSet/kubegate-agent",
    ]);
    for (const o of objects.filter((x) => !["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(x.kind))) expect(o.metadata.namespace, o.kind).toBe("kubegate-system");
  });

  it("binds the ClusterRole to the agent's service account", () => {
    const binding = find("ClusterRoleBinding") as Obj & { roleRef: unknown; subjects: unknown };
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: find("ClusterRole").metadata.name });
    const sa = find("ServiceAccount");
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace }]);
  });

  it("runs one `kubegate agent` as that service account, with a volume for its state", () => {
    const sts = find("StatefulSet") as Obj & { spec: any };
    expect(sts.spec.replicas).toBe(1);
    const pod = sts.spec.template.spec;
    expect(pod.serviceAccountName).toBe(find("ServiceAccount").metadata.name);
    expect(sts.spec.selector.matchLabels).toEqual(sts.spec.template.metadata.labels);
    const [agent] = pod.containers as Container[];
    expect(agent!.image).toMatch(/^ghcr\.io\/kubegate\/kubegate:\d+\.\d+\.\d+$/);
    expect(agent!.command).toEqual(["kubegate", "agent"]);
    const claims = sts.spec.volumeClaimTemplates.map((c: { metadata: { name: string } }) => c.metadata.name);
    expect(claims).toEqual(["state"]);
  });

  it("sets only environment variables `kubegate agent` reads, and every file it names is mounted", async () => {
    const source = await readFile(join(ROOT, "src", "cli", "agent.ts"), "utf8");
    const flags = JSON.parse(/const FLAGS = (\[[^\]]*\])/.exec(source)![1]!) as string[];
    const known = new Set(flags.map((f) => `KUBEGATE_AGENT_${f.toUpperCase().replaceAll("-", "_")}`));
    const sts = find("StatefulSet") as Obj & { spec: any };
    const agent = sts.spec.template.spec.containers[0] as Container;
    const env = Object.fromEntries(agent.env.map((e) => [e.name, e.value]));
    for (const name of Object.keys(env)) expect(known.has(name), `${name} is not a kubegate agent variable`).toBe(true);
    for (const name of ["KUBEGATE_AGENT_GATEWAY", "KUBEGATE_AGENT_GATEWAY_CA_FILE", "KUBEGATE_AGENT_BOOTSTRAP_TOKEN_FILE", "KUBEGATE_AGENT_STATE_DIR", "KUBEGATE_AGENT_CLUSTER"])
      expect(env[name], name).toBeTruthy();
    expect(env["KUBEGATE_AGENT_GATEWAY"]).toMatch(/^https:\/\//);

    const volumes = Object.fromEntries(sts.spec.template.spec.volumes.map((v: { name: string }) => [v.name, v]));
    const mountOf = (file: string) => agent.volumeMounts.find((m) => file.startsWith(`${m.mountPath}/`) || file === m.mountPath);
    // The CA file comes from the ConfigMap, under a key it has.
    const caMount = mountOf(env["KUBEGATE_AGENT_GATEWAY_CA_FILE"]!)!;
    const cm = find("ConfigMap") as Obj & { data: Record<string, string> };
    expect(volumes[caMount.name].configMap.name).toBe(cm.metadata.name);
    expect(cm.data[env["KUBEGATE_AGENT_GATEWAY_CA_FILE"]!.slice(caMount.mountPath.length + 1)]).toContain("BEGIN CERTIFICATE");
    // The bootstrap token from the Secret, which may be deleted once used.
    const tokenMount = mountOf(env["KUBEGATE_AGENT_BOOTSTRAP_TOKEN_FILE"]!)!;
    const secret = find("Secret") as Obj & { stringData: Record<string, string> };
    expect(volumes[tokenMount.name].secret).toEqual({ secretName: secret.metadata.name, optional: true });
    expect(secret.stringData[env["KUBEGATE_AGENT_BOOTSTRAP_TOKEN_FILE"]!.slice(tokenMount.mountPath.length + 1)]).toMatch(/^kgb_/);
    // The state directory on the claim, writable (the root filesystem is not).
    expect(mountOf(env["KUBEGATE_AGENT_STATE_DIR"]!)!.name).toBe("state");
  });

  it("docs/rbac.md shows the ClusterRole that is deployed", async () => {
    const doc = await readFile(join(ROOT, "docs", "rbac.md"), "utf8");
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]!) as Obj & { rules: unknown });
    const shown = blocks.find((b) => b.kind === "ClusterRole");
    expect(shown?.rules).toEqual((find("ClusterRole") as Obj & { rules: unknown }).rules);
  });
});
