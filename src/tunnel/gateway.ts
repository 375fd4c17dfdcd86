/**
 * The data plane's end of agent tunnels: adopts an agent's upgraded connection as an
 * HTTP/2 client session, keeps it alive with pings, learns the member's Kubernetes
 * version through it, and reports each cluster READY while at least one of its agents is
 * connected here and OFFLINE (here) when the last one goes; the control plane combines
 * the reports of every data plane. Requests find a tunnel here by cluster, and the agent
 * mesh's set of data planes is sent down every tunnel when it changes.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from "node:http2";
import type { Duplex } from "node:stream";
import type { Logger } from "../log.ts";
import { APISERVER_AUTHORITY, DATA_PLANES_HEADER, DATA_PLANES_PATH, MESH_AUTHORITY, TUNNEL_SESSION_WINDOW, TUNNEL_STREAM_WINDOW } from "./protocol.ts";

export interface TunnelStatus {
  cluster: string;
  phase: "READY" | "OFFLINE";
  kubernetesVersion: string;
  agentVersion: string;
  message: string;
}

export interface TunnelOptions {
  log: Logger;
  /** Called on every change of a cluster's tunnel state, and periodically while READY. */
  onStatus(status: TunnelStatus): void;
  /** Ping interval; a tunnel whose ping is not answered within 3 intervals is dropped. */
  heartbeatMs?: number;
  /** How often a READY cluster's version is re-read (its "last seen"). */
  refreshMs?: number;
}

export interface AgentTunnel {
  cluster: string;
  credentialHash: string;
  agentVersion: string;
  /** The agent takes part in the mesh: it is told the set of data planes. */
  mesh: boolean;
  session: ClientHttp2Session;
}

export interface TunnelRegistry {
  /** Takes over an upgraded socket (the 101 already written) as a tunnel of `cluster`. */
  adopt(socket: Duplex, head: Buffer, info: { cluster: string; credentialHash: string; agentVersion: string; mesh: boolean }): AgentTunnel;
  /** A usable tunnel session of the cluster (the newest), or undefined. */
  session(cluster: string): ClientHttp2Session | undefined;
  /** Resolves true as soon as the cluster has a usable tunnel here, false after `ms`. */
  waitFor(cluster: string, ms: number): Promise<boolean>;
  /** Sends the mesh's set of data planes down every tunnel of an agent that takes part. */
  announce(ids: string[]): void;
  /** Reports every cluster with a tunnel here again (after the sync stream reconnected). */
  reportAll(): void;
  /** Opens a CONNECT stream to the cluster's API server, for one HTTP/1.1 connection. */
  connect(cluster: string): ClientHttp2Stream | undefined;
  count(cluster?: string): number;
  /** Tunnels per cluster, for metrics. */
  counts(): Map<string, number>;
  /** Drops tunnels whose cluster is gone, not in agent mode, or whose credential changed. */
  prune(valid: (cluster: string, credentialHash: string) => boolean): void;
  close(): void;
}

/** Reads the member's version through a tunnel session; "" when it cannot. */
export function probeVersion(session: ClientHttp2Session, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request({ ":method": "GET", ":path": "/version", ":authority": APISERVER_AUTHORITY, ":scheme": "https", accept: "application/json" }, { endStream: true });
    } catch {
      return resolve("");
    }
    const chunks: Buffer[] = [];
    let status = 0;
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (c: Buffer) => chunks.length < 64 && chunks.push(c));
    stream.on("error", () => undefined);
    stream.on("close", () => {
      clearTimeout(timer);
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { gitVersion?: unknown };
        resolve(status === 200 && typeof body.gitVersion === "string" ? body.gitVersion.slice(0, 64) : "");
      } catch {
        resolve("");
      }
    });
  });
}

