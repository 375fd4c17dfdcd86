/**
 * deploy/kubegate-gateway.yaml and deploy/Containerfile as an operator uses them: two
 * replicas of each plane, Services and PodDisruptionBudgets that select exactly those pods,
 * probes on the port each plane listens on, secrets that the README's commands create, and
 * every setting one `kubegate serve` reads and accepts. (The server-side dry run is in
 * test/real-apiserver/rbac-and-security.test.ts.)
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { envName, resolveServeConfig, serveOptions } from "../../src/config/serve-config.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const NS = "kubegate-system";

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: any; [k: string]: unknown };
type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
type Container = {
  name: string;
  image: string;
  command: string[];
  env: EnvVar[];
  ports: Array<{ name: string; containerPort: number }>;
  readinessProbe: any;
  livenessProbe: any;
  securityContext: any;
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
};

let objects: Obj[];
let readme: string;
/** Secrets the README's commands create: name → keys. */
let secretsMade: Map<string, Set<string>>;

const find = (kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind}/${name} in the manifest`);
  return o;
};
const PLANES = [
  { deployment: "kubegate-control", mode: "control", listenEnv: envName(serveOptions["controlListen"]!.flag) },
  { deployment: "kubegate-data", mode: "data", listenEnv: envName(serveOptions["dataListen"]!.flag) },
] as const;

beforeAll(async () => {
  const docs = parseAllDocuments(await readFile(join(ROOT, "deploy", "kubegate-gateway.yaml"), "utf8"));
  for (const d of docs) expect(d.errors, String(d.errors)).toEqual([]);
  objects = docs.map((d) => d.toJS() as Obj);
  readme = await readFile(join(ROOT, "README.md"), "utf8");
  secretsMade = new Map();
  for (const m of readme.matchAll(/kubectl -n kubegate-system create secret generic (\S+)((?: --from-(?:literal|file)=[^=\s]+=\S+)+)/g)) {
    secretsMade.set(m[1]!, new Set([...m[2]!.matchAll(/--from-(?:literal|file)=([^=\s]+)=/g)].map((k) => k[1]!)));
  }
});

describe("deploy/kubegate-gateway.yaml", () => {
  it("has the objects, every namespaced one in kubegate-system", () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "Namespace/kubegate-system",
      "ServiceAccount/kubegate",
      "Service/kubegate-control",
      "Service/kubegate-data",
      "Deployment/kubegate-control",
      "Deployment/kubegate-data",
      "PodDisruptionBudget/kubegate-control",
      "PodDisruptionBudget/kubegate-data",
    ]);
    for (const o of objects.filter((x) => x.kind !== "Namespace")) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NS);
  });

  describe.each(PLANES)("$deployment", ({ deployment, mode, listenEnv }) => {
    const dep = () => find("Deployment", deployment);
    const pod = () => dep().spec.template.spec;
    const container = () => pod().containers[0] as Container;
    const env = () => Object.fromEntries(container().env.map((e) => [e.name, e]));
    const labels = () => dep().spec.template.metadata.labels as Record<string, string>;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels()[k] === v);
    /** The labels of the other plane's pods. */
    const otherLabels = () => find("Deployment", PLANES.find((p) => p.deployment !== deployment)!.deployment).spec.template.metadata.labels as Record<string, string>;

    it(`runs two or more \`kubegate serve ${mode}\` pods, spread over nodes, updated without losing one`, () => {
      expect(dep().spec.replicas).toBeGreaterThanOrEqual(2);
      expect(dep().spec.selector.matchLabels).toEqual(labels());
      expect(container().command).toEqual(["kubegate", "serve", mode]);
      expect(container().image).toMatch(/^ghcr\.io\/kubegate\/kubegate:\d+\.\d+\.\d+$/);
      expect(dep().spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      const [spread] = pod().topologySpreadConstraints;
      expect(spread.topologyKey).toBe("kubernetes.io/hostname");
      expect(selects(spread.labelSelector.matchLabels)).toBe(true);
    });

    it("is selected, alone, by its Service and its PodDisruptionBudget", () => {
      const svc = find("Service", deployment);
      expect(selects(svc.spec.selector)).toBe(true);
      expect(Object.entries(svc.spec.selector).every(([k, v]) => otherLabels()[k] === v)).toBe(false);
      const portNames = container().ports.map((p) => p.name);
      for (const p of svc.spec.ports) expect(portNames).toContain(p.targetPort);
      const pdb = find("PodDisruptionBudget", deployment);
      expect(pdb.spec.selector.matchLabels).toEqual(labels());
      expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
      expect(pdb.spec.minAvailable).toBeLessThan(dep().spec.replicas);
    });

    it("listens on its container port, and is probed there over HTTPS: /readyz for readiness, /healthz for liveness", () => {
      const listen = env()[listenEnv]!.value!;
      const [port] = container().ports;
      expect(listen).toBe(`0.0.0.0:${port!.containerPort}`);
      expect(container().readinessProbe.httpGet).toEqual({ scheme: "HTTPS", path: "/readyz", port: port!.name });
      expect(container().livenessProbe.httpGet).toEqual({ scheme: "HTTPS", path: "/healthz", port: port!.name });
    });

    it("runs as non-root on a read-only filesystem with no capabilities and no service-account token", () => {
      expect(pod().securityContext.runAsNonRoot).toBe(true);
      expect(pod().securityContext.runAsUser).toBeGreaterThan(0);
      expect(container().securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
      expect(pod().automountServiceAccountToken).toBe(false);
      expect(pod().serviceAccountName).toBe(find("ServiceAccount", "kubegate").metadata.name);
    });

    it("sets only settings `kubegate serve` reads, and they pass its own validation", () => {
      const known = new Set([...Object.values(serveOptions).map((o) => envName(o.flag)), "KUBEGATE_ENCRYPTION_KEY"]);
      for (const name of Object.keys(env())) expect(known.has(name), `${name} is not a kubegate serve variable`).toBe(true);
      const values = Object.fromEntries(
        container().env.map((e) => [e.name, e.value ?? (e.name === "KUBEGATE_DATABASE" ? "postgres://u:p@db:5432/kubegate" : "c2VjcmV0")]),
      );
      const config = resolveServeConfig({}, values);
      expect(config.dataDir).toBe(env()["KUBEGATE_DATA_DIR"]!.value);
      if (mode === "control") expect(config.database).toMatch(/^postgres:\/\//);
    });

    it("takes every secret from a Secret the README's commands create, under a key they give it", () => {
      const volumes = Object.fromEntries(pod().volumes.map((v: { name: string }) => [v.name, v]));
      const fileVars = container().env.filter((e) => e.name.endsWith("_FILE"));
      expect(fileVars.length).toBeGreaterThan(0);
      for (const e of fileVars) {
        const mount = container().volumeMounts.find((m) => e.value!.startsWith(`${m.mountPath}/`));
        expect(mount, `${e.name}: ${e.value} is on no mount`).toBeDefined();
        expect(mount!.readOnly).toBe(true);
        const secretName = volumes[mount!.name].secret?.secretName as string;
        expect(secretsMade.get(secretName), `${e.name}: Secret ${secretName} is not made in the README`).toBeDefined();
        expect([...secretsMade.get(secretName)!]).toContain(e.value!.slice(mount!.mountPath.length + 1));
      }
      for (const e of container().env.filter((x) => x.valueFrom !== undefined)) {
        const ref = e.valueFrom!.secretKeyRef!;
        expect([...(secretsMade.get(ref.name) ?? [])], `${e.name} from Secret ${ref.name}`).toContain(ref.key);
      }
      if (mode === "control") {
        // Secrets never sit in the manifest as values.
        expect(env()["KUBEGATE_DATABASE"]!.valueFrom?.secretKeyRef).toBeDefined();
        expect(env()["KUBEGATE_ENCRYPTION_KEY"]!.valueFrom?.secretKeyRef).toBeDefined();
      }
    });

    it("writes only to its data directory, an emptyDir", () => {
      const dir = env()["KUBEGATE_DATA_DIR"]!.value!;
      const mount = container().volumeMounts.find((m) => m.mountPath === dir)!;
      expect(mount.readOnly).not.toBe(true);
      expect(pod().volumes.find((v: { name: string }) => v.name === mount.name).emptyDir).toBeDefined();
    });
  });

  it("the data plane syncs from the control plane's Service, trusting the CA the control plane serves with", () => {
    const control = find("Service", "kubegate-control");
    const dataEnv = Object.fromEntries((find("Deployment", "kubegate-data").spec.template.spec.containers[0] as Container).env.map((e) => [e.name, e.value]));
    const controlEnv = Object.fromEntries((find("Deployment", "kubegate-control").spec.template.spec.containers[0] as Container).env.map((e) => [e.name, e.value]));
    expect(dataEnv["KUBEGATE_CONTROL"]).toBe(`https://${control.metadata.name}.${NS}.svc:${control.spec.ports[0].port}`);
    expect(dataEnv["KUBEGATE_CONTROL_CA_FILE"]).toBe(controlEnv["KUBEGATE_TLS_CA_FILE"]);
    expect(dataEnv["KUBEGATE_CONTROL_TOKEN_FILE"]).toBeTruthy();
    // Kubeconfigs the control plane writes point at the data plane's public name.
    expect(controlEnv["KUBEGATE_DATA_URL"]).toMatch(/^https:\/\/[^/]+$/);
  });
});

