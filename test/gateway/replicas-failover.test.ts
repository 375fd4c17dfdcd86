/**
 * kubegate scaled out on loopback, as deploy/kubegate-gateway.yaml runs it: two
 * `serve control` processes on one PostgreSQL behind a TCP balancer (the Service), three
 * `serve data` processes syncing through it, one of them with two workers, and two agent
 * clusters whose agents dial the data planes through another balancer. Each agent ends up
 * with a tunnel to every data-plane process (the agent mesh), so kubectl get, watch and
 * exec reach the direct cluster and both agent clusters through every data plane; SIGKILL
 * one data plane and one control plane, and the others keep serving, with no grant or
 * token lost; a revocation made after that cuts access on every surviving data plane
 * within a second.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Writable } from "node:stream";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { GrantState, Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createKubegateClients } from "../../src/client/clients.ts";
import { createLogger } from "../../src/log.ts";
import { startAgent, type Agent } from "../../src/tunnel/agent.ts";
import { clusterRoleBinding } from "../support/fake-apiserver/rbac-defaults.ts";
import { viewerOnFakeMember } from "../support/control-plane.ts";
import { startFakeApiserver, type FakeApiserver } from "../support/fake-apiserver/index.ts";
import { renderKubeconfig } from "../support/fake-apiserver/kubeconfig.ts";
import { startKubegate, type KubegateProcess } from "../support/kubegate-process.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { KUBECTL, clientEnv, run, stream, type Streaming } from "../support/programs.ts";
import { http1Request } from "../support/raw-client.ts";
import { startTcpBalancer, type TcpBalancer } from "../support/tcp-balancer.ts";
import { until } from "../support/watch-streams.ts";

let pg: TestPostgres;
let fake: FakeApiserver;
let root: string;
let lb: TcpBalancer;
const processes: KubegateProcess[] = [];
const controls: Array<{ proc: KubegateProcess; port: number }> = [];
const datas: Array<{ proc: KubegateProcess; url: string; workers: number }> = [];
let caPem: string;
let admin: ReturnType<typeof createKubegateClients>;
/** The agent clusters: each its own fake member and agent, dialing through `agentLb`. */
const edges: Array<{ name: string; fake: FakeApiserver; agent: Agent }> = [];
let agentLb: TcpBalancer;
const streams: Streaming[] = [];
const quiet = createLogger({ level: "error" }, new Writable({ write: (_c, _e, cb) => cb() }));

