/**
 * The upgrade splice every relay uses: when the upstream finishes (an exec's command
 * exits) everything it sent reaches a slow client before the connection closes; once
 * both directions are over the relay ends at once; when a side is destroyed (a
 * revocation cut, a dead tunnel) the other goes at once.
 */
import net from "node:net";
import { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { splice } from "../../src/forward/upgrade-relay.ts";

/** A connected pair; the accepted end (the second) keeps its write half open when its peer ends, if asked. */
async function socketPair(accepted: { allowHalfOpen?: boolean } = {}): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: accepted.allowHalfOpen ?? false });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const connection = new Promise<net.Socket>((r) => server.once("connection", r));
  const a = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((r) => a.once("connect", r));
  const b = await connection;
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

  it("ends at once when the upstream ends first and the client answers and ends after it", async () => {
    // An exec over WebSocket: the member sends its close frame and FIN, kubectl answers with
    // its own close frame and FIN. Sockets end their write half when their peer ends.
    const [user, clientSide] = await socketPair();
    const [upstreamSide, member] = await socketPair();
    sockets.push(user, clientSide, upstreamSide, member);
    let ended = 0;
    splice(clientSide, upstreamSide, { clientHead: Buffer.alloc(0), upstreamHead: Buffer.alloc(0), onEnd: () => ended++ });
    const received: Buffer[] = [];
    user.on("data", (c: Buffer) => {
      received.push(c);
      user.write("close reply");
    });
    member.resume();
    member.end("close frame");
    await new Promise((r) => user.once("close", r));
    const userDone = Date.now();
    await expect.poll(() => ended, { timeout: 4_000 }).toBe(1);
    expect(Date.now() - userDone).toBeLessThan(1000);
    expect(Buffer.concat(received).toString()).toBe("close frame");
  });

  it("ends at once when the client ends first and the upstream follows", async () => {
    // kubectl over SPDY closes its connection when done; the member still sends something
    // (too late for the client) and then ends too.
    const [user, clientSide] = await socketPair();
    const [upstreamSide, member] = await socketPair({ allowHalfOpen: true });
    sockets.push(user, clientSide, upstreamSide, member);
    let ended = 0;
    splice(clientSide, upstreamSide, { clientHead: Buffer.from("last"), upstreamHead: Buffer.alloc(0), onEnd: () => ended++ });
    const atMember: Buffer[] = [];
    member.on("data", (c: Buffer) => atMember.push(c));
    member.once("end", () => setTimeout(() => member.end("goodbye"), 50));
    user.resume();
    user.end();
    await new Promise((r) => member.once("close", r));
    const memberDone = Date.now();
    await expect.poll(() => ended, { timeout: 4_000 }).toBe(1);
    expect(Date.now() - memberDone).toBeLessThan(1000);
    expect(Buffer.concat(atMember).toString()).toBe("last");
  });

  it("ends at once when both directions are over, even with a side that does not close by itself", async () => {
    const delivered: Buffer[] = [];
    const clientSide = new Duplex({
      autoDestroy: false,
      read() {},
      write(chunk: Buffer, _enc, cb) {
        delivered.push(chunk);
        cb();
      },
    });
    const [upstreamSide, member] = await socketPair();
    sockets.push(upstreamSide, member);
    let ended = 0;
    splice(clientSide, upstreamSide, { clientHead: Buffer.alloc(0), upstreamHead: Buffer.alloc(0), onEnd: () => ended++ });
    member.resume();
    member.end("exit status");
    clientSide.push(null);
    await new Promise((r) => member.once("close", r));
    const memberDone = Date.now();
    await expect.poll(() => ended, { timeout: 4_000 }).toBe(1);
    expect(Date.now() - memberDone).toBeLessThan(1000);
    expect(Buffer.concat(delivered).toString()).toBe("exit status");
    expect(clientSide.destroyed).toBe(true);
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