describe("deploy/Containerfile", () => {
  it("builds on the Node.js major kubegate needs, runs as the manifests' non-root user, with `kubegate` as entry point", async () => {
    const file = await readFile(join(ROOT, "deploy", "Containerfile"), "utf8");
    const launcher = await readFile(join(ROOT, "bin", "kubegate.js"), "utf8");
    const major = /const REQUIRED_MAJOR = (\d+);/.exec(launcher)![1];
    const froms = [...file.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
    expect(froms.length).toBe(2);
    for (const image of froms) expect(image).toMatch(new RegExp(`/node:${major}-`));
    const uid = find("Deployment", "kubegate-data").spec.template.spec.securityContext.runAsUser;
    expect(file).toMatch(new RegExp(`^USER ${uid}:${uid}$`, "m"));
    expect(file).toMatch(/^ENTRYPOINT \["kubegate"\]$/m);
    // What bin/kubegate.js runs is in the image.
    expect(launcher).toContain("../dist/src/cli/main.js");
    for (const copied of ["/src/dist", "/src/bin", "/src/node_modules"]) expect(file).toContain(`COPY --from=build ${copied}`);
    expect(file).toContain("npx tsc -p tsconfig.build.json");
  });

  it("the README shows how to build it and where the manifest goes", () => {
    expect(readme).toContain("deploy/Containerfile");
    expect(readme).toContain("kubectl apply -f deploy/kubegate-gateway.yaml");
  });
});
