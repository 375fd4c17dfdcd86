/**
 * Starts the data plane: its view synced from the control plane, the token verifier,
 * upstream pools, and the listener. Used by `kubegate serve` (beside the control plane)
 * and `kubegate serve data --control <url>`.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { auditEventToProto } from "../audit-event.ts";
import { createKubegateClients } from "../client/clients.ts";
import { listenUrl, type ListenAddress } from "../config/serve-config.ts";
import { createAuditReporter } from "../member/audit-reporter.ts";
import { createGrantReporter } from "../member/grant-reports.ts";
import { createMetrics } from "../data/metrics.ts";
import { createRbacReconciler } from "../member/rbac-reconciler.ts";
import type { EdgeLimits } from "../data/edge.ts";
import { startDataServer, type DataServer } from "../data/server.ts";
import { createSessions, type Sessions } from "../data/sessions.ts";
import { createClusterReporter } from "../member/cluster-reports.ts";
import { createHealthProbes } from "../member/health-probe.ts";
import { startSync } from "../sync/sync-client.ts";
import { createUpstreams } from "../forward/upstream.ts";
import { createView, type View } from "../sync/view.ts";
import type { Logger } from "../log.ts";
import { createRateLimiter } from "../net/rate-limit.ts";
import type { TlsMaterial } from "../tls/material.ts";
import { createTokenVerifier } from "../token/verifier.ts";
import { createTunnelRegistry, type TunnelRegistry } from "../tunnel/gateway.ts";
import { createAgentEndpoints } from "../tunnel/endpoints.ts";
import { tunnelUpstream } from "../tunnel/pool.ts";

export interface DataPlaneOptions {
  listen: ListenAddress;
  tls: TlsMaterial;
  controlUrl: string;
  /** CA of the control plane's serving certificate. */
  controlCaPem: string;
  /** A data-plane credential (API key in the data-plane group, or the embedded secret). */
  credential: string;
  issuer: string;
  stalenessMs: number;
  impersonationPrefix: string;
  cutStreamsOnTokenExpiry: boolean;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
  /** Per-user requests per second on this replica; 0 or absent: unlimited. */
  requestRate?: number;
  requestBurst?: number;
  replica?: string;
  /** Connection-level limits and timeouts of the data port (default DEFAULT_EDGE_LIMITS). */
  edge?: EdgeLimits;
  /** Concurrent requests and streams per user and per cluster on this replica (default 1,000 and 10,000). */
  maxStreamsPerUser?: number;
  maxStreamsPerCluster?: number;
  /** Agent tunnel ping interval (default 5 s); a tunnel silent for 3 of them is dropped. */
  agentHeartbeatMs?: number;
  /** How often each direct member is asked GET /version (default 15 s, jittered). */
  memberProbeIntervalMs?: number;
  /** How often audited requests are sent to the control plane for AuditLog (default 2 s). */
  auditFlushMs?: number;
  log: Logger;
  clock?: () => number;
}

