/**
 * `kubegate demo`: from nothing to kubectl through kubegate in seconds, with no cluster of
 * one's own — get, -w, logs -f and exec on the built-in demo member — and Ctrl-C leaves
 * no context, no process and no data directory behind.
 */
import { readFile, stat } from "node:fs/promises";
import https from "node:https";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { createKubegateClients } from "../../src/client/clients.ts";
import { afterAll, beforeAll, expect, it } from "vitest";
import { chromiumPresent, startBrowser } from "../console/support.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { KUBEGATE_BIN } from "../support/kubegate-process.ts";
import { KUBECTL, clientEnv, run, stream, type Streaming } from "../support/programs.ts";

let user: CliUser;
let demo: Streaming;
let env: NodeJS.ProcessEnv;
let startMs: number;

beforeAll(async () => {
  user = await cliUser();
  env = { ...clientEnv(user.kubeconfig, user.home), ...user.env };
  const started = Date.now();
  demo = stream(process.execPath, [KUBEGATE_BIN, "demo"], user.env);
  await demo.waitFor((lines) => lines.includes("kubegate demo is ready."), 60_000);
  startMs = Date.now() - started;
  console.log(`kubegate demo ready in ${startMs} ms`);
});
afterAll(async () => {
  await demo?.stop();
  await user?.cleanup();
});

const kubectl = (args: string[], input?: string) => run(KUBECTL, ["--context", "kubegate-demo", ...args], env, input);

it("is ready within a minute and says what it is and what to try", async () => {
  expect(startMs).toBeLessThan(60_000);
  const out = demo.lines.join("\n");
  expect(out).toContain('DEMO member cluster "demo": a small fake Kubernetes API server (no containers run)');
  expect(out).toContain(`context kubegate-demo added to ${user.kubeconfig}`);
  expect(out).toContain("kubectl --context kubegate-demo logs -f hello");
  // The person's own login is not touched: the demo's session lives in its own directory.
  await expect(readFile(`${user.home}/.config/kubegate/session.json`)).rejects.toThrow();
});

it("shows the demo cluster in the web console: the printed URL serves it, the printed key logs in, the cluster is READY and labelled", async () => {
  const out = demo.lines.join("\n");
  const url = /^Web console: (https:\/\/127\.0\.0\.1:\d+)\/console\/ /m.exec(out)?.[1];
  const key = /^ {2}(kgk_\S+) \)$/m.exec(out)?.[1];
  expect(url).toBeDefined();
  expect(key).toBeDefined();
  // The demo's CA is in its context, as the browser would be told to trust it.
  const caPem = Buffer.from(/certificate-authority-data: (\S+)/.exec(await readFile(user.kubeconfig, "utf8"))![1]!, "base64").toString("utf8");
  const page = await new Promise<{ status: number; type: string }>((resolve, reject) => {
    https.get(`${url}/console/`, { ca: caPem }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]) });
    }).once("error", reject);
  });
  expect(page).toEqual({ status: 200, type: "text/html; charset=utf-8" });
  const clients = createKubegateClients({ baseUrl: url!, caPem, credential: key! });
  await expect.poll(async () => (await clients.clusters.getCluster({ name: "demo" })).cluster?.status?.phase, { timeout: 20_000 }).toBe(ClusterPhase.READY);
  const cluster = (await clients.clusters.getCluster({ name: "demo" })).cluster!;
  expect(cluster.labels["kubegate.dev/demo"]).toBe("true");
  expect(cluster.status?.kubernetesVersion).toMatch(/^v1\./);

  // And in the browser, as a newcomer sees it.
  if (!chromiumPresent()) return;
  const chrome = await startBrowser();
  try {
    const { page } = await chrome.page();
    await page.goto(`${url}/console/`);
    await page.getByLabel("API key").fill(key!);
    await page.keyboard.press("Enter");
    const row = page.locator('tr[data-cluster="demo"]');
    await row.waitFor();
    expect(await row.locator("th .badge").textContent()).toBe("demo");
    expect(await row.locator("td").first().textContent()).toBe("READY");
    expect(await row.locator("td").nth(1).textContent()).toBe(cluster.status?.kubernetesVersion);
  } finally {
    await chrome.close();
  }
});

it("answers kubectl get, -w, logs -f and exec through kubegate", async () => {
  const pods = await kubectl(["get", "pods", "-o", "name"]);
  expect(pods.stderr).toBe("");
  expect(pods.stdout).toContain("pod/hello\n");

  const watch = stream(KUBECTL, ["--context", "kubegate-demo", "get", "pods", "-w", "-o", "name"], env);
  try {
    await watch.waitFor((lines) => lines.includes("pod/hello"));
    const created = await kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "new-one", namespace: "default" }, spec: { containers: [{ name: "main", image: "busybox:1.36" }] } }));
    expect(created.stderr).toBe("");
    await watch.waitFor((lines) => lines.includes("pod/new-one"));
  } finally {
    await watch.stop();
  }

  const logs = stream(KUBECTL, ["--context", "kubegate-demo", "logs", "-f", "hello"], env);
  try {
    // More lines than a plain read returns: they keep coming.
    await logs.waitFor((lines) => lines.includes("log line 8 from hello/main"), 15_000);
  } finally {
    await logs.stop();
  }

  const exec = await kubectl(["exec", "hello", "--", "hostname"]);
  expect(exec.stderr).toBe("");
  expect(exec.stdout).toBe("hello\n");
});

it("stops on Ctrl-C and removes its context, its member and its data", async () => {
  demo.child.kill("SIGINT");
  expect(await demo.exited).toBe(0);
  const config = await readFile(user.kubeconfig, "utf8");
  expect(config).not.toContain("kubegate-demo");
  const dataDir = /data in (\S+)\)/.exec(demo.lines.join("\n"))![1]!;
  await expect(stat(dataDir)).rejects.toThrow();
  const gone = await kubectl(["get", "pods"]);
  expect(gone.code).not.toBe(0);
});