export function createTunnelRegistry(opts: TunnelOptions): TunnelRegistry {
  const heartbeatMs = opts.heartbeatMs ?? 5_000;
  const refreshMs = opts.refreshMs ?? 30_000;
  /** Per cluster, oldest first. */
  const tunnels = new Map<string, AgentTunnel[]>();
  const versions = new Map<string, string>();
  let closed = false;

  const usable = (t: AgentTunnel) => !t.session.closed && !t.session.destroyed;

  const report = async (cluster: string) => {
    const live = (tunnels.get(cluster) ?? []).filter(usable);
    const newest = live.at(-1);
    if (newest === undefined) {
      versions.delete(cluster);
      opts.onStatus({ cluster, phase: "OFFLINE", kubernetesVersion: "", agentVersion: "", message: "the agent is not connected" });
      return;
    }
    const version = (await probeVersion(newest.session, 10_000)) || versions.get(cluster) || "";
    if (!usable(newest) || tunnels.get(cluster)?.includes(newest) !== true) return;
    versions.set(cluster, version);
    const count = live.length;
    opts.onStatus({
      cluster,
      phase: "READY",
      kubernetesVersion: version,
      agentVersion: newest.agentVersion,
      message: `${count} agent connection${count === 1 ? "" : "s"}`,
    });
  };

  const reportAll = () => {
    for (const cluster of tunnels.keys()) void report(cluster);
  };
  const refresh = setInterval(reportAll, refreshMs);
  refresh.unref();
  /** Callers of waitFor, per cluster, woken when a tunnel of it comes up. */
  const waiters = new Map<string, Set<() => void>>();
  let dataPlanes: string[] | undefined;

  const tell = (t: AgentTunnel, ids: string[]) => {
    if (!t.mesh || !usable(t)) return;
    try {
      const stream = t.session.request(
        { ":method": "POST", ":path": DATA_PLANES_PATH, ":authority": MESH_AUTHORITY, ":scheme": "https", [DATA_PLANES_HEADER]: ids.join(",") },
        { endStream: true },
      );
      stream.on("error", () => undefined);
      stream.on("response", () => stream.close());
      stream.setTimeout(10_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    } catch {
      // The session is closing; the agent learns the set from its next 101.
    }
  };

  const remove = (t: AgentTunnel) => {
    const list = tunnels.get(t.cluster);
    if (list === undefined) return;
    const i = list.indexOf(t);
    if (i === -1) return;
    list.splice(i, 1);
    if (list.length === 0) tunnels.delete(t.cluster);
    opts.log.info({ cluster: t.cluster, remaining: list.length }, "agent tunnel closed");
    if (!closed) void report(t.cluster);
  };

  return {
    adopt(socket, head, info) {
      if (head.length > 0) socket.unshift(head);
      const session = http2.connect(`https://${APISERVER_AUTHORITY}`, {
        createConnection: () => socket,
        settings: { initialWindowSize: TUNNEL_STREAM_WINDOW, enablePush: false },
        maxSessionMemory: 256,
      });
      const widen = () => session.setLocalWindowSize(TUNNEL_SESSION_WINDOW);
      if (session.connecting) session.once("connect", widen);
      else widen();
      const tunnel: AgentTunnel = { ...info, session };
      let missed = 0;
      const ping = setInterval(() => {
        if (++missed > 3) {
          opts.log.warn({ cluster: info.cluster }, "agent tunnel missed its heartbeats; dropping it");
          session.destroy();
          return;
        }
        try {
          session.ping((err) => {
            if (err === null) missed = 0;
          });
        } catch {
          session.destroy();
        }
      }, heartbeatMs);
      ping.unref();
      const gone = () => {
        clearInterval(ping);
        remove(tunnel);
      };
      session.once("close", gone);
      session.on("error", (err) => opts.log.debug({ cluster: info.cluster, err: err.message }, "agent tunnel error"));
      session.once("goaway", () => session.close());
      socket.on("error", () => session.destroy());
      session.once("remoteSettings", () => {
        if (closed) return session.destroy();
        const list = tunnels.get(info.cluster) ?? [];
        list.push(tunnel);
        tunnels.set(info.cluster, list);
        opts.log.info({ cluster: info.cluster, agentVersion: info.agentVersion, connections: list.length }, "agent tunnel up");
        for (const wake of waiters.get(info.cluster) ?? []) wake();
        // The set may have changed between the 101 and now.
        if (dataPlanes !== undefined) tell(tunnel, dataPlanes);
        void report(info.cluster);
      });
      return tunnel;
    },
    session(cluster) {
      const list = tunnels.get(cluster);
      if (list === undefined) return undefined;
      for (let i = list.length - 1; i >= 0; i--) if (usable(list[i]!)) return list[i]!.session;
      return undefined;
    },
    waitFor(cluster, ms) {
      if (this.session(cluster) !== undefined) return Promise.resolve(true);
      if (closed || ms <= 0) return Promise.resolve(false);
      return new Promise((resolve) => {
        const set = waiters.get(cluster) ?? new Set();
        waiters.set(cluster, set);
        const done = (ok: boolean) => {
          clearTimeout(timer);
          set.delete(wake);
          if (set.size === 0 && waiters.get(cluster) === set) waiters.delete(cluster);
          resolve(ok);
        };
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), ms);
        set.add(wake);
      });
    },
    announce(ids) {
      dataPlanes = ids;
      for (const list of tunnels.values()) for (const t of list) tell(t, ids);
    },
    reportAll,
    connect(cluster) {
      const session = this.session(cluster);
      if (session === undefined) return undefined;
      const headers: OutgoingHttpHeaders = { ":method": "CONNECT", ":authority": APISERVER_AUTHORITY };
      return session.request(headers);
    },
    count(cluster) {
      if (cluster !== undefined) return tunnels.get(cluster)?.length ?? 0;
      let n = 0;
      for (const list of tunnels.values()) n += list.length;
      return n;
    },
    counts() {
      return new Map([...tunnels].map(([cluster, list]) => [cluster, list.length]));
    },
    prune(valid) {
      for (const list of tunnels.values())
        for (const t of [...list])
          if (!valid(t.cluster, t.credentialHash)) {
            opts.log.info({ cluster: t.cluster }, "agent tunnel no longer authorized (cluster removed or credential rotated); closing it");
            t.session.destroy();
          }
    },
    close() {
      closed = true;
      clearInterval(refresh);
      for (const set of waiters.values()) for (const wake of set) wake();
      for (const list of tunnels.values()) for (const t of list) t.session.destroy();
      tunnels.clear();
    },
  };
}
