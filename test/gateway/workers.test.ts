/**
 * `kubegate serve --data-workers 2`: two data-plane processes share the data port, each
 * with its own view; requests work through either, a revocation reaches both, and
 * SIGTERM stops the primary and its workers.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { createKubegateClients } from "../../src/client/clients.ts";
import { viewerOnFakeMember } from "../support/control-plane.ts";
import { startFakeApiserver } from "../support/fake-apiserver/index.ts";
import { startKubegate, type KubegateProcess } from "../support/kubegate-process.ts";
import { http1Request } from "../support/raw-client.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

const children = (pid: number) => {
  try {
    return execFileSync("pgrep", ["-P", String(pid)]).toString().trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

it("serves through two workers, revokes on both, and stops them all", async () => {
  const fake = await startFakeApiserver({ gateway: true });
  cleanup.push(() => fake.close());
  const dir = await mkdtemp(join(tmpdir(), "kubegate-workers-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const kg: KubegateProcess = startKubegate(["serve", "--data-dir", dir, "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0", "--data-workers", "2", "--sync-heartbeat", "1s"]);
  cleanup.push(() => kg.stop("SIGKILL"));
  const [, dataUrl] = await kg.waitFor(/data plane listening on (\S+) \(2 workers\)/);
  const [, controlUrl] = await kg.waitFor(/control plane listening on (\S+)/);
  const [, adminKey] = await kg.waitFor(/\n\s+(kgk_\S+)\n/);
  expect(children(kg.child.pid!)).toHaveLength(2);
  const caPem = await readFile(join(dir, "ca.crt"), "utf8");
  const admin = createKubegateClients({ baseUrl: controlUrl!, caPem, credential: adminKey! });
  const { grantId, token } = await viewerOnFakeMember(admin, fake, "wes", { baseUrl: controlUrl!, caPem });

  // Fresh connections spread over both workers; each must know the grant.
  const get = () => http1Request(dataUrl!, caPem, { path: "/clusters/member/api/v1/namespaces/default/pods", headers: { authorization: `Bearer ${token}` } });
  const deadline = Date.now() + 10_000;
  let statuses: number[] = [];
  do {
    statuses = await Promise.all(Array.from({ length: 12 }, async () => (await get()).status));
  } while (statuses.some((s) => s !== 200) && Date.now() < deadline);
  expect(statuses).toEqual(Array(12).fill(200));

  await admin.grants.revokeGrant({ id: grantId });
  await new Promise((r) => setTimeout(r, 1000));
  statuses = await Promise.all(Array.from({ length: 12 }, async () => (await get()).status));
  expect(statuses).toEqual(Array(12).fill(403));

  const pid = kg.child.pid!;
  expect(await kg.stop("SIGTERM")).toBe(0);
  expect(children(pid)).toEqual([]);
}, 60_000);
