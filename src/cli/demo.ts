/**
 * `kubegate demo`: the first five minutes without a cluster. Starts kubegate (both planes,
 * a throwaway data directory, loopback ports) in front of a built-in DEMO member — the
 * small fake Kubernetes API server kubegate's own tests use, which runs no containers but
 * answers get, watch, logs and exec as kubectl expects — registers it as cluster `demo`,
 * grants the bootstrap admin cluster-admin there, and writes the kubeconfig context
 * `kubegate-demo` (exec plugin, with a session of its own, so the person's real login is
 * untouched). Ctrl-C stops everything and removes the context again.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createKubegateClients } from "../client/clients.ts";
import { resolveServeConfig } from "../config/serve-config.ts";
import { kubeconfigEntries, ENTRY_PREFIX } from "../kube/kubeconfig.ts";
import { removeEntries, upsertEntries } from "../kube/kubeconfig-edit.ts";
import { resolveKubeconfigPath, updateKubeconfigFile } from "../kube/kubeconfig-file.ts";
import { createLogger } from "../log.ts";
import { startKubegate, type Kubegate } from "../serve/kubegate.ts";
import { CliError } from "./cli-error.ts";
import { parseFlags } from "./flags.ts";
import { packageRoot } from "../package-root.ts";
import { selfCommand } from "./self.ts";
import { saveSession } from "./session.ts";

export const DEMO_CLUSTER = "demo";

interface DemoMember {
  url: string;
  caFile: string;
  adminToken: string;
  gatewayToken: string;
}

/** The fake API server as a child process; it prints one JSON line when it serves. */
async function startMember(main: string): Promise<{ member: DemoMember; child: ChildProcess }> {
  const child = spawn(process.execPath, [main], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new CliError(`the demo member cluster exited (${code}) before it served`)));
  });
  lines.close();
  return { member: JSON.parse(first) as DemoMember, child };
}

/** One call to the demo member's own API, as its admin (for its RBAC and sample objects). */
async function memberPost(member: DemoMember, ca: string, path: string, body: unknown): Promise<void> {
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request(new URL(path, member.url), { method: "POST", ca, headers: { authorization: `Bearer ${member.adminToken}`, "content-type": "application/json" } }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode ?? 0));
    });
    req.once("error", reject);
    req.end(JSON.stringify(body));
  });
  if (status !== 201 && status !== 200 && status !== 409) throw new CliError(`the demo member cluster refused POST ${path} (${status})`);
}

const samplePod = (name: string, app: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", labels: { app, "kubegate.dev/demo": "true" } },
  spec: { containers: [{ name: "main", image: "busybox:1.36" }] },
});

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parseFlags("demo", argv, { kubeconfig: { type: "string" }, help: { type: "boolean", short: "h" } });
  if (values.help) {
    process.stdout.write(
      "Usage: kubegate demo [--kubeconfig FILE]\n\n" +
        "Starts kubegate with a built-in DEMO member cluster (a small fake Kubernetes API server:\n" +
        "no containers run, but get, -w, logs -f and exec answer) and writes the kubeconfig\n" +
        "context kubegate-demo. Ctrl-C stops it and removes the context.\n",
    );
    return 0;
  }
  const main = join(packageRoot(), "test", "support", "fake-apiserver", "main.ts");
  if (!existsSync(main)) throw new CliError("kubegate demo runs from a kubegate checkout: its demo member cluster lives in test/support/fake-apiserver");
  const kubeconfig = resolveKubeconfigPath(values.kubeconfig);
  const dir = await mkdtemp(join(tmpdir(), "kubegate-demo-"));
  let child: ChildProcess | undefined;
  let kubegate: Kubegate | undefined;
  let wroteContext = false;
  try {
    const started = await startMember(main);
    child = started.child;
    const member = started.member;
    const memberCa = await readFile(member.caFile, "utf8");

    const config = resolveServeConfig({ "data-dir": join(dir, "data"), "control-listen": "127.0.0.1:0", "data-listen": "127.0.0.1:0" }, {});
    kubegate = await startKubegate("all", config, createLogger({ level: "warn" }, process.stderr));
    const control = kubegate.control!;
    const adminKey = control.bootstrapAdminKey!;
    const admin = createKubegateClients({ baseUrl: control.url, caPem: control.tls.caPem, credential: adminKey });
    const me = await admin.identity.whoAmI({});
    await admin.clusters.registerCluster({
      name: DEMO_CLUSTER,
      labels: { "kubegate.dev/demo": "true" },
      mode: { case: "direct", value: { serverUrl: member.url, caPem: memberCa, credential: { kind: { case: "bearerToken", value: member.gatewayToken } } } },
    });
    await admin.grants.createGrant({ cluster: DEMO_CLUSTER, subject: { kind: SubjectKind.USER, name: me.subject }, role: Role.CLUSTER_ADMIN });
    // The member's own RBAC for the identity kubegate impersonates, as its admin would bind it.
    await memberPost(member, memberCa, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "kubegate-demo-admin" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: config.impersonationPrefix + me.subject }],
    });
    for (const [name, app] of [["hello", "hello"], ["web-0", "web"]] as const) await memberPost(member, memberCa, "/api/v1/namespaces/default/pods", samplePod(name, app));

    // A session of the demo's own: the person's real `kubegate login` stays as it is.
    const env = { KUBEGATE_CONFIG_DIR: join(dir, "config"), KUBEGATE_CACHE_DIR: join(dir, "cache") };
    await saveSession({ server: control.url, caPem: control.tls.caPem, apiKey: adminKey }, env);
    const self = selfCommand();
    const entry = kubeconfigEntries({
      cluster: DEMO_CLUSTER,
      server: `${kubegate.dataUrl}/clusters/${DEMO_CLUSTER}`,
      caPem: control.tls.caPem,
      auth: { mode: "exec", command: self.command, args: [...self.args, "kube-token", "--cluster", DEMO_CLUSTER], env: Object.entries(env).map(([name, value]) => ({ name, value })) },
    });
    await updateKubeconfigFile(kubeconfig, (text) => upsertEntries(text, [entry], kubeconfig));
    wroteContext = true;

    const context = ENTRY_PREFIX + DEMO_CLUSTER;
    process.stdout.write(
      [
        "kubegate demo is ready.",
        "",
        `  DEMO member cluster "${DEMO_CLUSTER}": a small fake Kubernetes API server (no containers run), registered in direct mode`,
        `  control plane ${control.url}   data plane ${kubegate.dataUrl}   (127.0.0.1 only, data in ${dir})`,
        `  you are ${me.subject}, with cluster-admin on ${DEMO_CLUSTER}; context ${context} added to ${kubeconfig}`,
        "",
        "Try:",
        `  kubectl --context ${context} get pods`,
        `  kubectl --context ${context} get pods -w`,
        `  kubectl --context ${context} logs -f hello`,
        `  kubectl --context ${context} exec hello -- hostname`,
        "",
        `Web console: ${control.url}/console/  (the browser warns about the demo's own CA; log in with this demo-only API key:`,
        `  ${adminKey} )`,
        "",
        "Ctrl-C stops the demo and removes the context.",
        "",
      ].join("\n"),
    );
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        resolve();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      child!.once("exit", stop);
    });
    return 0;
  } finally {
    if (wroteContext) await updateKubeconfigFile(kubeconfig, (text) => removeEntries(text, [DEMO_CLUSTER], kubeconfig).text).catch(() => undefined);
    await kubegate?.close(1000);
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.stdin!.end();
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
}
