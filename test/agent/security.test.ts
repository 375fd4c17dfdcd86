/**
 * The agent's and the tunnel's security rules, each tried: the agent dials only its own
 * API server whatever a stream asks, trusts only the configured gateway CA, spends its
 * bootstrap token once; the tunnel endpoint takes only a current agent credential of a
 * registered agent cluster, and deregistering or rotating cuts the old one off.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { createCa, issueServerCert } from "../../src/tls/pki.ts";
import { startAgent, type Agent, type AgentOptions } from "../../src/tunnel/agent.ts";
import { credentialPath } from "../../src/tunnel/credential.ts";
import { APISERVER_AUTHORITY, TUNNEL_PATH, TUNNEL_PROTOCOL } from "../../src/tunnel/protocol.ts";
import { startFakeApiserver, type FakeApiserver } from "../support/fake-apiserver/index.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

/** Answers a raw tunnel upgrade attempt: the status line and body the data plane sent. */
function tunnelAttempt(gw: TestGateway, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(gw.dataUrl);
  return new Promise((resolve, reject) => {
    const req = https.request({ hostname: url.hostname, port: url.port, path: TUNNEL_PATH, ca: gw.caPem, agent: false, headers: { connection: "Upgrade", upgrade: TUNNEL_PROTOCOL, ...headers } });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: "" });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function memoryLog() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: createLogger({ level: "debug" }, sink) };
}

describe("the tunnel endpoint and enrollment", () => {
  let gw: TestGateway;
  let scratch: string;
  const extra: Agent[] = [];
  beforeAll(async () => {
    gw = await startTestGateway({ mode: "agent" });
    scratch = await mkdtemp(join(tmpdir(), "kubegate-agent-sec-"));
  });
  afterEach(async () => {
    for (const a of extra.splice(0)) await a.stop();
  });
  afterAll(async () => {
    await gw.close();
    await rm(scratch, { recursive: true, force: true });
  });

  const agentOptions = async (over: Partial<AgentOptions>): Promise<AgentOptions> => ({
    gatewayUrl: gw.dataUrl,
    gatewayCaPem: gw.caPem,
    cluster: "member",
    stateDir: await mkdtemp(join(scratch, "state-")),
    bootstrapToken: async () => gw.bootstrapToken,
    apiserver: { kubeconfig: await gw.fake.kubeconfig({ token: gw.fake.gatewayToken! }) },
    version: "test",
    log: memoryLog().log,
    initialBackoffMs: 20,
    maxBackoffMs: 100,
    ...over,
  });

  it("rejects a reused bootstrap token, and the agent stops with a message saying so", async () => {
    const { lines, log } = memoryLog();
    const agent = await startAgent(await agentOptions({ log }));
    extra.push(agent);
    const failure = await agent.failed;
    expect(failure.message).toMatch(/bootstrap token is unknown or was already used/);
    expect(agent.connected()).toBe(false);
    expect(lines.some((l) => l["msg"] === "the gateway refused this agent; stopping")).toBe(true);
    // The enrolled agent is untouched.
    expect(gw.kubegate.data!.tunnels.count("member")).toBe(1);
  });

  it("refuses a tunnel without a credential, with a wrong one, or with a user's token", async () => {
    expect((await tunnelAttempt(gw, {})).status).toBe(401);
    const wrong = await tunnelAttempt(gw, { authorization: "Bearer kga_not-a-real-credential" });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body)).toMatchObject({ kind: "Status", code: 401, reason: "Unauthorized" });
    const user = await gw.user("mallory", { role: "admin" });
    expect((await tunnelAttempt(gw, { authorization: `Bearer ${await user.token()}` })).status).toBe(401);
    // The bootstrap token is spent: it is no credential either.
    expect((await tunnelAttempt(gw, { authorization: `Bearer ${gw.bootstrapToken}` })).status).toBe(401);
  });

  it("refuses an upgrade to another protocol, and a credential presented for another cluster", async () => {
    const credential = (await readFile(credentialPath(join(gw.dir, "agent-state")), "utf8")).trim();
    expect((await tunnelAttempt(gw, { authorization: `Bearer ${credential}`, upgrade: "websocket" })).status).toBe(400);
    const other = await tunnelAttempt(gw, { authorization: `Bearer ${credential}`, "kubegate-cluster": "someone-else" });
    expect(other.status).toBe(403);
    expect(other.body).toContain('belongs to cluster \\"member\\"');
  });

  it("refuses to connect to a gateway whose certificate does not chain to the configured CA", async () => {
    const otherCa = await createCa("not the gateway's CA");
    const { lines, log } = memoryLog();
    const before = gw.logs.filter((l) => l["msg"] === "agent credential issued").length;
    const agent = await startAgent(await agentOptions({ gatewayCaPem: otherCa.certPem, log }));
    extra.push(agent);
    await new Promise((r) => setTimeout(r, 600));
    expect(agent.connected()).toBe(false);
    const warnings = lines.filter((l) => l["msg"] === "cannot reach the gateway; retrying");
    expect(warnings.length).toBeGreaterThan(1);
    expect(String(warnings[0]!["code"])).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    // Nothing reached the gateway's endpoints: the TLS handshake failed first.
    expect(gw.logs.filter((l) => l["msg"] === "agent credential issued").length).toBe(before);
  });

  it("rotates its credential: the new one works, the old one is refused at once", async () => {
    const stateDir = join(gw.dir, "agent-state");
    const old = (await readFile(credentialPath(stateDir), "utf8")).trim();
    await gw.agent!.stop();
    await gw.restartAgent!({ credentialMaxAgeMs: 0 });
    const rotated = (await readFile(credentialPath(stateDir), "utf8")).trim();
    expect(rotated).not.toBe(old);
    expect(rotated).toMatch(/^kga_/);
    expect((await tunnelAttempt(gw, { authorization: `Bearer ${old}` })).status).toBe(401);
    await gw.agent!.stop();
    await gw.restartAgent!();
    expect(gw.kubegate.data!.tunnels.count("member")).toBe(1);
  });
});

