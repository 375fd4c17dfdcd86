/**
 * Upgrades (exec, attach, port-forward over SPDY/3.1 or WebSocket) through the local
 * proxy: the request goes to the data plane on a connection of its own with the token
 * added; a 101 is relayed and bytes then flow both ways until either side closes; any
 * other answer is relayed and the connection closed, so nothing else rides on it.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { sanitizeResponseHeaders } from "../forward/hop-by-hop.ts";
import { DataPathError, writeStatusToSocket } from "../forward/kube-status.ts";
import { headerBlock, splice } from "../forward/upgrade-relay.ts";
import type { ClusterAccess } from "./cluster-tokens.ts";
import { clusterTargetAndToken, dataPlaneFailure } from "./refusals.ts";
import { requestUpstream, where } from "./gateway-request.ts";

const PROTOCOLS = new Set(["spdy/3.1", "websocket"]);

export interface UpgradeDeps {
  access: ClusterAccess;
  connectTimeoutMs: number;
  onRefusal(req: IncomingMessage, err: DataPathError): void;
}

/** Refuses an upgrade of a protocol kubegate does not carry (400), before anything is asked of the control plane. */
export function unsupportedUpgrade(req: IncomingMessage): DataPathError | undefined {
  if (PROTOCOLS.has((req.headers.upgrade ?? "").toLowerCase())) return undefined;
  return new DataPathError("invalid", `upgrade to ${JSON.stringify(req.headers.upgrade ?? "")} is not supported: only SPDY/3.1 and websocket`, { status: 400 });
}

export async function forwardUpgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer, cluster: string, path: string): Promise<void> {
  const refuse = (err: DataPathError) => {
    deps.onRefusal(req, err);
    if (!socket.destroyed) writeStatusToSocket(socket, err);
  };
  const resolved = await clusterTargetAndToken(deps.access, cluster).catch((err: DataPathError) => void refuse(err));
  if (resolved === undefined || socket.destroyed) return;
  const { target, token } = resolved;

  const upstream = requestUpstream({ target, token, method: req.method ?? "GET", path, headers: req.headers, agent: false, connectTimeoutMs: deps.connectTimeoutMs });
  let upgraded = false;
  socket.once("close", () => {
    if (!upgraded) upstream.destroy();
  });
  upstream.on("error", (err) => {
    if (!upgraded) refuse(dataPlaneFailure(where(target), err));
  });
  upstream.on("response", (answer) => {
    if (answer.statusCode === 401) deps.access.invalidate(cluster, token);
    const headers = sanitizeResponseHeaders(answer.headers);
    delete headers["content-length"];
    socket.write(headerBlock(`HTTP/1.1 ${answer.statusCode ?? 502} ${answer.statusMessage ?? ""}`, { ...headers, connection: "close" }));
    answer.pipe(socket);
    answer.on("error", () => socket.destroy());
    socket.once("close", () => answer.destroy());
  });
  upstream.on("upgrade", (answer, upSocket, upHead) => {
    upgraded = true;
    const headers = sanitizeResponseHeaders(answer.headers);
    socket.write(headerBlock("HTTP/1.1 101 Switching Protocols", { ...headers, connection: "Upgrade", upgrade: answer.headers.upgrade ?? req.headers.upgrade! }));
    // Bytes the client sent right after its request head belong to the upgraded stream.
    splice(socket, upSocket, { clientHead: head, upstreamHead: upHead });
  });
  upstream.end();
}