const listening = async (proc: KubegateProcess, plane: "control" | "data") => (await proc.waitFor(new RegExp(`${plane} plane listening on (https://\\S+)`), 30_000))[1]!;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "kubegate-replicas-"));
  pg = await startPostgres();
  await pg.createDatabase("kubegate");
  fake = await startFakeApiserver({ gateway: true });
  const shared = { KUBEGATE_ENCRYPTION_KEY: randomBytes(32).toString("base64"), KUBEGATE_DATABASE: pg.url("kubegate"), KUBEGATE_SYNC_HEARTBEAT: "500ms" };
  // The first control plane makes the CA and serving certificate every process serves with.
  const tlsDir = join(root, "control-1");
  const tls = { KUBEGATE_TLS_CERT_FILE: join(tlsDir, "server.crt"), KUBEGATE_TLS_KEY_FILE: join(tlsDir, "server.key"), KUBEGATE_TLS_CA_FILE: join(tlsDir, "ca.crt") };
  for (const i of [1, 2]) {
    const dir = join(root, `control-${i}`);
    await mkdir(dir, { recursive: true });
    const proc = startKubegate(["serve", "control", "--control-listen", "127.0.0.1:0"], { ...shared, ...(i === 1 ? {} : tls), KUBEGATE_DATA_DIR: dir, KUBEGATE_DATA_URL: "https://localhost:9443" });
    processes.push(proc);
    const url = await listening(proc, "control");
    controls.push({ proc, port: Number(new URL(url).port) });
  }
  const adminKey = (await controls[0]!.proc.waitFor(/bootstrap admin API key[^\n]*\n\s+(\S+)/))[1]!;
  caPem = await readFile(tls.KUBEGATE_TLS_CA_FILE, "utf8");
  lb = await startTcpBalancer(controls.map((c) => c.port));
  const controlUrl = `https://127.0.0.1:${lb.port}`;
  // People talk to the control plane that survives; only the data planes' sync streams go
  // through the balancer, so its live connections show where each stream is.
  admin = createKubegateClients({ baseUrl: `https://127.0.0.1:${controls[1]!.port}`, caPem, credential: adminKey });
  const dpKey = (await admin.identity.createApiKey({ name: "data-plane", subject: "data-plane", groups: ["kubegate:data-planes"] })).secret;
  await writeFile(join(root, "dp.key"), dpKey, { mode: 0o600 });
  for (const [i, workers] of [1, 2, 1].entries()) {
    const dir = join(root, `data-${i + 1}`);
    await mkdir(dir, { recursive: true });
    const proc = startKubegate(["serve", "data", "--data-listen", "127.0.0.1:0", "--data-workers", String(workers)], {
      ...tls,
      KUBEGATE_DATA_DIR: dir,
      KUBEGATE_CONTROL: controlUrl,
      KUBEGATE_CONTROL_CA_FILE: tls.KUBEGATE_TLS_CA_FILE,
      KUBEGATE_CONTROL_TOKEN_FILE: join(root, "dp.key"),
    });
    processes.push(proc);
    datas.push({ proc, url: await listening(proc, "data"), workers });
  }
  // The agents see the data planes as one address, as behind the data Service.
  agentLb = await startTcpBalancer(datas.map((d) => Number(new URL(d.url).port)));
  for (const name of ["edge-1", "edge-2"]) {
    const member = await startFakeApiserver({ gateway: true });
    const bootstrap = (await admin.clusters.registerCluster({ name, mode: { case: "agent", value: {} } })).agentBootstrapToken;
    const agent = await startAgent({
      gatewayUrl: `https://127.0.0.1:${agentLb.port}`,
      gatewayCaPem: caPem,
      cluster: name,
      stateDir: join(root, `agent-${name}`),
      bootstrapToken: async () => bootstrap,
      apiserver: { kubeconfig: await member.kubeconfig({ token: member.gatewayToken! }) },
      version: "test",
      log: quiet,
      initialBackoffMs: 50,
      maxBackoffMs: 500,
    });
    edges.push({ name, fake: member, agent });
  }
}, 120_000);

