/**
 * An agent that cannot reach the gateway keeps trying, waiting longer each time up to a
 * cap, with full jitter so a fleet does not reconnect in lockstep; and it connects as soon
 * as the gateway answers again.
 */
import net from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { backoffDelay } from "../../src/net/backoff.ts";
import { startAgent, type Agent } from "../../src/tunnel/agent.ts";
import { MEMBER, startTestGateway, type TestGateway } from "../support/gateway.ts";
import { rawRequest } from "../support/raw-client.ts";

describe("backoffDelay", () => {
  const INITIAL = 250;
  const MAX = 30_000;
  const low = () => 0;
  const high = () => 1 - Number.EPSILON;

  it.each([
    // failures, cap: initial·2^failures until the maximum
    [0, 250],
    [1, 500],
    [2, 1_000],
    [3, 2_000],
    [6, 16_000],
    [7, 30_000],
    [8, 30_000],
    [50, 30_000],
    [10_000, 30_000],
  ])("after %i failures waits between half of %i ms and all of it", (failures, cap) => {
    expect(backoffDelay(failures, INITIAL, MAX, low)).toBe(cap / 2);
    expect(backoffDelay(failures, INITIAL, MAX, high)).toBeCloseTo(cap, 6);
    expect(backoffDelay(failures, INITIAL, MAX, () => 0.5)).toBe(cap * 0.75);
  });

  it("spreads a fleet's retries over the whole upper half of the cap", () => {
    const samples = Array.from({ length: 2_000 }, () => backoffDelay(4, INITIAL, MAX));
    for (const s of samples) {
      expect(s).toBeGreaterThanOrEqual(2_000);
      expect(s).toBeLessThanOrEqual(4_000);
    }
    // Both quarters of the range are used: no lockstep.
    expect(samples.filter((s) => s < 3_000).length).toBeGreaterThan(700);
    expect(samples.filter((s) => s >= 3_000).length).toBeGreaterThan(700);
  });
});

describe("an agent whose gateway does not answer", () => {
  let gw: TestGateway;
  let agent: Agent | undefined;
  /** A port in front of the data plane: it hangs up on everyone until `relay` is set. */
  let front: net.Server;
  let relay = false;
  const sockets = new Set<net.Socket>();

  beforeAll(async () => {
    gw = await startTestGateway({ mode: "agent", startAgent: false });
    const dataPort = Number(new URL(gw.dataUrl).port);
    front = net.createServer((client) => {
      sockets.add(client);
      client.on("close", () => sockets.delete(client));
      client.on("error", () => undefined);
      if (!relay) return client.destroy();
      const upstream = net.connect(dataPort, "127.0.0.1");
      sockets.add(upstream);
      upstream.on("close", () => (sockets.delete(upstream), client.destroy()));
      upstream.on("error", () => undefined);
      client.on("close", () => upstream.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", () => r()));
  });
  afterAll(async () => {
    await agent?.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => front.close(() => r()));
    await gw?.close();
  });

  it("retries with growing, capped, jittered delays, and connects once the gateway answers", async () => {
    const INITIAL = 100;
    const MAX = 800;
    const lines: { time: number; msg: string; failures?: number }[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l) as (typeof lines)[number]);
        cb();
      },
    });
    const retries = () => lines.filter((l) => l.msg === "cannot reach the gateway; retrying");
    agent = await startAgent({
      gatewayUrl: `https://127.0.0.1:${(front.address() as net.AddressInfo).port}`,
      gatewayCaPem: gw.caPem,
      cluster: MEMBER,
      stateDir: join(gw.dir, "reconnect-agent-state"),
      bootstrapToken: async () => gw.bootstrapToken,
      apiserver: { kubeconfig: await gw.fake.kubeconfig({ token: gw.fake.gatewayToken! }, "reconnect-agent-kubeconfig.json") },
      version: "test",
      log: createLogger({ level: "info" }, sink),
      initialBackoffMs: INITIAL,
      maxBackoffMs: MAX,
    });
    let ready = false;
    void agent.ready.then(() => (ready = true));

    // Attempts 1..7: after the k-th failure the agent waits within [cap/2, cap], cap = min(MAX, INITIAL·2^k).
    const ATTEMPTS = 7;
    const deadline = Date.now() + 15_000;
    while (retries().length < ATTEMPTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const seen = retries();
    expect(seen.length, JSON.stringify(lines)).toBeGreaterThanOrEqual(ATTEMPTS);
    expect(seen.slice(0, ATTEMPTS).map((l) => l.failures)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(ready).toBe(false);
    expect(gw.kubegate.data!.tunnels.count(MEMBER)).toBe(0);
    const gaps = seen.slice(1, ATTEMPTS).map((l, i) => l.time - seen[i]!.time);
    console.log(`agent retry gaps (ms): ${gaps.join(", ")} — caps ${gaps.map((_, i) => Math.min(MAX, INITIAL * 2 ** (i + 1))).join(", ")}`);
    gaps.forEach((gap, i) => {
      const cap = Math.min(MAX, INITIAL * 2 ** (i + 1));
      // Never early (pino's millisecond clock aside); late only by a busy machine's timer slack.
      expect(gap, `gap ${i + 1}`).toBeGreaterThanOrEqual(cap / 2 - 2);
      expect(gap, `gap ${i + 1}`).toBeLessThanOrEqual(cap + 400);
    });

    // The gateway answers again: the next attempt enrolls and brings the tunnel up.
    relay = true;
    const answeredAt = performance.now();
    await agent.ready;
    const upMs = performance.now() - answeredAt;
    await gw.until(() => gw.kubegate.data!.tunnels.count(MEMBER) === 1);
    console.log(`agent connected ${Math.round(upMs)} ms after the gateway became reachable`);
    expect(upMs).toBeLessThan(MAX + 2_000);
    const user = await gw.user("rita", { role: "view" });
    const res = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: `/clusters/${MEMBER}/api/v1/namespaces/default/configmaps`, headers: { authorization: `Bearer ${await user.token()}` } });
    expect(res.status, res.body).toBe(200);
  });
});
