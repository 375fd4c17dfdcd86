/**
 * Two control-plane replicas sharing one real PostgreSQL: a revocation made through one
 * reaches a data plane synced from the other within a second (LISTEN/NOTIFY), and tokens
 * minted by one verify with the keys the other publishes.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GrantState, Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import type { WatchStateResponse } from "../../gen/kubegate/v1/sync_pb.ts";
import { startPostgres as startTestPostgres, type TestPostgres } from "../support/postgres.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";
import { createKubegateClients } from "../../src/client/clients.ts";
import { resolveServeConfig } from "../../src/config/serve-config.ts";
import { createLogger } from "../../src/log.ts";
import { startControlPlane } from "../../src/serve/control-plane.ts";

let pg: TestPostgres;
let dataDir: string;
let a: TestControlPlane;
let b: TestControlPlane;

beforeAll(async () => {
  pg = await startTestPostgres();
  await pg.createDatabase("replicas");
  dataDir = await mkdtemp(join(tmpdir(), "kubegate-replicas-"));
  const env = { KUBEGATE_ENCRYPTION_KEY: randomBytes(32).toString("base64") };
  const flags = { database: pg.url("replicas") };
  a = await startTestControlPlane(flags, { dataDir, env });
  b = await startTestControlPlane(flags, { dataDir, env });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
  await pg?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

it("shares state, keys and revocations across replicas", async () => {
  const adminA = a.clients();
  await adminA.clusters.registerCluster({ name: "prod-eu", mode: { case: "agent", value: {} } });
  const grant = (await adminA.grants.createGrant({ cluster: "prod-eu", subject: { kind: SubjectKind.USER, name: "alice" }, role: Role.VIEW })).grant!;
  const aliceKey = await a.apiKey("alice");
  const dpKey = await a.apiKey("dp", ["kubegate:data-planes"]);

  // Replica B knows everything A wrote, including the API keys.
  expect((await b.clients(aliceKey).identity.whoAmI({})).subject).toBe("alice");
  const minted = await a.clients(aliceKey).tokens.mintToken({ cluster: "prod-eu" });
  const keys = await b.clients(aliceKey).tokens.getSigningKeys({});
  await jwtVerify(minted.token, createLocalJWKSet(JSON.parse(keys.jwksJson)), { audience: "prod-eu" });

  const abort = new AbortController();
  const stream = b.clients(dpKey).sync.watchState({ replica: "dp-on-b" }, { signal: abort.signal })[Symbol.asyncIterator]();
  const snap = (await stream.next()).value as WatchStateResponse;
  expect(snap.grants.map((g) => g.id)).toContain(grant.id);

  const started = Date.now();
  await adminA.grants.revokeGrant({ id: grant.id });
  for (;;) {
    const msg = (await stream.next()).value as WatchStateResponse;
    if (msg.grants.some((g) => g.id === grant.id && g.state === GrantState.REVOKED)) break;
  }
  const elapsed = Date.now() - started;
  abort.abort();
  expect(elapsed).toBeLessThan(1000);
});

it("two replicas starting together on an empty database make one bootstrap admin key between them", async () => {
  await pg.createDatabase("race");
  const env = { KUBEGATE_ENCRYPTION_KEY: randomBytes(32).toString("base64") };
  const dirs = [await mkdtemp(join(tmpdir(), "kubegate-race-")), await mkdtemp(join(tmpdir(), "kubegate-race-"))];
  const log = createLogger({ level: "silent" });
  const planes = await Promise.all(
    dirs.map((dir) => startControlPlane(resolveServeConfig({ "data-dir": dir, database: pg.url("race"), "control-listen": "127.0.0.1:0", "data-listen": "127.0.0.1:0" }, env), log)),
  );
  try {
    const keys = planes.map((p) => p.bootstrapAdminKey).filter((k) => k !== undefined);
    expect(keys).toHaveLength(1);
    const winner = planes.find((p) => p.bootstrapAdminKey !== undefined)!;
    const admin = createKubegateClients({ baseUrl: winner.url, caPem: winner.tls.caPem, credential: keys[0]! });
    const live = (await admin.identity.listApiKeys({})).apiKeys.filter((k) => k.name === "bootstrap-admin");
    expect(live).toHaveLength(1);
    // The loser's key, if it made one before losing, is revoked and was never shown.
    const all = (await admin.identity.listApiKeys({ includeRevoked: true })).apiKeys.filter((k) => k.name === "bootstrap-admin");
    expect(all.filter((k) => k.revokeTime === undefined)).toHaveLength(1);
  } finally {
    for (const p of planes) await p.close(0);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});
