/**
 * The data plane's tunnel registry on its own: a tunnel whose agent stops answering pings
 * is dropped and its cluster reported OFFLINE within a few heartbeats; a request waiting
 * for a tunnel gets one as soon as it comes up; the mesh's set of data planes reaches the
 * agents that take part, and only them.
 */
import http2 from "node:http2";
import net from "node:net";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { createTunnelRegistry, type TunnelRegistry, type TunnelStatus } from "../../src/tunnel/gateway.ts";
import { DATA_PLANES_HEADER, DATA_PLANES_PATH, MESH_AUTHORITY } from "../../src/tunnel/protocol.ts";

const quiet = createLogger({ level: "error" }, new Writable({ write: (_c, _e, cb) => cb() }));

/** A connected pair of TCP sockets: [gateway end, agent end]. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  const agentEnd = await accepted;
  server.close();
  return [client, agentEnd];
}

describe("tunnel registry", () => {
  let registry: TunnelRegistry | undefined;
  const sockets: net.Socket[] = [];
  afterEach(() => {
    registry?.close();
    for (const s of sockets.splice(0)) s.destroy();
  });

  it("drops a tunnel whose agent stops answering pings, and reports the cluster OFFLINE", async () => {
    const statuses: TunnelStatus[] = [];
    registry = createTunnelRegistry({ log: quiet, heartbeatMs: 40, onStatus: (s) => statuses.push(s) });
    // gateway ⇄ relay ⇄ agent: the relay is the network, which can go silent.
    const [gatewayEnd, relayA] = await socketPair();
    const [relayB, agentEnd] = await socketPair();
    sockets.push(gatewayEnd, relayA, relayB, agentEnd);
    relayA.pipe(relayB);
    relayB.pipe(relayA);
    const agentServer = http2.createServer();
    agentServer.on("stream", (stream) => {
      stream.respond({ ":status": 200, "content-type": "application/json" });
      stream.end(JSON.stringify({ gitVersion: "v1.32.9" }));
    });
    agentServer.emit("connection", agentEnd);
    registry.adopt(gatewayEnd, Buffer.alloc(0), { cluster: "edge", credentialHash: "h", agentVersion: "1.2.3", mesh: false });
    await expect.poll(() => statuses.at(-1)?.phase).toBe("READY");
    expect(statuses.at(-1)).toMatchObject({ cluster: "edge", kubernetesVersion: "v1.32.9", agentVersion: "1.2.3" });
    expect(registry.counts().get("edge")).toBe(1);

    // The network goes silent without closing: no ping is ever answered.
    const frozenAt = Date.now();
    relayA.unpipe();
    relayB.unpipe();
    relayA.pause();
    relayB.pause();
    await expect.poll(() => statuses.at(-1)?.phase, { timeout: 2000 }).toBe("OFFLINE");
    const tookMs = Date.now() - frozenAt;
    expect(tookMs).toBeGreaterThanOrEqual(3 * 40);
    expect(tookMs).toBeLessThan(1000);
    expect(registry.count("edge")).toBe(0);
    expect(statuses.at(-1)?.message).toBe("the agent is not connected");
  });

  it("wakes a request waiting for a tunnel when one comes up, and sends the set of data planes to mesh agents only", async () => {
    registry = createTunnelRegistry({ log: quiet, onStatus: () => undefined });
    expect(await registry.waitFor("edge", 30)).toBe(false);
    const told: Array<{ agent: string; authority: string; path: string; ids: string }> = [];
    const agent = async (name: string, mesh: boolean) => {
      const [gatewayEnd, agentEnd] = await socketPair();
      sockets.push(gatewayEnd, agentEnd);
      const server = http2.createServer();
      server.on("stream", (stream, headers) => {
        if (headers[":authority"] === MESH_AUTHORITY) {
          told.push({ agent: name, authority: String(headers[":authority"]), path: String(headers[":path"]), ids: String(headers[DATA_PLANES_HEADER]) });
          stream.respond({ ":status": 204 });
          return stream.end();
        }
        stream.respond({ ":status": 200 });
        stream.end(JSON.stringify({ gitVersion: "v1.32.9" }));
      });
      server.emit("connection", agentEnd);
      registry!.adopt(gatewayEnd, Buffer.alloc(0), { cluster: "edge", credentialHash: "h", agentVersion: "1", mesh });
    };
    const waiting = registry.waitFor("edge", 5_000);
    const started = Date.now();
    await agent("old", false);
    expect(await waiting).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
    await agent("new", true);
    await expect.poll(() => registry!.count("edge")).toBe(2);
    registry.announce(["dp-a", "dp-b"]);
    await expect.poll(() => told.length).toBe(1);
    expect(told[0]).toEqual({ agent: "new", authority: MESH_AUTHORITY, path: DATA_PLANES_PATH, ids: "dp-a,dp-b" });
  });
});