afterAll(async () => {
  for (const s of streams) s.child.kill("SIGKILL");
  for (const e of edges) await e.agent.stop();
  for (const e of edges) await e.fake.close();
  await agentLb?.close();
  for (const p of processes) await p.stop("SIGKILL");
  await lb?.close();
  await fake?.close();
  await pg?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** A kubeconfig for `token` pointing at one data plane's URL for a cluster (the direct member unless named). */
async function kubeconfig(name: string, url: string, token: string, cluster = "member"): Promise<string> {
  const file = join(root, `${name}.kubeconfig`);
  await writeFile(file, renderKubeconfig(`${url}/clusters/${cluster}`, caPem, { token }), { mode: 0o600 });
  return file;
}

/** Tunnels the data-plane processes hold: one per worker. */
const processCount = () => datas.reduce((n, dp) => n + dp.workers, 0);

/** kubectl get, a watch that sees a new object, and exec, on a cluster (its name and fake member) through data plane `url`. */
async function useCluster(edge: { name: string; fake: FakeApiserver }, url: string, token: string, label: string, runs: number) {
  const env = clientEnv(await kubeconfig(`${edge.name}-${label}`, url, token, edge.name), root);
  for (let n = 0; n < runs; n++) {
    const got = await run(KUBECTL, ["get", "configmaps", "-n", "default", "-o", "name"], env);
    expect(got.stderr, `kubectl get on ${edge.name} via ${label}`).toBe("");
    const exec = await run(KUBECTL, ["exec", "-n", "default", "fake-pod", "--", "echo", `mesh-${n}`], env);
    expect(exec.stdout.trim(), `kubectl exec on ${edge.name} via ${label}: ${exec.stderr}`).toBe(`mesh-${n}`);
  }
  const watch = stream(KUBECTL, ["get", "configmaps", "-n", "default", "-w", "--no-headers", "-o", "custom-columns=NAME:.metadata.name"], env);
  streams.push(watch);
  await watch.waitFor((lines) => lines.some((l) => l.startsWith("seed")));
  const name = `watched-${label}-${Date.now()}`;
  edge.fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default" }, data: {} });
  await watch.waitFor((lines) => lines.includes(name));
  watch.child.kill("SIGTERM");
}

const statusOf = async (url: string, token: string) =>
  (await http1Request(url, caPem, { path: "/clusters/member/api/v1/namespaces/default/configmaps", headers: { authorization: `Bearer ${token}` } })).status;
/** A request in flight when the revocation lands is cut (its connection closed): that too is access ended. */
const cutOr403 = async (url: string, token: string) => {
  try {
    return (await statusOf(url, token)) === 403;
  } catch (err) {
    if (/socket hang up|ECONNRESET/.test((err as Error).message)) return true;
    throw err;
  }
};

it("every data plane serves the cluster; killing a data plane and a control plane loses nothing; revocation reaches all within 1 s", async () => {
  const { grantId, token, clients: alice } = await viewerOnFakeMember(admin, fake, "alice", { baseUrl: `https://127.0.0.1:${controls[1]!.port}`, caPem });
  // Bob edits the direct member (exec is a create on pods/exec); alice's view grant is the one revoked below.
  await admin.grants.createGrant({ cluster: "member", subject: { kind: SubjectKind.USER, name: "bob" }, role: Role.EDIT });
  fake.seed(clusterRoleBinding("bob-edit", "edit", [{ kind: "User", name: "kubegate:bob" }]));
  fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "seed", namespace: "default" }, data: {} });
  const bob = createKubegateClients({ baseUrl: `https://127.0.0.1:${controls[1]!.port}`, caPem, credential: (await admin.identity.createApiKey({ name: "bob", subject: "bob" })).secret });
  const bobToken = (await bob.tokens.mintToken({ cluster: "member" })).token;
  const edgeTokens = new Map<string, string>();
  for (const edge of edges) {
    await admin.grants.createGrant({ cluster: edge.name, subject: { kind: SubjectKind.USER, name: "alice" }, role: Role.EDIT });
    edge.fake.seed(clusterRoleBinding("alice-edit", "edit", [{ kind: "User", name: "kubegate:alice" }]));
    edge.fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "seed", namespace: "default" }, data: {} });
    edgeTokens.set(edge.name, (await alice.tokens.mintToken({ cluster: edge.name })).token);
  }
  // The mesh: every agent holds one tunnel to every data-plane process, the workers included.
  const meshStarted = Date.now();
  for (const edge of edges) await until(() => edge.agent.tunnels().length === processCount(), `${edge.name}'s agent to reach all ${processCount()} data-plane processes`, 15_000);
  console.log(`agents hold ${processCount()} tunnels each ${Date.now() - meshStarted} ms after the first check`);
  // Each process reports its tunnel; the control plane counts them.
  const full = `agent connected to ${processCount()} of ${processCount()} data planes`;
  for (const edge of edges) {
    const status = async () => (await admin.clusters.getCluster({ name: edge.name })).cluster?.status;
    await until(async () => (await status())?.message === full, `${edge.name}'s status to say "${full}"`, 5_000);
    expect((await status())?.phase).toBe(ClusterPhase.READY);
  }

  // kubectl through every data plane (each connection of the two-worker one may land in either worker).
  for (const [i, dp] of datas.entries()) {
    await until(async () => (await statusOf(dp.url, token)) === 200, `data plane ${i + 1} to know the grant`, 15_000);
    const env = clientEnv(await kubeconfig(`dp-${i + 1}`, dp.url, token), root);
    for (let n = 0; n < dp.workers * 2; n++) {
      const res = await run(KUBECTL, ["get", "configmaps", "-n", "default", "-o", "name"], env);
      expect(res.stderr, `kubectl via data plane ${i + 1}`).toBe("");
    }
    await useCluster({ name: "member", fake }, dp.url, bobToken, `dp-${i + 1}`, dp.workers);
    for (const edge of edges) await useCluster(edge, dp.url, edgeTokens.get(edge.name)!, `dp-${i + 1}`, dp.workers * 2);
  }

  // Lose one data plane, then one control plane that a surviving data plane syncs from, without warning.
  await datas[0]!.proc.stop("SIGKILL");
  const [doomed] = controls;
  const survivors = datas.slice(1);
  // One sync stream per surviving worker, at least one of them on the doomed control plane.
  const streams = survivors.reduce((n, dp) => n + dp.workers, 0);
  await until(() => lb.live(doomed!.port) >= 1 && lb.live(doomed!.port) + lb.live(controls[1]!.port) === streams, "a surviving sync stream on the control plane to be killed", 15_000);
  await doomed!.proc.stop("SIGKILL");
  for (const dp of survivors) expect(await statusOf(dp.url, token)).toBe(200);
  // The agents keep their tunnels to the survivors, and their clusters stay READY and reachable.
  const survivorCount = survivors.reduce((n, dp) => n + dp.workers, 0);
  for (const edge of edges) {
    await until(() => edge.agent.tunnels().length === survivorCount, `${edge.name}'s agent to drop the killed data plane's tunnel`, 15_000);
    expect((await admin.clusters.getCluster({ name: edge.name })).cluster?.status?.phase).toBe(ClusterPhase.READY);
    for (const [i, dp] of survivors.entries()) await useCluster(edge, dp.url, edgeTokens.get(edge.name)!, `survivor-${i + 1}`, dp.workers);
  }
  // State lives on: a new token is minted, and the grant is still there, through the other control plane.
  const fresh = (await alice.tokens.mintToken({ cluster: "member" })).token;
  for (const dp of survivors) await until(async () => (await statusOf(dp.url, fresh)) === 200, "the new token to work", 15_000);
  expect((await admin.grants.getGrant({ id: grantId })).grant?.state).toBe(GrantState.APPLIED);
  // Every survivor stays ready (its view is within the staleness bound while it redials).
  for (const dp of survivors) await until(async () => (await http1Request(dp.url, caPem, { path: "/readyz" })).status === 200, "data plane ready", 15_000);

  // A revocation through the survivor cuts access on every survivor, each worker included, within 1 s.
  const revokedAt = Date.now();
  await admin.grants.revokeGrant({ id: grantId });
  const seenMs: number[] = [];
  await Promise.all(
    survivors.map(async (dp) => {
      // Seen when eight requests in a row, each on a new connection (so on either worker), are refused.
      await until(
        async () => {
          for (let n = 0; n < 8; n++) if (!(await cutOr403(dp.url, fresh))) return false;
          return true;
        },
        "revocation seen",
        5_000,
      );
      seenMs.push(Date.now() - revokedAt);
    }),
  );
  console.log(`revocation seen on ${seenMs.length} data planes after ${seenMs.join(", ")} ms`);
  for (const ms of seenMs) expect(ms).toBeLessThan(1_000);
  for (const dp of survivors) expect(await statusOf(dp.url, fresh)).toBe(403);
}, 120_000);
