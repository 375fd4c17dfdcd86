/**
 * The control plane's listener: one TLS port (HTTP/2 with HTTP/1.1 fallback) serving
 * Connect, gRPC and gRPC-Web for every service, plus /healthz and /readyz.
 */
import http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuditLog } from "../../gen/kubegate/v1/audit_pb.ts";
import { AccessGrants } from "../../gen/kubegate/v1/grant_pb.ts";
import { ClusterRegistry } from "../../gen/kubegate/v1/cluster_pb.ts";
import { IdentityService } from "../../gen/kubegate/v1/identity_pb.ts";
import { DataPlaneSyncService } from "../../gen/kubegate/v1/sync_pb.ts";
import { TokenService } from "../../gen/kubegate/v1/token_pb.ts";
import type { ListenAddress } from "../config/serve-config.ts";
import { listen } from "../net/listener.ts";
import type { TlsMaterial } from "../tls/material.ts";
import { accessGrants } from "./access-grants.ts";
import { auditLog } from "./audit-log.ts";
import { authInterceptor } from "./auth-interceptor.ts";
import { loadConsoleAssets } from "./console-assets.ts";
import type { ConsoleSessions } from "./console-session.ts";
import type { Authenticator } from "./authenticator.ts";
import { clusterRegistry } from "./cluster-registry.ts";
import type { ControlDeps } from "./deps.ts";
import { identityService } from "./identity-service.ts";
import { storeInterceptor } from "./store-interceptor.ts";
import { syncService } from "./sync-service.ts";
import { tokenService } from "./token-service.ts";

export interface ControlServer {
  port: number;
  /** Stops accepting, lets in-flight calls finish (ending sync streams), then closes. */
  close(graceMs?: number): Promise<void>;
}

export async function startControlServer(opts: {
  deps: ControlDeps;
  authenticator: Authenticator;
  /** dist/console, when the console is built; its files are served under /console/. */
  consoleDir?: string;
  /** Console session cookies, accepted in place of Authorization. */
  sessions?: ConsoleSessions;
  tls: TlsMaterial;
  listen: ListenAddress;
  /** Larger request messages are refused (ResourceExhausted) before parsing. */
  readMaxBytes: number;
  /** Readiness: resolves when the store answers. */
  ready: () => Promise<boolean>;
}): Promise<ControlServer> {
  const shutdown = new AbortController();
  const consoleAssets = loadConsoleAssets(opts.consoleDir);
  const handler = connectNodeAdapter({
    routes: (router) => {
      router.service(ClusterRegistry, clusterRegistry(opts.deps));
      router.service(AccessGrants, accessGrants(opts.deps));
      router.service(TokenService, tokenService(opts.deps));
      router.service(IdentityService, identityService(opts.deps));
      router.service(DataPlaneSyncService, syncService(opts.deps));
      router.service(AuditLog, auditLog(opts.deps));
    },
    // Outermost first: a store outage during authentication is Unavailable too.
    interceptors: [storeInterceptor(opts.deps.log), authInterceptor(opts.authenticator, opts.sessions)],
    readMaxBytes: opts.readMaxBytes,
    shutdownSignal: shutdown.signal,
    fallback(req, res) {
      const reply = (status: number, text: string) => {
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
        res.end(text);
      };
      const path = (req.url ?? "").split("?")[0] ?? "";
      if (consoleAssets.serve(req, res, path)) return;
      if (path === "/healthz") reply(200, "ok\n");
      else if (path === "/readyz")
        opts.ready().then(
          (ok) => reply(ok ? 200 : 503, ok ? "ok\n" : "store unavailable\n"),
          () => reply(503, "store unavailable\n"),
        );
      else reply(404, "not found: this is the kubegate control plane (Connect, gRPC, gRPC-Web)\n");
    },
  });

  const server = http2.createSecureServer({ allowHTTP1: true, cert: opts.tls.certPem, key: opts.tls.keyPem }, handler);
  const listener = await listen(server, opts.listen, () => shutdown.abort());

  return {
    port: listener.port,
    close: (graceMs = 5_000) => listener.close(graceMs),
  };
}
