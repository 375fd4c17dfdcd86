/**
 * The upgrade splice every relay uses: when the upstream finishes (an exec's command
 * exits) everything it sent reaches a slow client before the connection closes; when a
 * side is destroyed (a revocation cut, a dead tunnel) the other goes at once.
 */
import net from "node:net";
import { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { splice } from "../../src/forward/upgrade-relay.ts";

async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const a = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((r) => a.once("connect", r));
  const b = await accepted;
  server.close();
  return [a, b];
}

describe("splice", () => {
  const sockets: net.Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  it("delivers the upstream's last bytes to a slow client after the upstream has closed", async () => {
    // A client connection that takes a moment per write, so bytes queue in front of it.
    const delivered: Buffer[] = [];
    const clientSide = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        setTimeout(() => {
          delivered.push(chunk);
          cb();
        }, 2);
      },
    });
    const [upstreamSide, member] = await socketPair();
    sockets.push(upstreamSide, member);
    let ended = 0;
    splice(clientSide, upstreamSide, { clientHead: Buffer.alloc(0), upstreamHead: Buffer.alloc(0), onEnd: () => ended++ });
    const payload = Buffer.alloc(2 * 1024 * 1024, 7);
    member.end(payload);
    await new Promise((r) => upstreamSide.once("close", r));
    // The member is gone while bytes for the client are still queued.
    expect(clientSide.writableLength).toBeGreaterThan(0);
    await expect.poll(() => ended, { timeout: 10_000 }).toBe(1);
    expect(Buffer.concat(delivered).length).toBe(payload.length);
  });

  it("takes the other side down at once when one is destroyed", async () => {
    const [user, clientSide] = await socketPair();
    const [upstreamSide, member] = await socketPair();
    sockets.push(user, clientSide, upstreamSide, member);
    let ended = 0;
    splice(clientSide, upstreamSide, { clientHead: Buffer.from("hi"), upstreamHead: Buffer.alloc(0), onEnd: () => ended++ });
    member.resume();
    const started = Date.now();
    clientSide.destroy();
    await new Promise((r) => member.once("close", r));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(ended).toBe(1);
  });
});
