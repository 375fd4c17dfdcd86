/**
 * `kubegate agent`: runs beside a private cluster's API server, dials out to the gateway
 * (verifying it against a configured CA), and serves the data plane's streams over that
 * one connection. It reconnects with exponential backoff and full jitter; it enrolls with
 * its bootstrap token once and keeps its own credential in its state directory.
 *
 * The agent mesh: the gateway's data plane may be many processes behind one address. The
 * agent learns their ids from each answer and keeps dialing, one tunnel at a time, until it
 * holds a tunnel to every one of them; a process it already has answers 409, and then the
 * agent dials again soon. It follows the set as the data plane announces changes, and
 * keeps a tunnel until it closes, even to a process that left the set for a moment.
 */
import http2, { type ServerHttp2Session } from "node:http2";
import https from "node:https";
import type { Duplex } from "node:stream";
import { createUpstreams } from "../forward/upstream.ts";
import type { Logger } from "../log.ts";
import { backoffDelay, sleepUnlessAborted } from "../net/backoff.ts";
import { acceptConnect, createConnectServer, forwardRequest, type AgentForwardContext } from "./agent-forward.ts";
import { DataPathError } from "../forward/kube-status.ts";
import { apiserverRoute, frontProxyRoute, loadApiserverTarget, type ApiserverSource } from "./apiserver.ts";
import { CredentialRejectedError, obtainCredential, type GatewayEndpoint } from "./credential.ts";
import {
  AGENT_CLUSTER_HEADER,
  AGENT_FRONT_PROXY_HEADER,
  AGENT_VERSION_HEADER,
  DATA_PLANE_HEADER,
  DATA_PLANES_HEADER,
  DATA_PLANES_PATH,
  HELD_TUNNELS_HEADER,
  isDataPlaneId,
  MESH_AUTHORITY,
  parseDataPlaneIds,
  TUNNEL_MAX_STREAMS,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL,
  TUNNEL_SESSION_WINDOW,
  TUNNEL_STREAM_WINDOW,
} from "./protocol.ts";

/** The longest pause before dialing again after a 409 from a process already held. */
const CONFLICT_REDIAL_MAX_MS = 1_000;

export interface AgentOptions {
  /** The data plane's URL (https://host:port). */
  gatewayUrl: string;
  /** PEM bundle the gateway's serving certificate must chain to. */
  gatewayCaPem: string;
  /** The cluster this agent serves; the gateway refuses a credential of another cluster. */
  cluster?: string;
  stateDir: string;
  bootstrapToken: () => Promise<string | undefined>;
  apiserver: ApiserverSource;
  version: string;
  log: Logger;
  /** Credentials older than this are rotated before the next connect (default 30 days). */
  credentialMaxAgeMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** How often the API server credential is re-read (a rotating service-account token). */
  reloadMs?: number;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
}

export interface Agent {
  /** Resolves when the first tunnel is up; rejects if the agent gives up (refused credential). */
  ready: Promise<void>;
  /** Resolves with the reason the agent stopped for good (never for a normal stop()). */
  failed: Promise<Error>;
  connected(): boolean;
  /** The data planes it holds a tunnel to ("" for a gateway without the mesh). */
  tunnels(): string[];
  stop(): Promise<void>;
}

