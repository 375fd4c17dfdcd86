/**
 * What agents call on the data plane's port, outside /clusters/: enrollment and credential
 * rotation (relayed to the control plane, which owns the secrets) and the tunnel upgrade,
 * authenticated against the synced view with no I/O. Refusals are Kubernetes Status JSON
 * like everything else on this port.
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Duplex } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import { DataPathError, writeStatus, writeStatusToSocket } from "../forward/kube-status.ts";
import { headerBlock } from "../forward/upgrade-relay.ts";
import type { View } from "../sync/view.ts";
import type { ErrorKind } from "../errors.ts";
import type { Logger } from "../log.ts";
import { bearerToken } from "../net/bearer.ts";
import { hashSecret } from "../store/secret-hash.ts";
import type { TunnelRegistry } from "./gateway.ts";
import {
  AGENT_CLUSTER_HEADER,
  AGENT_FRONT_PROXY_HEADER,
  AGENT_VERSION_HEADER,
  DATA_PLANE_HEADER,
  DATA_PLANES_HEADER,
  ENROLL_PATH,
  HELD_TUNNELS_HEADER,
  parseDataPlaneIds,
  ROTATE_PATH,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL,
} from "./protocol.ts";

/** The control plane's agent calls, as the data plane relays them. */
export interface AgentControl {
  enroll(bootstrapToken: string): Promise<{ cluster: string; agentCredential: string }>;
  rotate(agentCredential: string): Promise<{ cluster: string; agentCredential: string }>;
}

export interface AgentEndpointsOptions {
  view: View;
  tunnels: TunnelRegistry;
  control: AgentControl;
  log: Logger;
  /** This process's id in the agent mesh. */
  dataPlaneId: string;
  /** The mesh's current set of ids (this process's own included). */
  dataPlanes: () => string[];
}

export const isAgentPath = (url: string | undefined) => url !== undefined && url.startsWith("/agent/");

const CONNECT_KINDS: Partial<Record<Code, ErrorKind>> = {
  [Code.Unauthenticated]: "unauthenticated",
  [Code.PermissionDenied]: "forbidden",
  [Code.InvalidArgument]: "invalid",
  [Code.NotFound]: "notFound",
};

function relayError(err: unknown): DataPathError {
  if (err instanceof ConnectError) {
    const kind = CONNECT_KINDS[err.code];
    if (kind !== undefined) return new DataPathError(kind, err.rawMessage);
  }
  return new DataPathError("unavailable", "the control plane could not be reached; try again", { detail: (err as Error).message });
}

/** Enrollment and rotation: POST with the secret as bearer; answers the new credential once. */
export async function handleAgentRequest(opts: AgentEndpointsOptions, req: Http2ServerRequest, res: Http2ServerResponse): Promise<void> {
  const url = req.url;
  try {
    if (url !== ENROLL_PATH && url !== ROTATE_PATH) throw new DataPathError("notFound", `no agent endpoint at ${JSON.stringify(url)}`);
    if (req.method !== "POST") throw new DataPathError("invalid", `${url} takes POST`, { status: 405 });
    const secret = bearerToken(req.headers.authorization);
    if (secret === undefined) throw new DataPathError("unauthenticated", `${url} needs Authorization: Bearer with the agent's ${url === ENROLL_PATH ? "bootstrap token" : "credential"}`);
    req.resume();
    let answer: { cluster: string; agentCredential: string };
    try {
      answer = url === ENROLL_PATH ? await opts.control.enroll(secret) : await opts.control.rotate(secret);
    } catch (err) {
      throw relayError(err);
    }
    opts.log.info({ cluster: answer.cluster, action: url === ENROLL_PATH ? "enroll" : "rotate" }, "agent credential issued");
    const body = JSON.stringify({ cluster: answer.cluster, credential: answer.agentCredential });
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(body);
  } catch (err) {
    const e = err instanceof DataPathError ? err : new DataPathError("internal", "internal error in kubegate");
    opts.log.warn({ path: url, status: e.status, reason: e.detail }, "agent request refused");
    writeStatus(res, e);
  }
}

