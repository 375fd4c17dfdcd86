/**
 * The control plane's listener: one TLS port (HTTP/2 with HTTP/1.1 fallback) serving
 * Connect, gRPC and gRPC-Web for every service, plus /healthz and /readyz.
 */
import http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AccessGrants } from "../../gen/kubegate/v1/grant_pb.ts";
import { ClusterRegistry } from "../../gen/kubegate/v1/cluster_pb.ts";
import { IdentityService } from "../../gen/kubegate/v1/identity_pb.ts";
import { DataPlaneSyncService } from "../../gen/kubegate/v1/sync_pb.ts";
import { TokenService } from "../../gen/kubegate/v1/token_pb.ts";
import type { ListenAddress } from "../config/serve-config.ts";
import type { TlsMaterial } from "../tls/material.ts";
import { accessGrants } from "./access-grants.ts";
import { authInterceptor } from "./auth-interceptor.ts";
import type { Authenticator } from "./authenticator.ts";
import { clusterRegistry } from "./cluster-registry.ts";
import type { ControlDeps } from "./deps.ts";
import { identityService } from "./identity-service.ts";
import { syncService } from "./sync-service.ts";
import { tokenService } from "./token-service.ts";

/** Requests larger than this are refused before parsing: no field needs more. */
export const READ_MAX_BYTES = 1024 * 1024;

export interface ControlServer {
  port: number;
  /** Stops accepting, lets in-flight calls finish (ending sync streams), then closes. */
  close(graceMs?: number): Promise<void>;
}

export async function startControlServer(opts: {
  deps: ControlDeps;
  authenticator: Authenticator;
  tls: TlsMaterial;
  listen: ListenAddress;
  /** Readiness: resolves when the store answers. */
  ready: () => Promise<boolean>;
}): Promise<ControlServer> {
  const shutdown = new AbortController();
  const handler = connectNodeAdapter({
    routes: (router) => {
      router.service(ClusterRegistry, clusterRegistry(opts.deps));
      router.service(AccessGrants, accessGrants(opts.deps));
      router.service(TokenService, tokenService(opts.deps));
      router.service(IdentityService, identityService(opts.deps));
      router.service(DataPlaneSyncService, syncService(opts.deps));
    },
    interceptors: [authInterceptor(opts.authenticator)],
    readMaxBytes: READ_MAX_BYTES,
    shutdownSignal: shutdown.signal,
    fallback(req, res) {
      const reply = (status: number, text: string) => {
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
        res.end(text);
      };
      const path = (req.url ?? "").split("?")[0];
      if (path === "/healthz") reply(200, "ok\n");
      else if (path === "/readyz")
        opts.ready().then(
          (ok) => reply(ok ? 200 : 503, ok ? "ok\n" : "store unavailable\n"),
          () => reply(503, "store unavailable\n"),
        );
      else reply(404, "not found: this is the kubegate control plane (Connect, gRPC, gRPC-Web)\n");
    },
  });

  const sessions = new Set<http2.ServerHttp2Session>();
  // HTTP/1.1 sockets with their number of requests in flight, so idle ones close at once.
  const sockets = new Map<Socket, number>();
  const server = http2.createSecureServer({ allowHTTP1: true, cert: opts.tls.certPem, key: opts.tls.keyPem }, handler);
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
  let closing = false;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    async close(graceMs = 5_000) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      shutdown.abort();
      for (const s of sessions) s.close();
      for (const [sock, inFlight] of sockets) if (inFlight === 0) sock.destroy();
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
        for (const sock of sockets.keys()) sock.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
