/**
 * A data-plane replica (`serve data`) keeps serving on its last view while the control
 * plane is away, up to the staleness bound; then it fails closed with 503; when the
 * control plane returns it resumes by itself, without a restart.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, expect, it } from "vitest";
import { createKubegateClients } from "../../src/client/clients.ts";
import { resolveServeConfig } from "../../src/config/serve-config.ts";
import { createLogger } from "../../src/log.ts";
import { startKubegate, type Kubegate } from "../../src/serve/kubegate.ts";
import { viewerOnFakeMember } from "../support/control-plane.ts";
import { startFakeApiserver } from "../support/fake-apiserver/index.ts";
import { http1Request } from "../support/raw-client.ts";

const started: Kubegate[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const k of started) await k.close(0).catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => srv.once("listening", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const quiet = () => createLogger({ level: "warn" }, new Writable({ write: (_c, _e, cb) => cb() }));

it("serves within the staleness bound, then fails closed, then resumes", async () => {
  const fake = await startFakeApiserver({ gateway: true });
  const dir = await mkdtemp(join(tmpdir(), "kubegate-loss-"));
  dirs.push(dir);
  const controlPort = await freePort();
  const controlFlags = { "data-dir": dir, "control-listen": `127.0.0.1:${controlPort}`, "data-listen": "127.0.0.1:0", "sync-heartbeat": "500ms" };
  let control = await startKubegate("control", resolveServeConfig(controlFlags, {}), quiet());
  started.push(control);
  const adminKey = control.control!.bootstrapAdminKey!;
  const admin = createKubegateClients({ baseUrl: control.control!.url, caPem: control.control!.tls.caPem, credential: adminKey });
  const { token } = await viewerOnFakeMember(admin, fake, "alice", { baseUrl: control.control!.url, caPem: control.control!.tls.caPem });
  const dpKey = (await admin.identity.createApiKey({ name: "dp", subject: "dp-1", groups: ["kubegate:data-planes"] })).secret;
  await writeFile(join(dir, "dp.key"), dpKey, { mode: 0o600 });

  const data = await startKubegate(
    "data",
    resolveServeConfig(
      { "data-dir": dir, "data-listen": "127.0.0.1:0", control: control.control!.url, "control-token-file": join(dir, "dp.key"), "sync-staleness": "2s" },
      {},
    ),
    quiet(),
  );
  started.push(data);
  await data.data!.ready;
  const base = data.data!.url;
  const caPem = control.control!.tls.caPem;
  const get = () => http1Request(base, caPem, { path: "/clusters/member/api/v1/namespaces/default/pods", headers: { authorization: `Bearer ${token}` } });
  const ready = () => http1Request(base, caPem, { path: "/readyz" });
  expect((await get()).status).toBe(200);

  await control.close(0);
  const lostAt = Date.now();
  expect((await get()).status).toBe(200); // on the last view, within the bound
  expect((await ready()).status).toBe(200);
  while (Date.now() - lostAt < 2600) await new Promise((r) => setTimeout(r, 100));
  const closed = await get();
  expect(closed.status).toBe(503);
  expect(closed.json).toMatchObject({ kind: "Status", code: 503, reason: "ServiceUnavailable" });
  expect(String((closed.json as { message: string }).message)).toContain("lost contact with its control plane");
  expect((await ready()).status).toBe(503);
  // A longer outage, so a reconnect backoff that kept growing would show below.
  while (Date.now() - lostAt < 8_000) await new Promise((r) => setTimeout(r, 200));

  control = await startKubegate("control", resolveServeConfig(controlFlags, {}), quiet());
  started.push(control);
  const backAt = Date.now();
  const deadline = Date.now() + 15_000;
  let status = 0;
  while (Date.now() < deadline && (status = (await get()).status) !== 200) await new Promise((r) => setTimeout(r, 100));
  expect(status).toBe(200);
  const recoveredMs = Date.now() - backAt;
  console.log(`data plane serving again ${recoveredMs} ms after its control plane was back (outage 8 s)`);
  expect(recoveredMs).toBeLessThanOrEqual(2_000);
  expect((await ready()).status).toBe(200);
  await fake.close();
}, 40_000);
