/**
 * What the exec credential plugin costs a kubectl call with a warm cache (target ≤ 150 ms):
 * the real kubectl runs `kubectl get namespaces` through the data plane with two
 * kubeconfigs written by `kubegate kubeconfig add` — exec mode and --embed-token — and
 * the difference of their medians is the plugin's share. Also `kubegate kube-token` alone.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { clusterRoleBinding, startFakeApiserver } from "../lib/fake-apiserver.mjs";
import { registerDirect, startGateway } from "../lib/gateway.mjs";
import { importDist, KUBEGATE_BIN } from "../lib/paths.mjs";
import { summarize } from "../lib/stats.mjs";

const CLUSTER = "member";

function run(bin, args, env, input) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = execFile(bin, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${bin} ${args.join(" ")}: ${err.message}\n${stderr}`));
      resolve({ ms: performance.now() - started, stdout });
    });
    child.stdin.end(input);
  });
}

export default {
  name: "kube-token",
  description: "kubectl with the exec plugin (warm cache) vs an embedded token: the plugin's cost per call (target ≤ 150 ms)",
  async run(ctx) {
    const n = ctx.quick ? 5 : 15;
    const dir = await ctx.tempDir("kubegate-bench-kubetoken-");
    const fake = await startFakeApiserver({ stderrFile: join(dir, "fake.log") });
    ctx.defer(fake.stop);
    const gw = await startGateway();
    ctx.defer(gw.stop);
    await registerDirect(gw, CLUSTER, { serverUrl: fake.url, caPem: fake.caPem, bearer: fake.gatewayToken });
    const { Role, SubjectKind } = await importDist("gen/kubegate/v1/grant_pb.js");
    const { secret } = await gw.admin.identity.createApiKey({ name: "bench", subject: "bench" });
    await gw.admin.grants.createGrant({ cluster: CLUSTER, subject: { kind: SubjectKind.USER, name: "bench" }, role: Role.VIEW });
    await fake.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", clusterRoleBinding("kubegate-bench", "view", ["kubegate:bench"]));

    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      KUBEGATE_CONFIG_DIR: join(dir, "config"),
      KUBEGATE_CACHE_DIR: join(dir, "cache"),
      KUBECONFIG: join(dir, "exec.yaml"),
    };
    const caFile = join(dir, "ca.crt");
    await writeFile(caFile, gw.caPem);
    const node = process.execPath;
    await run(node, [KUBEGATE_BIN, "login", "--server", gw.url, "--ca-file", caFile], env, `${secret}\n`);
    await run(node, [KUBEGATE_BIN, "kubeconfig", "add", "--cluster", CLUSTER, "--use"], env);
    await run(node, [KUBEGATE_BIN, "kubeconfig", "add", "--cluster", CLUSTER, "--use", "--embed-token", "--kubeconfig", join(dir, "token.yaml")], env);

    const kubectl = (kubeconfig) => run("kubectl", ["--kubeconfig", kubeconfig, "get", "namespaces", "-o", "name"], env);
    // Warm up both (the first exec call mints and fills the cache; kubectl's discovery cache too).
    for (let i = 0; i < 3; i++) {
      await kubectl(join(dir, "exec.yaml"));
      await kubectl(join(dir, "token.yaml"));
    }
    const execMs = [];
    const tokenMs = [];
    const pluginMs = [];
    for (let i = 0; i < n; i++) {
      execMs.push((await kubectl(join(dir, "exec.yaml"))).ms);
      tokenMs.push((await kubectl(join(dir, "token.yaml"))).ms);
      pluginMs.push((await run(node, [KUBEGATE_BIN, "kube-token", "--cluster", CLUSTER], env)).ms);
    }
    const row = (what, samples) => {
      const s = summarize(samples);
      return { measure: what, runs: samples.length, p50_ms: s.p50, p99_ms: s.p99, min_ms: s.min };
    };
    const rows = [
      row("kubectl get namespaces, exec plugin (warm cache)", execMs),
      row("kubectl get namespaces, embedded token", tokenMs),
      row("kubegate kube-token alone (warm cache)", pluginMs),
    ];
    const overhead = rows[0].p50_ms - rows[1].p50_ms;
    return {
      rows,
      notes: [
        `The plugin's share of a kubectl call (difference of medians): ${overhead.toFixed(0)} ms — target ≤ 150 ms: ${overhead <= 150 ? "met" : "NOT met"}.`,
        "Both kubeconfigs were written by `kubegate kubeconfig add` (exec mode and --embed-token); kubectl runs the plugin on every invocation.",
      ],
    };
  },
};