/** The tunnel upgrade: authenticate the agent by its credential's hash, answer 101, adopt. */
export function handleAgentUpgrade(opts: AgentEndpointsOptions, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on("error", () => socket.destroy());
  const refuse = (err: DataPathError) => {
    opts.log.warn({ path: req.url, status: err.status, reason: err.detail }, "agent tunnel refused");
    writeStatusToSocket(socket, err);
  };
  if (req.url !== TUNNEL_PATH) return refuse(new DataPathError("notFound", `no agent endpoint at ${JSON.stringify(req.url)}`));
  if ((req.headers.upgrade ?? "").toLowerCase() !== TUNNEL_PROTOCOL)
    return refuse(new DataPathError("invalid", `the agent tunnel upgrades to ${TUNNEL_PROTOCOL}`));
  const credential = bearerToken(req.headers.authorization);
  if (credential === undefined) return refuse(new DataPathError("unauthenticated", "the agent tunnel needs Authorization: Bearer with the agent's credential"));
  const hash = hashSecret(credential);
  const route = [...opts.view.clusters.values()].find((r) => r.mode === "agent" && r.agentCredentialHash === hash);
  const cluster = route?.name;
  if (route === undefined || cluster === undefined)
    return refuse(new DataPathError("unauthenticated", "unknown or replaced agent credential: enroll again with a new bootstrap token", { detail: "agent credential matches no cluster" }));
  const claimed = req.headers[AGENT_CLUSTER_HEADER];
  if (typeof claimed === "string" && claimed !== "" && claimed !== cluster)
    return refuse(new DataPathError("forbidden", `this agent credential belongs to cluster ${JSON.stringify(cluster)}, not ${JSON.stringify(claimed)}`));
  // Front-proxy mode needs an agent that presents the front-proxy certificate: any other
  // would reach the member on its own credential, which ignores X-Remote-*. Not a 403: the
  // agent keeps retrying (and logging this) until it is restarted with the certificate.
  const frontProxyName = String(req.headers[AGENT_FRONT_PROXY_HEADER] ?? "");
  if (route.identityMode === "front-proxy" && frontProxyName === "")
    return refuse(
      new DataPathError(
        "precondition",
        `cluster ${JSON.stringify(cluster)} is in front-proxy identity mode and this agent presents no front-proxy certificate: start kubegate agent with --front-proxy-cert-file and --front-proxy-key-file`,
      ),
    );
  const agentVersion = String(req.headers[AGENT_VERSION_HEADER] ?? "").slice(0, 64);
  // An agent of the mesh names the data planes it already has; an old one sends nothing.
  const rawHeld = req.headers[HELD_TUNNELS_HEADER];
  const held = parseDataPlaneIds(rawHeld);
  if (rawHeld !== undefined && held === undefined)
    return refuse(new DataPathError("invalid", `${HELD_TUNNELS_HEADER} must be a comma-separated list of data-plane ids`));
  const mesh = {
    [DATA_PLANE_HEADER]: opts.dataPlaneId,
    [DATA_PLANES_HEADER]: opts.dataPlanes().join(","),
  };
  if (held?.includes(opts.dataPlaneId) === true) {
    // Not a failure: the load balancer chose a data plane this agent already has.
    opts.log.debug({ cluster }, "agent already holds a tunnel to this data plane");
    return writeStatusToSocket(socket, new DataPathError("precondition", `the agent already holds a tunnel to data plane ${opts.dataPlaneId}`), mesh);
  }
  (socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
  (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
  // HTTP/2 takes over the TLS socket's native handle: a write still in flight there when
  // it does trips an assertion inside Node, so the 101 must be flushed first.
  const answer = headerBlock("HTTP/1.1 101 Switching Protocols", { connection: "Upgrade", upgrade: TUNNEL_PROTOCOL, [AGENT_CLUSTER_HEADER]: cluster, ...mesh });
  socket.write(answer, (err) => {
    if (err) socket.destroy();
    else opts.tunnels.adopt(socket, head, { cluster, credentialHash: hash, agentVersion, mesh: held !== undefined });
  });
}

/** The agent endpoints as the data server mounts them (serve/ injects them). */
export function createAgentEndpoints(opts: AgentEndpointsOptions) {
  return {
    handles: isAgentPath,
    request: (req: Http2ServerRequest, res: Http2ServerResponse) => void handleAgentRequest(opts, req, res),
    upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => handleAgentUpgrade(opts, req, socket, head),
    tunnelCounts: () => opts.tunnels.counts(),
  };
}
