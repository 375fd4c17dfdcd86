/**
 * kubegate scaled out on loopback, as deploy/kubegate-gateway.yaml runs it: two
 * `serve control` processes on one PostgreSQL behind a TCP balancer (the Service), three
 * `serve data` processes syncing through it, one of them with two workers. kubectl reaches
 * a direct cluster through every data plane; SIGKILL one data plane and one control plane,
 * and the others keep serving, with no grant or token lost; a revocation made after that
 * cuts access on every surviving data plane within a second.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GrantState } from "../../gen/kubegate/v1/grant_pb.ts";
import { createKubegateClients } from "../../src/client/clients.ts";
import { viewerOnFakeMember } from "../support/control-plane.ts";
import { startFakeApiserver, type FakeApiserver } from "../support/fake-apiserver/index.ts";
import { renderKubeconfig } from "../support/fake-apiserver/kubeconfig.ts";
import { startKubegate, type KubegateProcess } from "../support/kubegate-process.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { KUBECTL, clientEnv, run } from "../support/programs.ts";
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
}, 120_000);

afterAll(async () => {
  for (const p of processes) await p.stop("SIGKILL");
  await lb?.close();
  await fake?.close();
  await pg?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** A kubeconfig for `token` pointing at one data plane's URL for the member cluster. */
async function kubeconfig(name: string, url: string, token: string): Promise<string> {
  const file = join(root, `${name}.kubeconfig`);
  await writeFile(file, renderKubeconfig(`${url}/clusters/member`, caPem, { token }), { mode: 0o600 });
  return file;
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

  // kubectl through every data plane (each connection of the two-worker one may land in either worker).
  for (const [i, dp] of datas.entries()) {
    await until(async () => (await statusOf(dp.url, token)) === 200, `data plane ${i + 1} to know the grant`, 15_000);
    const env = clientEnv(await kubeconfig(`dp-${i + 1}`, dp.url, token), root);
    for (let n = 0; n < dp.workers * 2; n++) {
      const res = await run(KUBECTL, ["get", "configmaps", "-n", "default", "-o", "name"], env);
      expect(res.stderr, `kubectl via data plane ${i + 1}`).toBe("");
    }
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
