/**
 * A TCP load balancer on loopback, as a Kubernetes Service or a cloud LB is to kubegate:
 * each new connection goes to the next backend in turn; a backend that refuses is skipped.
 * Bytes are passed through untouched (TLS ends at the backend).
 */
import net from "node:net";

export interface TcpBalancer {
  port: number;
  /** Connections open to a backend now. */
  live(port: number): number;
  /** Adds a backend (a replica scaled up). */
  add(port: number): void;
  /**
   * While false, a new connection is reset as soon as it is accepted (a partition for
   * whoever dials next, as a firewall would); connections already passing go on.
   */
  admit(open: boolean): void;
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: number[]): Promise<TcpBalancer> {
  const open = new Map(backends.map((p) => [p, 0]));
  const sockets = new Set<net.Socket>();
  let next = 0;
  let admitting = true;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    if (!admitting) return client.resetAndDestroy();
    track(client);
    client.pause();
    const attempt = (tries: number) => {
      if (tries === backends.length) return client.destroy();
      const port = backends[next++ % backends.length]!;
      const upstream = net.connect(port, "127.0.0.1");
      // Before "connect", an error is a refusal: try the next backend.
      upstream.once("error", () => attempt(tries + 1));
      upstream.once("connect", () => {
        track(upstream);
        open.set(port, open.get(port)! + 1);
        upstream.once("close", () => open.set(port, open.get(port)! - 1));
        upstream.removeAllListeners("error");
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    live: (port) => open.get(port) ?? 0,
    add(port) {
      backends.push(port);
      open.set(port, 0);
    },
    admit(on) {
      admitting = on;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
