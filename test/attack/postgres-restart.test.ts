/**
 * PostgreSQL crashes and comes back while clients create grants as fast as they can:
 * during the gap they get Unavailable (with a retry hint), kubegate recovers without a
 * restart, no acknowledged write is lost, and retrying the failed calls with their
 * request_id creates each grant exactly once.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";

let pg: TestPostgres;
let cp: TestControlPlane;
let dataDir: string;
beforeAll(async () => {
  pg = await startPostgres();
  await pg.createDatabase("restart");
  dataDir = await mkdtemp(join(tmpdir(), "kubegate-pg-restart-"));
  cp = await startTestControlPlane({ database: pg.url("restart") }, { dataDir, env: { KUBEGATE_ENCRYPTION_KEY: randomBytes(32).toString("base64") } });
  await cp.clients().clusters.registerCluster({ name: "prod", mode: { case: "agent", value: {} } });
}, 120_000);
afterAll(async () => {
  await cp?.close();
  await pg?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it("clients see Unavailable during the gap; kubegate recovers by itself and loses no acknowledged write", async () => {
  const { grants } = cp.clients();
  const acked = new Map<string, string>(); // request id → grant id
  const failed: string[] = [];
  const codes = new Map<string, number>();
  let n = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      const requestId = `load-${n++}`;
      try {
        const res = await grants.createGrant({ cluster: "prod", subject: { kind: SubjectKind.USER, name: `u${requestId}` }, role: Role.VIEW, requestId });
        acked.set(requestId, res.grant!.id);
      } catch (err) {
        const code = Code[ConnectError.from(err).code];
        codes.set(code, (codes.get(code) ?? 0) + 1);
        failed.push(requestId);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  await new Promise((r) => setTimeout(r, 1_000));
  const before = acked.size;
  const restartedAt = performance.now();
  await pg.restart(2_000);
  const upAt = performance.now();
  // Served again without restarting kubegate.
  let recoveredAfter = -1;
  const deadline = upAt + 15_000;
  while (performance.now() < deadline) {
    const size = acked.size;
    await new Promise((r) => setTimeout(r, 100));
    if (acked.size > size) {
      recoveredAfter = performance.now() - upAt;
      break;
    }
  }
  await new Promise((r) => setTimeout(r, 1_000));
  running = false;
  await Promise.all(workers);
  console.log(
    `PostgreSQL killed and down ${Math.round(upAt - restartedAt)} ms: ${before} grants acknowledged before, ${acked.size} in all; ` +
      `failed calls by code ${JSON.stringify(Object.fromEntries(codes))}; creates succeeded again ${Math.round(recoveredAfter)} ms after PostgreSQL was back`,
  );
  expect(recoveredAfter).toBeGreaterThanOrEqual(0);
  expect(failed.length).toBeGreaterThan(0);
  expect([...codes.keys()]).toEqual(["Unavailable"]);

  // Every acknowledged grant is there; retried with their request ids, the failed ones are
  // created once (or found, if they had committed after all).
  for (const requestId of failed) {
    const res = await grants.createGrant({ cluster: "prod", subject: { kind: SubjectKind.USER, name: `u${requestId}` }, role: Role.VIEW, requestId });
    acked.set(requestId, res.grant!.id);
  }
  const stored = new Map<string, number>();
  let pageToken = "";
  do {
    const page = await grants.listGrants({ cluster: "prod", pageSize: 500, pageToken });
    for (const g of page.grants) stored.set(g.subject!.name, (stored.get(g.subject!.name) ?? 0) + 1);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  for (const requestId of acked.keys()) expect(stored.get(`u${requestId}`), requestId).toBe(1);
  expect(stored.size).toBe(acked.size);
}, 90_000);
