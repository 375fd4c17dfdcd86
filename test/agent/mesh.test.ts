/**
 * The agent mesh as data planes come and go: an agent dialing one address (a balancer in
 * front of the data-plane ports) holds a tunnel to the embedded data plane; a second data
 * plane joins, the first tells the agent down its tunnel, and the agent dials until it holds
 * one tunnel to each (the first answering 409 whenever the balancer picks it again). Requests
 * through either data plane reach the agent's cluster. An agent that predates the mesh
 * (no Kubegate-Tunnels header) gets one tunnel and no pushes, as before.
 */
import { readFile } from "node:fs/promises";
import https from "node:https";
import { Writable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { createLogger } from "../../src/log.ts";
import { startDataPlane, type DataPlane } from "../../src/serve/data-plane.ts";
import { startAgent, type Agent } from "../../src/tunnel/agent.ts";
import { credentialPath } from "../../src/tunnel/credential.ts";
import { AGENT_VERSION_HEADER, DATA_PLANE_HEADER, DATA_PLANES_HEADER, HELD_TUNNELS_HEADER, TUNNEL_PATH, TUNNEL_PROTOCOL } from "../../src/tunnel/protocol.ts";
import { MEMBER, startTestGateway, type TestGateway, type TestUser } from "../support/gateway.ts";
import { http1Request, rawUpgrade } from "../support/raw-client.ts";
import { startTcpBalancer, type TcpBalancer } from "../support/tcp-balancer.ts";
import { until } from "../support/watch-streams.ts";

const quiet = createLogger({ level: "error" }, new Writable({ write: (_c, _e, cb) => cb() }));
let gw: TestGateway;
let lb: TcpBalancer;
let second: DataPlane | undefined;
let agent: Agent | undefined;
let alice: TestUser;

beforeAll(async () => {
  gw = await startTestGateway({ mode: "agent", startAgent: false, flags: { "sync-heartbeat": "500ms" } });
  alice = await gw.user("alice", { role: "view" });
  lb = await startTcpBalancer([gw.kubegate.data!.port]);
});

afterAll(async () => {
  await agent?.stop();
  await second?.close(200);
  await lb?.close();
  await gw?.close();
});

const configmaps = `/clusters/${MEMBER}/api/v1/namespaces/default/configmaps`;
const getVia = async (url: string, token: string) =>
  (await http1Request(url, gw.caPem, { path: configmaps, headers: { authorization: `Bearer ${token}` } })).status;

/** The tunnel upgrade as an agent sends it, answered by the data plane at `url`: status and headers. */
function dialRaw(url: string, credential: string, held: string | undefined): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { connection: "Upgrade", upgrade: TUNNEL_PROTOCOL, authorization: `Bearer ${credential}`, [AGENT_VERSION_HEADER]: "raw" };
    if (held !== undefined) headers[HELD_TUNNELS_HEADER] = held;
    const req = https.request({ hostname: u.hostname, port: Number(u.port), path: TUNNEL_PATH, headers, ca: gw.caPem, agent: false });
    req.on("error", reject);
    req.on("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.end();
  });
}

