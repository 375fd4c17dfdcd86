/**
 * An agent inside a pod: it finds its API server from KUBERNETES_SERVICE_HOST/PORT and
 * its credential and CA in the service-account directory, and re-reads the token as the
 * kubelet rotates it, without a restart.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadApiserverTarget } from "../../src/tunnel/apiserver.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { rawRequest } from "../support/raw-client.ts";

let gw: TestGateway;
let saDir: string;
const rotated = "rotated-service-account-token";

beforeAll(async () => {
  saDir = await mkdtemp(join(tmpdir(), "kubegate-sa-"));
  gw = await startTestGateway({ mode: "agent", fake: { tokens: { [rotated]: { user: "kubegate-gateway" } } } });
}, 30_000);
afterAll(async () => {
  await gw?.close();
  await rm(saDir, { recursive: true, force: true });
});

it("reads the service account, and a rotated token without a restart", async () => {
  // The pod's view of its cluster: service host and port, token and CA files.
  await writeFile(join(saDir, "token"), `${gw.fake.gatewayToken}\n`);
  await writeFile(join(saDir, "ca.crt"), gw.fake.caPem);
  const url = new URL(gw.fake.url);
  await gw.agent!.stop();
  await gw.restartAgent!({
    apiserver: { serviceAccountDir: saDir, env: { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port } },
    reloadMs: 50,
  });
  const alice = await gw.user("alice", { role: "view" });
  const get = async () =>
    rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: "/clusters/member/api/v1/namespaces/default/configmaps", headers: { authorization: `Bearer ${await alice.token()}` } });
  const lastCredential = () => gw.fake.requests.filter((r) => r.path === "/api/v1/namespaces/default/configmaps").at(-1)?.headers["authorization"];

  expect((await get()).status).toBe(200);
  expect(lastCredential()).toBe(`Bearer ${gw.fake.gatewayToken}`);

  // The kubelet rotates the token file; the agent picks it up on its own.
  await writeFile(join(saDir, "token"), `${rotated}\n`);
  await expect.poll(async () => ((await get()).status === 200 ? lastCredential() : undefined), { timeout: 5000 }).toBe(`Bearer ${rotated}`);

  // A token the member does not accept is the member's 401, passed through as it said it.
  await writeFile(join(saDir, "token"), "revoked-token\n");
  await expect.poll(async () => (await get()).status, { timeout: 5000 }).toBe(401);
});

it("refuses to start outside a pod without --kubeconfig, naming the fix", async () => {
  await expect(loadApiserverTarget({ env: {} })).rejects.toThrow(/KUBERNETES_SERVICE_HOST is unset\): pass --kubeconfig/);
  await expect(loadApiserverTarget({ env: { KUBERNETES_SERVICE_HOST: "10.0.0.1" }, serviceAccountDir: join(saDir, "missing") })).rejects.toThrow(/cannot read the pod's service account/);
  await mkdir(join(saDir, "x"), { recursive: true });
  await writeFile(join(saDir, "x", "token"), "t\n");
  await writeFile(join(saDir, "x", "ca.crt"), "ca");
  const ipv6 = await loadApiserverTarget({ env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443" }, serviceAccountDir: join(saDir, "x") });
  expect(ipv6).toMatchObject({ serverUrl: "https://[fd00::1]:6443", credential: { kind: "bearer", token: "t" }, tokenFile: join(saDir, "x", "token") });
});