/** The data plane answering already has a tunnel of this agent (409, or a duplicate 101). */
class AlreadyHeld extends Error {}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const log = opts.log.child({ component: "agent" });
  const gateway: GatewayEndpoint = { url: new URL(opts.gatewayUrl), caPem: opts.gatewayCaPem };
  if (gateway.url.protocol !== "https:") throw new Error(`--gateway must be an https URL, not ${JSON.stringify(opts.gatewayUrl)}`);
  const initial = opts.initialBackoffMs ?? 250;
  const max = opts.maxBackoffMs ?? 30_000;
  // Two pools to the one API server: with the agent's own credential, and (front-proxy
  // mode) with the front-proxy certificate alone. Pools are keyed by cluster name, hence two.
  const upstreams = createUpstreams();
  const frontProxyUpstreams = createUpstreams();
  let target = await loadApiserverTarget(opts.apiserver);
  // The gateway names the cluster on enrollment and in its 101; until then, the flag's.
  let clusterName = opts.cluster ?? "(not yet known)";
  // Built once per change of target or name, not per request: its version key is a JSON
  // of the URL, CA and credential.
  let route = apiserverRoute(clusterName, target);
  let frontRoute = frontProxyRoute(clusterName, target);
  const setTarget = (t: typeof target) => {
    target = t;
    route = apiserverRoute(clusterName, target);
    frontRoute = frontProxyRoute(clusterName, target);
  };
  const noFrontProxy = () =>
    new DataPathError("badGateway", `the kubegate agent of cluster ${JSON.stringify(clusterName)} has no front-proxy certificate (--front-proxy-cert-file, --front-proxy-key-file): it does not send X-Remote-* headers on its own credential`);
  const reload = setInterval(() => {
    loadApiserverTarget(opts.apiserver).then(
      setTarget,
      (err: Error) => log.warn({ err: err.message }, "could not re-read the API server credential; keeping the last one"),
    );
  }, opts.reloadMs ?? 60_000);
  reload.unref();
  const forwardCtx: AgentForwardContext = {
    upstream(frontProxy) {
      if (!frontProxy) return upstreams.get(route);
      if (frontRoute === undefined) throw noFrontProxy();
      return frontProxyUpstreams.get(frontRoute);
    },
    log,
    connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
    responseTimeoutMs: opts.responseTimeoutMs ?? 60_000,
  };
  const connectServer = createConnectServer(forwardCtx);
  const tunnelServer = http2.createServer({
    settings: { initialWindowSize: TUNNEL_STREAM_WINDOW, maxConcurrentStreams: TUNNEL_MAX_STREAMS, enablePush: false },
    maxSessionMemory: 256,
  });
  tunnelServer.on("session", (s: ServerHttp2Session) => s.setLocalWindowSize(TUNNEL_SESSION_WINDOW));
  tunnelServer.on("request", (req, res) => {
    if (req.authority !== MESH_AUTHORITY) return void forwardRequest(forwardCtx, req, res);
    // The data plane's own message, never forwarded: the new set of data planes.
    req.resume();
    if (req.method === "POST" && req.url === DATA_PLANES_PATH) learn(req.headers[DATA_PLANES_HEADER]);
    res.writeHead(req.url === DATA_PLANES_PATH ? 204 : 404);
    res.end();
  });
  tunnelServer.on("connect", (req, res) => acceptConnect(connectServer, log, req, res));

  const abort = new AbortController();
  /** Data-plane id ("" from a gateway without the mesh) → the tunnel to it. */
  const sessions = new Map<string, ServerHttp2Session>();
  /** The mesh's set as last heard; undefined from a gateway without the mesh. */
  let known: string[] | undefined;
  /** Recent tunnels that closed young: paces redials like connect failures. */
  let failures = 0;
  let closedSinceDial = false;
  let wake: () => void = () => undefined;
  const learn = (header: string | string[] | undefined) => {
    const ids = parseDataPlaneIds(header);
    if (ids === undefined || ids.join(",") === known?.join(",")) return;
    log.info({ dataPlanes: ids }, "data planes of the gateway");
    known = ids;
    wake();
  };
  const missing = () => (known === undefined ? sessions.size === 0 : known.some((id) => !sessions.has(id)));
  let markReady: () => void = () => undefined;
  let markFailed: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const failed = new Promise<Error>((resolve) => (markFailed = resolve));

  /** Dials one tunnel; resolves when it is up (its close wakes the loop), rejects if it never came up. */
  const dial = (credential: string) =>
    new Promise<void>((resolve, reject) => {
      const headers: Record<string, string> = {
        connection: "Upgrade",
        upgrade: TUNNEL_PROTOCOL,
        authorization: `Bearer ${credential}`,
        [AGENT_VERSION_HEADER]: opts.version,
        [HELD_TUNNELS_HEADER]: [...sessions.keys()].filter((id) => id !== "").join(","),
      };
      if (opts.cluster !== undefined) headers[AGENT_CLUSTER_HEADER] = opts.cluster;
      if (target.frontProxy !== undefined) headers[AGENT_FRONT_PROXY_HEADER] = target.frontProxy.commonName;
      const req = https.request({
        hostname: gateway.url.hostname.replace(/^\[|\]$/g, ""),
        port: gateway.url.port === "" ? 443 : Number(gateway.url.port),
        path: TUNNEL_PATH,
        headers,
        ca: gateway.caPem,
        agent: false,
        timeout: forwardCtx.connectTimeoutMs,
      });
      const onAbort = () => req.destroy();
      abort.signal.addEventListener("abort", onAbort);
      req.on("timeout", () => req.destroy(new Error("the gateway did not answer the tunnel request in time")));
      req.on("error", (err) => {
        abort.signal.removeEventListener("abort", onAbort);
        reject(err);
      });
      req.on("response", (res) => {
        learn(res.headers[DATA_PLANES_HEADER]);
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          abort.signal.removeEventListener("abort", onAbort);
          let message = Buffer.concat(chunks).toString("utf8").slice(0, 300);
          try {
            message = (JSON.parse(message) as { message: string }).message ?? message;
          } catch {
            // Not a Status: keep the text.
          }
          const err = new Error(`the gateway refused the tunnel (${res.statusCode}): ${message}`);
          if (res.statusCode === 409 && isDataPlaneId(res.headers[DATA_PLANE_HEADER])) return reject(new AlreadyHeld(message));
          reject(res.statusCode === 403 ? new CredentialRejectedError(err.message) : err);
        });
      });
      req.on("upgrade", (res, socket: Duplex, head: Buffer) => {
        const announced = res.headers[DATA_PLANE_HEADER];
        const id = isDataPlaneId(announced) ? announced : "";
        learn(res.headers[DATA_PLANES_HEADER]);
        if (sessions.has(id)) {
          // Two tunnels to one process (a gateway without the mesh, or a race): keep the first.
          abort.signal.removeEventListener("abort", onAbort);
          socket.destroy();
          return reject(new AlreadyHeld(`already holding a tunnel to ${id || "the gateway"}`));
        }
        const named = res.headers[AGENT_CLUSTER_HEADER];
        if (typeof named === "string" && named !== clusterName) {
          clusterName = named;
          setTarget(target);
        }
        abort.signal.removeEventListener("abort", onAbort);
        req.setTimeout(0);
        (socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
        (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
        if (head.length > 0) socket.unshift(head);
        const onSession = (s: ServerHttp2Session) => {
          const started = Date.now();
          sessions.set(id, s);
          log.info({ gateway: opts.gatewayUrl, cluster: clusterName, dataPlane: id, tunnels: sessions.size }, "tunnel up");
          markReady();
          resolve();
          const stopListener = () => s.close();
          abort.signal.addEventListener("abort", stopListener);
          s.once("close", () => {
            abort.signal.removeEventListener("abort", stopListener);
            if (sessions.get(id) === s) sessions.delete(id);
            if (abort.signal.aborted) return;
            const upForMs = Date.now() - started;
            log.warn({ upForMs, dataPlane: id, tunnels: sessions.size }, "tunnel closed; reconnecting");
            // A tunnel that lived a while was healthy: start the backoff again.
            failures = upForMs > 10_000 ? 0 : failures + 1;
            closedSinceDial = true;
            wake();
          });
          s.on("error", (err) => log.debug({ err: err.message }, "tunnel session error"));
        };
        tunnelServer.once("session", onSession);
        // The TLS handshake negotiated no ALPN (the upgrade was HTTP/1.1), and Node's HTTP/2
        // server would take such a socket for an HTTP/1.1 client; after the 101 it is h2.
        (socket as { alpnProtocol?: string | false }).alpnProtocol = "h2";
        tunnelServer.emit("connection", socket);
      });
      req.end();
    });

  const loop = (async () => {
    let conflicts = 0;
    while (!abort.signal.aborted) {
      if (!missing()) {
        await new Promise<void>((resolve) => {
          const done = () => {
            abort.signal.removeEventListener("abort", done);
            wake = () => undefined;
            resolve();
          };
          wake = done;
          abort.signal.addEventListener("abort", done);
        });
        continue;
      }
      if (closedSinceDial) {
        closedSinceDial = false;
        await sleepUnlessAborted(backoffDelay(failures, initial, max), abort.signal);
        if (abort.signal.aborted) break;
      }
      try {
        const credential = await obtainCredential({
          gateway,
          stateDir: opts.stateDir,
          bootstrapToken: opts.bootstrapToken,
          maxAgeMs: opts.credentialMaxAgeMs ?? 30 * 24 * 3600_000,
          onIssued(event, cluster) {
            clusterName = cluster;
            setTarget(target);
            log.info({ cluster, stateDir: opts.stateDir }, event === "enrolled" ? "enrolled with the bootstrap token" : "agent credential rotated");
          },
        });
        await dial(credential);
        conflicts = 0;
      } catch (err) {
        if (abort.signal.aborted) break;
        if (err instanceof AlreadyHeld) {
          // The load balancer picked a data plane this agent has; the next dial likely won't.
          // A 409 costs one handshake, and finding the last of N processes by chance takes
          // about N dials: pace them at 0.5–1 s at most (a 5 s cap left one of 4 processes
          // unreached for over 15 s now and then on a busy machine).
          log.debug({ err: err.message, conflicts }, "dialing again for a data plane without a tunnel");
          await sleepUnlessAborted(backoffDelay(conflicts++, 50, CONFLICT_REDIAL_MAX_MS), abort.signal);
          continue;
        }
        if (err instanceof CredentialRejectedError) {
          log.error({ err: err.message }, "the gateway refused this agent; stopping");
          markFailed(err);
          break;
        }
        const code = (err as NodeJS.ErrnoException).code;
        log.warn({ err: (err as Error).message, code, failures }, "cannot reach the gateway; retrying");
        failures++;
        await sleepUnlessAborted(backoffDelay(failures, initial, max), abort.signal);
      }
    }
  })();

  return {
    ready,
    failed,
    connected: () => sessions.size > 0,
    tunnels: () => [...sessions.keys()].sort(),
    async stop() {
      abort.abort();
      clearInterval(reload);
      for (const s of sessions.values()) s.destroy();
      await loop;
      upstreams.close();
      frontProxyUpstreams.close();
      connectServer.close();
    },
  };
}
