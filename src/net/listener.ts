/**
 * A TLS listener (HTTP/2 with HTTP/1.1 fallback) that can drain: on close it stops
 * accepting, lets requests in flight finish for a grace period, closes idle HTTP/1.1
 * keep-alive sockets at once, then destroys whatever is left.
 *
 * TLS starts with the client's first byte, not at accept: a plain TCP listener holds each
 * new connection, cheaply, until it says something (or closes it after `firstByteTimeoutMs`),
 * then hands it with that byte to the TLS server. node's TLS server would otherwise build
 * a TLS session for every accepted socket at once — about 1 ms of CPU and tens of KiB that
 * stay with the process — which a flood of silent connections turns into a denial of service.
 */
import http2 from "node:http2";
import net, { type AddressInfo, type Socket } from "node:net";

/** Default wait for a new connection's first byte. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

export interface Listener {
  server: http2.Http2SecureServer;
  port: number;
  close(graceMs: number): Promise<void>;
}

export async function listen(
  server: http2.Http2SecureServer,
  address: { host: string; port: number },
  onClose: () => void = () => undefined,
  opts: { firstByteTimeoutMs?: number } = {},
): Promise<Listener> {
  const firstByteTimeoutMs = opts.firstByteTimeoutMs ?? FIRST_BYTE_TIMEOUT_MS;
  const sessions = new Set<http2.ServerHttp2Session>();
  // HTTP/1.1 sockets with their number of requests in flight, so idle ones close at once.
  const sockets = new Map<Socket, number>();
  let closing = false;
  // Every TCP connection, whatever state its TLS handshake is in, so close() can end
  // them all at the grace deadline (a half-open handshake would hold server.close forever).
  const raw = new Set<Socket>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("secureConnection", (sock: Socket) => {
    if ((sock as Socket & { alpnProtocol?: string | false }).alpnProtocol === "h2") return;
    sockets.set(sock, 0);
    sock.on("close", () => sockets.delete(sock));
  });
  server.on("request", (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    if (req.httpVersionMajor !== 1) {
      // A response sent before the request body ended (e.g. an oversized message) tells
      // the client to stop sending (RFC 9113 8.1), so the stream does not linger.
      res.once("finish", () => {
        if (!req.complete && !req.stream.destroyed) req.stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
      return;
    }
    const sock = req.socket as unknown as Socket;
    sockets.set(sock, (sockets.get(sock) ?? 0) + 1);
    req.once("close", () => {
      const n = (sockets.get(sock) ?? 1) - 1;
      sockets.set(sock, n);
      if (closing && n === 0) sock.destroy();
    });
  });
  // Upgraded sockets are no longer HTTP: they end with their stream, or at the grace deadline.
  server.on("upgrade", (_req, sock: Socket) => sockets.set(sock, 1));

  // Headers and body often go out in separate writes; Nagle would hold the body for the
  // client's delayed ACK (~40 ms per HTTP/1.1 response).
  const front = net.createServer({ noDelay: true }, (sock) => {
    raw.add(sock);
    const silent = setTimeout(() => sock.destroy(), firstByteTimeoutMs);
    sock.once("close", () => {
      raw.delete(sock);
      clearTimeout(silent);
    });
    sock.on("error", () => sock.destroy());
    sock.once("data", (first: Buffer) => {
      clearTimeout(silent);
      sock.pause();
      sock.unshift(first);
      // The TLS socket reads what is buffered before it reads the handle.
      server.emit("connection", sock);
    });
  });
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(address.port, address.host, () => {
      front.off("error", reject);
      resolve();
    });
  });
  // What listening would have started on the TLS server itself: the HTTP/1.1 side's
  // periodic check of headersTimeout (slowloris).
  server.emit("listening");

  return {
    server,
    port: (front.address() as AddressInfo).port,
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      // Not listening itself, but close() also ends the HTTP/1.1 side's idle checks.
      server.close(() => undefined);
      onClose();
      for (const s of sessions) s.close();
      for (const [sock, inFlight] of sockets) if (inFlight === 0) sock.destroy();
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
        for (const sock of sockets.keys()) sock.destroy();
        for (const sock of raw) sock.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
