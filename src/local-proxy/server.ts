/**
 * The local proxy's HTTP server: plain HTTP/1.1 on a loopback address. Every request and
 * upgrade passes the same fences before anything is asked of the control plane — an
 * accepted Host, an accepted Origin if one is sent, a canonical /clusters/<name>/ path —
 * then is forwarded to the data plane with a token the local client never sees.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import { parseRoute } from "../data/route.ts";
import { DataPathError, writeStatus, writeStatusToSocket } from "../forward/kube-status.ts";
import type { ClusterAccess } from "./cluster-tokens.ts";
import { forwardRequest } from "./forward-to-gateway.ts";
import { hostAllowed, originAllowed } from "./hosts.ts";
import { forwardUpgrade, unsupportedUpgrade } from "./upgrade-to-gateway.ts";

export interface LocalProxyOptions {
  access: ClusterAccess;
  /** Host and Origin names the proxy answers (see hosts.ts). */
  acceptHosts: RegExp[];
  /** Time to reach the data plane; default 10 s. */
  connectTimeoutMs?: number;
  /** One line per refusal, for the person running the proxy. */
  log?: (line: string) => void;
}

export interface LocalProxy {
  server: http.Server;
  /** Stops listening and ends every connection, streams and upgrades included. */
  close(): Promise<void>;
}

/** The cluster and Kubernetes path of an acceptable request, or the Status refusing it. */
function admit(req: IncomingMessage, acceptHosts: RegExp[]): { cluster: string; path: string } | DataPathError {
  if (!hostAllowed(req.headers.host, acceptHosts))
    return new DataPathError("forbidden", `host not allowed: kubegate proxy answers only ${req.headers.host === undefined ? "requests with a Host header" : "loopback hosts"} (see --accept-hosts)`);
  const origin = req.headers.origin;
  if (!originAllowed(origin, acceptHosts)) return new DataPathError("forbidden", "origin not allowed: kubegate proxy does not answer pages from other sites (see --accept-hosts)");
  const route = parseRoute(req.url ?? "/");
  if (!route.ok) return new DataPathError(route.status === 404 ? "notFound" : "invalid", route.message, { status: route.status });
  return { cluster: route.cluster, path: route.path + (route.query === "" ? "" : `?${route.query}`) };
}

export function createLocalProxy(opts: LocalProxyOptions): LocalProxy {
  const log = opts.log ?? (() => undefined);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const agent = new https.Agent({ keepAlive: true });
  const upgraded = new Set<Duplex>();
  const onRefusal = (req: IncomingMessage, err: DataPathError) => {
    const path = (req.url ?? "").split("?")[0];
    log(`${req.method ?? "?"} ${path} → ${err.status}: ${err.message}${err.detail === err.message ? "" : ` (${err.detail})`}`);
  };
  const deps = { access: opts.access, agent, connectTimeoutMs, onRefusal };

  // No request timeout: uploads and streams may take as long as they take.
  const server = http.createServer({ requestTimeout: 0 }, (req: IncomingMessage, res: ServerResponse) => {
    const admitted = admit(req, opts.acceptHosts);
    if (admitted instanceof DataPathError) {
      onRefusal(req, admitted);
      req.resume();
      writeStatus(res, admitted);
      return;
    }
    void forwardRequest(deps, req, res, admitted.cluster, admitted.path);
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
    const refuse = (err: DataPathError) => {
      onRefusal(req, err);
      writeStatusToSocket(socket, err);
    };
    const admitted = admit(req, opts.acceptHosts);
    if (admitted instanceof DataPathError) return refuse(admitted);
    const unsupported = unsupportedUpgrade(req);
    if (unsupported !== undefined) return refuse(unsupported);
    void forwardUpgrade(deps, req, socket, head, admitted.cluster, admitted.path);
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });

  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of upgraded) s.destroy();
        agent.destroy();
      }),
  };
}
