/**
 * `kubegate serve` as a process: first start prints the bootstrap key once, SIGTERM
 * drains and exits 0, and after a restart data, keys and API keys are all still there.
 */
import { stat, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createKubegateClients } from "../../src/client/clients.ts";
import { createCa } from "../../src/tls/pki.ts";
import { startKubegate, type KubegateProcess } from "../support/kubegate-process.ts";

const running: KubegateProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const p of running) await p.stop("SIGKILL");
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function serve(dataDir: string) {
  const started = Date.now();
  const p = startKubegate(["serve", "--data-dir", dataDir, "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0"]);
  running.push(p);
  const [, url] = await p.waitFor(/control plane listening on (https:\/\/\S+)/);
  return { p, url: url!, startupMs: Date.now() - started };
}

it("keeps clusters, grants, API keys and signing keys across a restart", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "kubegate-serve-"));
  dirs.push(dataDir);
  const first = await serve(dataDir);
  const [, adminKey] = await first.p.waitFor(/bootstrap admin API key[^\n]*\n\s+(kgk_\S+)/);
  expect((await readFile(join(dataDir, "bootstrap-admin.key"), "utf8")).trim()).toBe(adminKey);
  expect((await stat(join(dataDir, "bootstrap-admin.key"))).mode & 0o777).toBe(0o600);
  expect((await stat(join(dataDir, "encryption.key"))).mode & 0o777).toBe(0o600);
  const caPem = await readFile(join(dataDir, "ca.crt"), "utf8");
  console.log(`kubegate serve start-up from an empty data directory: ${first.startupMs} ms (process spawn included)`);

  const admin = createKubegateClients({ baseUrl: first.url, caPem, credential: adminKey! });
  const member = await createCa("member");
  await admin.clusters.registerCluster({
    name: "prod-eu",
    mode: { case: "direct", value: { serverUrl: "https://m:6443", caPem: member.certPem, credential: { kind: { case: "bearerToken", value: "secret-sa-token" } } } },
  });
  await admin.grants.createGrant({ cluster: "prod-eu", subject: { kind: SubjectKind.USER, name: "alice" }, role: Role.EDIT });
  const aliceKey = (await admin.identity.createApiKey({ name: "alice", subject: "alice" })).secret;
  const alice = createKubegateClients({ baseUrl: first.url, caPem, credential: aliceKey });
  const minted = await alice.tokens.mintToken({ cluster: "prod-eu" });

  expect(await first.p.stop("SIGTERM")).toBe(0);
  expect(first.p.stderr()).toContain("shutting down");
  // Secrets are sealed at rest: the SQLite file never holds the cluster credential in clear.
  expect((await readFile(join(dataDir, "kubegate.db"))).includes("secret-sa-token")).toBe(false);

  const second = await serve(dataDir);
  expect(second.p.stdout()).not.toContain("bootstrap admin API key");
  const admin2 = createKubegateClients({ baseUrl: second.url, caPem: await readFile(join(dataDir, "ca.crt"), "utf8"), credential: adminKey! });
  expect((await admin2.clusters.listClusters({})).clusters.map((c) => c.name)).toEqual(["prod-eu"]);
  expect((await admin2.grants.listGrants({ cluster: "prod-eu" })).grants).toHaveLength(1);
  const alice2 = createKubegateClients({ baseUrl: second.url, caPem, credential: aliceKey });
  expect((await alice2.identity.whoAmI({})).subject).toBe("alice");
  const keys = await alice2.tokens.getSigningKeys({});
  const { payload } = await jwtVerify(minted.token, createLocalJWKSet(JSON.parse(keys.jwksJson)), { audience: "prod-eu" });
  expect(payload.sub).toBe("alice");
  const sync = createKubegateClients({ baseUrl: second.url, caPem, credential: (await admin2.identity.createApiKey({ name: "dp", subject: "dp", groups: ["kubegate:data-planes"] })).secret });
  for await (const snap of sync.sync.watchState({})) {
    const route = snap.clusters.find((c) => c.name === "prod-eu");
    expect(route?.credential?.kind).toEqual({ case: "bearerToken", value: "secret-sa-token" });
    break;
  }
  expect(await second.p.stop("SIGTERM")).toBe(0);
});

it("refuses bad flags with a clear message and exit code 2", async () => {
  const p = startKubegate(["serve", "--database", "mysql://x", "--data-dir", join(tmpdir(), "never-created")]);
  running.push(p);
  expect(await p.stop("SIGCONT")).toBe(2);
  expect(p.stderr()).toContain("--database (KUBEGATE_DATABASE): must be a postgres:// URL; omit it for the embedded SQLite store");
});