export interface DataPlane {
  url: string;
  /** This process's id in the agent mesh (new on every start). */
  id: string;
  port: number;
  view: View;
  sessions: Sessions;
  tunnels: TunnelRegistry;
  server: DataServer;
  /** Resolves when the first snapshot has arrived. */
  ready: Promise<void>;
  /** Sends the audit events buffered so far to the control plane now. */
  flushAudit(): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

export async function startDataPlane(opts: DataPlaneOptions): Promise<DataPlane> {
  const clock = opts.clock ?? Date.now;
  // Data-plane lines are built field by field from values that hold no secret (the token
  // never enters a log record), so the per-request audit line skips redaction: ~5% of a request.
  const log = opts.log.child({ component: "data" }, { redact: { paths: [] } });
  const view = createView();
  // New on every start: a restarted process is a new member of the mesh, and agents dial it anew.
  const id = `dp-${randomBytes(8).toString("hex")}`;
  const verifier = createTokenVerifier({ issuer: opts.issuer, clock });
  const sessions = createSessions({ perUser: opts.maxStreamsPerUser ?? 1_000, perCluster: opts.maxStreamsPerCluster ?? 10_000 });
  const clients = createKubegateClients({ baseUrl: opts.controlUrl, caPem: opts.controlCaPem, credential: opts.credential, protocol: "grpc" });
  const clusterReports = createClusterReporter(clients.sync, id, log);
  const tunnels = createTunnelRegistry({
    log,
    heartbeatMs: opts.agentHeartbeatMs,
    onStatus: (status) => {
      clusterReports.push(status.cluster, status);
      // Only called once a tunnel is adopted, after startup: rbac exists by then.
      rbac.onTunnelStatus(status.cluster, status.phase);
    },
  });
  const upstreams = createUpstreams({ viaAgent: tunnelUpstream(tunnels) });
  const replica = opts.replica ?? `${hostname()}:${process.pid}`;
  const audit = createAuditReporter({
    log,
    flushMs: opts.auditFlushMs,
    clock,
    send: async (events) => {
      await clients.sync.reportAuditEvents({ replica, events: events.map(auditEventToProto) });
    },
  });
  const grantReports = createGrantReporter(clients.sync, log);
  const rbac = createRbacReconciler({ view, upstreams, tunnels, impersonationPrefix: opts.impersonationPrefix, report: (r) => grantReports.push(r.grantId, r), log, clock });
  const probes = createHealthProbes({ view, upstreams, report: (r) => clusterReports.push(r.cluster, r), log, intervalMs: opts.memberProbeIntervalMs, clock });
  const ctx = {
    access: { view, verifier, clock, stalenessMs: opts.stalenessMs },
    upstreams,
    impersonationPrefix: opts.impersonationPrefix,
    sessions,
    metrics: createMetrics(),
    log,
    connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
    responseTimeoutMs: opts.responseTimeoutMs ?? 60_000,
    limiter: opts.requestRate ? createRateLimiter({ perSecond: opts.requestRate, burst: opts.requestBurst ?? 100, clock }) : undefined,
    auditSink: audit,
  };
  let server: DataServer | undefined;
  // A control plane that predates the mesh sends no set: then this process is all there is.
  const meshIds = () => view.dataPlanes ?? [id];
  const sync = startSync({
    sync: clients.sync,
    replica,
    dataPlaneId: id,
    view,
    verifier,
    log,
    clock,
    onChange(change) {
      if (change.snapshot || change.clusters.length > 0) {
        upstreams.prune(view.clusters);
        tunnels.prune((cluster, hash) => {
          const route = view.clusters.get(cluster);
          return route !== undefined && route.mode === "agent" && route.agentCredentialHash === hash;
        });
      }
      if (change.dataPlanes) {
        tunnels.announce(meshIds());
        // The control plane counts each cluster's tunnels and answered probes out of the set: a new count.
        tunnels.reportAll();
        probes.reportAll();
      }
      server?.revalidate();
      rbac.onViewChange(change);
      probes.onViewChange(change);
    },
    // The control plane forgets which clusters a data plane reaches when its stream ends.
    onConnected: () => {
      tunnels.reportAll();
      probes.reportAll();
    },
  });
  server = await startDataServer({
    ctx,
    tls: opts.tls,
    listen: opts.listen,
    ...(opts.edge === undefined ? {} : { limits: opts.edge }),
    syncConnected: sync.connected,
    cutStreamsOnTokenExpiry: opts.cutStreamsOnTokenExpiry,
    agents: createAgentEndpoints({
      view,
      tunnels,
      log,
      dataPlaneId: id,
      dataPlanes: meshIds,
      control: {
        enroll: (bootstrapToken) => clients.sync.enrollAgent({ bootstrapToken }),
        rotate: (agentCredential) => clients.sync.rotateAgentCredential({ agentCredential }),
      },
    }),
  });
  const started = server;
  return {
    url: listenUrl(opts.listen, started.port),
    id,
    port: started.port,
    view,
    sessions,
    tunnels,
    server: started,
    ready: sync.ready,
    flushAudit: () => audit.flush(),
    async close(graceMs) {
      // Probes first: a report sent after this process left the mesh would count for nobody.
      probes.close();
      await sync.stop();
      log.debug("sync stopped");
      await rbac.close();
      grantReports.close();
      tunnels.close();
      clusterReports.close();
      await started.close(graceMs);
      // After the listener drained, so the last requests' events go too.
      await audit.close();
      upstreams.close();
    },
  };
}
