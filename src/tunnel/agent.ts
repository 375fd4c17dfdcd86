/**
 * `kubegate agent`: runs beside a private cluster's API server, dials out to the gateway
 * (verifying it against a configured CA), and serves the data plane's streams over that
 * one connection. It reconnects with exponential backoff and full jitter; it enrolls with
 * its bootstrap token once and keeps its own credential in its state directory.
 */
import http2, { type ServerHttp2Session } from "node:http2";
import https from "node:https";
import type { Duplex } from "node:stream";
import { createUpstreams } from "../forward/upstream.ts";
import type { Logger } from "../log.ts";
import { backoffDelay, sleepUnlessAborted } from "../net/backoff.ts";
import { acceptConnect, createConnectServer, forwardRequest, type AgentForwardContext } from "./agent-forward.ts";
import { apiserverRoute, loadApiserverTarget, type ApiserverSource } from "./apiserver.ts";
import { CredentialRejectedError, obtainCredential, type GatewayEndpoint } from "./credential.ts";
import {
  AGENT_CLUSTER_HEADER,
  AGENT_VERSION_HEADER,
  TUNNEL_MAX_STREAMS,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL,
  TUNNEL_SESSION_WINDOW,
  TUNNEL_STREAM_WINDOW,
} from "./protocol.ts";

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
  stop(): Promise<void>;
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const log = opts.log.child({ component: "agent" });
  const gateway: GatewayEndpoint = { url: new URL(opts.gatewayUrl), caPem: opts.gatewayCaPem };
  if (gateway.url.protocol !== "https:") throw new Error(`--gateway must be an https URL, not ${JSON.stringify(opts.gatewayUrl)}`);
  const initial = opts.initialBackoffMs ?? 250;
  const max = opts.maxBackoffMs ?? 30_000;
  const upstreams = createUpstreams();
  let target = await loadApiserverTarget(opts.apiserver);
  // The gateway names the cluster on enrollment and in its 101; until then, the flag's.
  let clusterName = opts.cluster ?? "(not yet known)";
  // Built once per change of target or name, not per request: its version key is a JSON
  // of the URL, CA and credential.
  let route = apiserverRoute(clusterName, target);
  const setTarget = (t: typeof target) => {
    target = t;
    route = apiserverRoute(clusterName, target);
  };
  const reload = setInterval(() => {
    loadApiserverTarget(opts.apiserver).then(
      setTarget,
      (err: Error) => log.warn({ err: err.message }, "could not re-read the API server credential; keeping the last one"),
    );
  }, opts.reloadMs ?? 60_000);
  reload.unref();
  const forwardCtx: AgentForwardContext = {
    upstream: () => upstreams.get(route),
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
  tunnelServer.on("request", (req, res) => void forwardRequest(forwardCtx, req, res));
  tunnelServer.on("connect", (req, res) => acceptConnect(connectServer, log, req, res));

  const abort = new AbortController();
  let session: ServerHttp2Session | undefined;
  let connected = false;
  let markReady: () => void = () => undefined;
  let markFailed: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const failed = new Promise<Error>((resolve) => (markFailed = resolve));

  /** One tunnel, from dial to close. Resolves when it ends; rejects if it never came up. */
  const runTunnel = (credential: string) =>
    new Promise<void>((resolve, reject) => {
      const headers: Record<string, string> = {
        connection: "Upgrade",
        upgrade: TUNNEL_PROTOCOL,
        authorization: `Bearer ${credential}`,
        [AGENT_VERSION_HEADER]: opts.version,
      };
      if (opts.cluster !== undefined) headers[AGENT_CLUSTER_HEADER] = opts.cluster;
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
          reject(res.statusCode === 403 ? new CredentialRejectedError(err.message) : err);
        });
      });
      req.on("upgrade", (res, socket: Duplex, head: Buffer) => {
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
          session = s;
          connected = true;
          log.info({ gateway: opts.gatewayUrl, cluster: clusterName }, "tunnel up");
          markReady();
          const stopListener = () => s.close();
          abort.signal.addEventListener("abort", stopListener);
          s.once("close", () => {
            abort.signal.removeEventListener("abort", stopListener);
            connected = false;
            session = undefined;
            resolve();
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
    let failures = 0;
    while (!abort.signal.aborted) {
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
        const started = Date.now();
        await runTunnel(credential);
        if (abort.signal.aborted) break;
        log.warn({ upForMs: Date.now() - started }, "tunnel closed; reconnecting");
        // A tunnel that lived a while was healthy: start the backoff again.
        failures = Date.now() - started > 10_000 ? 0 : failures + 1;
      } catch (err) {
        if (abort.signal.aborted) break;
        if (err instanceof CredentialRejectedError) {
          log.error({ err: err.message }, "the gateway refused this agent; stopping");
          markFailed(err);
          break;
        }
        const code = (err as NodeJS.ErrnoException).code;
        log.warn({ err: (err as Error).message, code, failures }, "cannot reach the gateway; retrying");
        failures++;
      }
      await sleepUnlessAborted(backoffDelay(failures, initial, max), abort.signal);
    }
  })();

  return {
    ready,
    failed,
    connected: () => connected,
    async stop() {
      abort.abort();
      clearInterval(reload);
      session?.destroy();
      await loop;
      upstreams.close();
      connectServer.close();
    },
  };
}