it("an agent follows a data plane joining the mesh, and every data plane serves its cluster", async () => {
  agent = await startAgent({
    gatewayUrl: `https://127.0.0.1:${lb.port}`,
    gatewayCaPem: gw.caPem,
    cluster: MEMBER,
    stateDir: `${gw.dir}/agent-state`,
    bootstrapToken: async () => gw.bootstrapToken,
    apiserver: { kubeconfig: await gw.member.gatewayKubeconfig() },
    version: "test",
    log: quiet,
    initialBackoffMs: 50,
    maxBackoffMs: 500,
  });
  await agent.ready;
  const firstId = gw.kubegate.data!.id;
  expect(agent.tunnels()).toEqual([firstId]);
  const token = await alice.token();
  expect(await getVia(gw.dataUrl, token)).toBe(200);

  // A second data plane joins; the balancer now also hands out its port.
  const key = (await gw.admin.identity.createApiKey({ name: "dp-2", subject: "dp-2", groups: ["kubegate:data-planes"] })).secret;
  const control = gw.kubegate.control!;
  second = await startDataPlane({
    listen: { host: "127.0.0.1", port: 0 },
    tls: control.tls,
    controlUrl: control.url,
    controlCaPem: control.tls.caPem,
    credential: key,
    issuer: gw.kubegate.data!.view.issuer,
    stalenessMs: 60_000,
    impersonationPrefix: "kubegate:",
    cutStreamsOnTokenExpiry: true,
    log: quiet,
  });
  await second.ready;
  lb.add(second.port);
  const joinedAt = Date.now();
  // The agent counts a tunnel once its upgrade is answered; the data plane adds it to its
  // pool a moment later (a request meanwhile waits for it), so wait for both ends.
  await until(() => agent!.tunnels().length === 2 && second!.tunnels.count(MEMBER) === 1, "the agent to dial the new data plane", 10_000);
  console.log(`agent holds a tunnel to the new data plane ${Date.now() - joinedAt} ms after it joined`);
  expect(agent.tunnels()).toEqual([firstId, second.id].sort());
  expect(gw.kubegate.data!.tunnels.count(MEMBER)).toBe(1);
  expect(second.tunnels.count(MEMBER)).toBe(1);
  expect(await getVia(second.url, token)).toBe(200);
  const status = (await gw.admin.clusters.getCluster({ name: MEMBER })).cluster?.status;
  expect(status?.phase).toBe(ClusterPhase.READY);

  // A data plane the agent already holds refuses a second tunnel, and says which it is and who else there is.
  const stored = (await readFile(credentialPath(`${gw.dir}/agent-state`), "utf8")).trim();
  expect(stored, "the agent's stored credential").toMatch(/^kga_/);
  const refused = await dialRaw(second.url, stored, [firstId, second.id].join(","));
  expect(refused.status).toBe(409);
  expect(refused.headers[DATA_PLANE_HEADER]).toBe(second.id);
  expect(String(refused.headers[DATA_PLANES_HEADER]).split(",").sort()).toEqual([firstId, second.id].sort());
  // Garbage in the list is refused plainly.
  expect((await dialRaw(second.url, stored, "not a list;")).status).toBe(400);
  // An agent from before the mesh sends no list and gets its tunnel, with the ids it may ignore.
  const legacy = await dialRaw(second.url, stored, undefined);
  expect(legacy.status).toBe(101);
  expect(legacy.headers[DATA_PLANE_HEADER]).toBe(second.id);

  // The second data plane leaves: the cluster stays READY on the first's tunnel.
  await second.close(200);
  second = undefined;
  await until(() => agent!.tunnels().length === 1, "the agent to drop the closed data plane's tunnel", 10_000);
  await until(async () => (await gw.admin.clusters.getCluster({ name: MEMBER })).cluster?.status?.message === "agent connected to 1 of 1 data plane", "the status to count one data plane", 5_000);
  expect((await gw.admin.clusters.getCluster({ name: MEMBER })).cluster?.status?.phase).toBe(ClusterPhase.READY);
  expect(await getVia(gw.dataUrl, token)).toBe(200);
});

/** A WebSocket exec of `cat` on the fake pod, as kubectl 1.30+ opens it. */
const execUpgrade = (token: string) =>
  rawUpgrade(gw.dataUrl, gw.caPem, {
    path: `/clusters/${MEMBER}/api/v1/namespaces/default/pods/fake-pod/exec?command=cat&stdin=true&stdout=true`,
    headers: [
      ["Authorization", `Bearer ${token}`],
      ["Connection", "Upgrade"],
      ["Upgrade", "websocket"],
      ["Sec-WebSocket-Version", "13"],
      ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
      ["Sec-WebSocket-Protocol", "v5.channel.k8s.io"],
    ],
    timeoutMs: 10_000,
  });

it("an exec that arrives while the agent is reconnecting waits for its tunnel instead of failing at once", async () => {
  // exec is a create on pods/exec: an edit grant.
  const token = await (await gw.user("carol", { role: "edit" })).token();
  await agent!.stop();
  await until(() => gw.kubegate.data!.tunnels.count(MEMBER) === 0, "the tunnel to close", 5_000);
  const kubeconfig = await gw.member.gatewayKubeconfig();
  const restart = () =>
    startAgent({
      gatewayUrl: `https://127.0.0.1:${lb.port}`,
      gatewayCaPem: gw.caPem,
      cluster: MEMBER,
      stateDir: `${gw.dir}/agent-state`,
      bootstrapToken: async () => undefined,
      apiserver: { kubeconfig },
      version: "test",
      log: quiet,
      initialBackoffMs: 50,
      maxBackoffMs: 500,
    });
  const sent = Date.now();
  const exec = execUpgrade(token);
  await new Promise((r) => setTimeout(r, 300));
  agent = await restart();
  const answered = await exec;
  try {
    expect(answered.status, JSON.stringify(answered.headers)).toBe(101);
    expect(Date.now() - sent).toBeLessThan(2_000);
  } finally {
    answered.destroy();
  }

  // With no agent at all, the wait ends in the 503 that names the cluster.
  await agent.stop();
  await until(() => gw.kubegate.data!.tunnels.count(MEMBER) === 0, "the tunnel to close", 5_000);
  const waited = Date.now();
  const refused = await execUpgrade(token);
  refused.destroy();
  expect(refused.status).toBe(503);
  expect(Date.now() - waited).toBeGreaterThanOrEqual(1_900);
});