describe("the agent dials only its own API server", () => {
  let fake: FakeApiserver;
  let dir: string;
  let gateway: https.Server;
  let bystander: net.Server;
  let bystanderHits = 0;
  let agent: Agent;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    fake = await startFakeApiserver({ gateway: true });
    dir = await mkdtemp(join(tmpdir(), "kubegate-agent-dial-"));
    bystander = net.createServer((s) => {
      bystanderHits++;
      s.destroy();
    });
    await new Promise<void>((r) => bystander.listen(0, "127.0.0.1", r));
    // A stand-in gateway that takes the agent's tunnel and then asks it for other addresses.
    const ca = await createCa("stand-in gateway");
    const cert = await issueServerCert(ca, ["127.0.0.1"]);
    const sessionReady = new Promise<http2.ClientHttp2Session>((resolve) => {
      gateway = https.createServer({ cert: cert.certPem, key: cert.keyPem });
      gateway.on("upgrade", (_req, socket, head) => {
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${TUNNEL_PROTOCOL}\r\n\r\n`, () => {
          if (head.length > 0) socket.unshift(head);
          const s = http2.connect("https://tunnel", { createConnection: () => socket as never });
          s.once("remoteSettings", () => resolve(s));
        });
      });
    });
    await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
    const stateDir = join(dir, "state");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(stateDir);
    await writeFile(credentialPath(stateDir), "kga_stand-in\n", { mode: 0o600 });
    agent = await startAgent({
      gatewayUrl: `https://127.0.0.1:${(gateway.address() as net.AddressInfo).port}`,
      gatewayCaPem: ca.certPem,
      stateDir,
      bootstrapToken: async () => undefined,
      apiserver: { kubeconfig: await fake.kubeconfig({ token: fake.gatewayToken! }) },
      version: "test",
      log: memoryLog().log,
    });
    session = await sessionReady;
  });
  afterAll(async () => {
    session?.destroy();
    await agent?.stop();
    gateway?.closeAllConnections();
    await new Promise((r) => gateway?.close(r));
    await new Promise((r) => bystander.close(r));
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  const exchange = (headers: http2.OutgoingHttpHeaders) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = session.request(headers, { endStream: headers[":method"] !== "CONNECT" });
      let body = "";
      let status = 0;
      s.on("response", (h) => {
        status = Number(h[":status"]);
        if (headers[":method"] === "CONNECT") {
          s.close();
          resolve({ status, body });
        }
      });
      s.on("data", (c: Buffer) => (body += c.toString()));
      s.on("end", () => resolve({ status, body }));
      s.on("error", reject);
    });

  it("refuses a CONNECT naming any other address", async () => {
    const bystanderAddr = `127.0.0.1:${(bystander.address() as net.AddressInfo).port}`;
    for (const authority of [bystanderAddr, new URL(fake.url).host, "kubernetes.default.svc:443"]) {
      expect((await exchange({ ":method": "CONNECT", ":authority": authority })).status).toBe(403);
    }
    expect((await exchange({ ":method": "CONNECT", ":authority": APISERVER_AUTHORITY })).status).toBe(200);
    expect(bystanderHits).toBe(0);
  });

  it("sends a request naming another host to its own API server, with its own credential only", async () => {
    const bystanderAddr = `127.0.0.1:${(bystander.address() as net.AddressInfo).port}`;
    const before = fake.requests.length;
    const res = await exchange({
      ":method": "GET",
      ":scheme": "https",
      ":authority": bystanderAddr,
      ":path": "/version",
      authorization: "Bearer someone-elses-token",
      "proxy-authorization": "Basic eDp5",
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toHaveProperty("gitVersion");
    const seen = fake.requests.slice(before).find((r) => r.path === "/version");
    expect(seen?.headers["authorization"]).toBe(`Bearer ${fake.gatewayToken}`);
    expect(seen?.headers["proxy-authorization"]).toBeUndefined();
    expect(bystanderHits).toBe(0);
  });

  it("refuses absolute and authority-form targets", async () => {
    const bystanderAddr = `127.0.0.1:${(bystander.address() as net.AddressInfo).port}`;
    for (const path of [`http://${bystanderAddr}/api`, `//${bystanderAddr}/api`, bystanderAddr]) {
      const before = fake.requests.length;
      // nghttp2 itself resets a stream whose :path is not origin-form; the agent refuses the rest.
      const res = await exchange({ ":method": "GET", ":scheme": "https", ":authority": APISERVER_AUTHORITY, ":path": path }).catch((err: Error) => err);
      if (res instanceof Error) expect(res.message).toContain("NGHTTP2_PROTOCOL_ERROR");
      else {
        expect(res.status).toBe(400);
        expect(JSON.parse(res.body)).toMatchObject({ kind: "Status", code: 400 });
      }
      expect(fake.requests.length).toBe(before);
    }
    expect(bystanderHits).toBe(0);
  });
});

describe("deregistering an agent cluster", () => {
  it("closes its tunnel and refuses its credential afterwards", async () => {
    const gw = await startTestGateway({ mode: "agent", clusterName: "doomed" });
    try {
      const credential = (await readFile(credentialPath(join(gw.dir, "agent-state")), "utf8")).trim();
      await gw.admin.clusters.deregisterCluster({ name: "doomed" });
      await gw.until(() => gw.kubegate.data!.tunnels.count("doomed") === 0);
      expect((await tunnelAttempt(gw, { authorization: `Bearer ${credential}` })).status).toBe(401);
    } finally {
      await gw.close();
    }
  });
});
