/**
 * The health probe of direct-mode members (issue #16). Every data plane asks each direct
 * cluster of its view for GET /version as the gateway itself (the cluster's credential, no
 * impersonation; /version is public to anyone the member authenticates) over the upstream
 * pool the data path uses: at once when the cluster appears or how to reach it changes,
 * then every interval (15 s, jittered so probes do not march in step). The outcome, READY
 * with the version or OFFLINE with why, is reported when it changes, and otherwise at most
 * once a minute, to refresh "last seen". Agent clusters are their tunnel's business.
 */
import type { Upstreams } from "../forward/upstream.ts";
import type { Logger } from "../log.ts";
import type { View, ViewChange } from "../sync/view.ts";
import type { ClusterStatusReport } from "./cluster-reports.ts";
import { memberRequest } from "./member-request.ts";
import { outcomeOfAnswer, outcomeOfFailure, type ProbeOutcome } from "./probe-outcome.ts";

const DEFAULT_PROBE_INTERVAL_MS = 15_000;
const PROBE_TIMEOUT_MS = 5_000;
/** An unchanged outcome is sent again this often, so the control plane's "last seen" moves. */
const REFRESH_MS = 60_000;
const USER_AGENT = "kubegate-health-probe";
/**
 * A front-proxy member learns the caller from request headers, and the gateway holds no
 * identity of its own there: the probe asserts nobody, which Kubernetes lets read /version
 * (ClusterRole system:public-info-viewer is bound to system:unauthenticated).
 */
const NOBODY = { "x-remote-user": "system:anonymous", "x-remote-group": "system:unauthenticated" };

export interface HealthProbeOptions {
  view: View;
  upstreams: Pick<Upstreams, "get">;
  /** Queues a report for the control plane (a coalescing reporter). */
  report(status: ClusterStatusReport): void;
  log: Logger;
  /** Between the end of one probe and the start of the next, ±10% (default 15 s). */
  intervalMs?: number;
  /** Connecting and answering together (default 5 s). */
  timeoutMs?: number;
  clock?: () => number;
}

export interface HealthProbes {
  /** Starts probing clusters that appeared or changed, stops those gone or no longer direct. */
  onViewChange(change: ViewChange): void;
  /** Reports every cluster's latest outcome again (the control plane forgot this data plane). */
  reportAll(): void;
  close(): void;
}

interface Probe {
  name: string;
  /** The route version probed; another one starts a new probe. */
  version: string;
  timer: NodeJS.Timeout | undefined;
  /** The request in flight, ended when the route changes, the cluster leaves, the data plane stops. */
  call: AbortController | undefined;
  stopped: boolean;
  last: ProbeOutcome | undefined;
  reportedAt: number;
}

const same = (a: ProbeOutcome | undefined, b: ProbeOutcome) =>
  a !== undefined && a.phase === b.phase && a.kubernetesVersion === b.kubernetesVersion && a.message === b.message;

export function createHealthProbes(opts: HealthProbeOptions): HealthProbes {
  const clock = opts.clock ?? Date.now;
  const intervalMs = opts.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  const probes = new Map<string, Probe>();
  let closed = false;

  const stop = (name: string) => {
    const p = probes.get(name);
    if (p === undefined) return;
    clearTimeout(p.timer);
    p.stopped = true;
    p.call?.abort();
    probes.delete(name);
  };

  const send = (p: Probe, outcome: ProbeOutcome) => {
    p.reportedAt = clock();
    opts.report({ cluster: p.name, ...outcome, agentVersion: "" });
  };

  const schedule = (p: Probe, ms: number) => {
    p.timer = setTimeout(() => void run(p), ms);
    p.timer.unref();
  };

  async function ask(p: Probe): Promise<ProbeOutcome | undefined> {
    const route = opts.view.clusters.get(p.name);
    if (route === undefined || route.version !== p.version) return undefined;
    const call = new AbortController();
    p.call = call;
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      call.abort();
    }, timeoutMs);
    deadline.unref();
    try {
      const res = await memberRequest(opts.upstreams.get(route), {
        method: "GET",
        path: "/version",
        timeoutMs,
        signal: call.signal,
        headers: route.identityMode === "front-proxy" ? { "user-agent": USER_AGENT, ...NOBODY } : { "user-agent": USER_AGENT },
      });
      return outcomeOfAnswer(res);
    } catch (err) {
      return outcomeOfFailure(route.serverUrl, err, { timedOut, timeoutMs });
    } finally {
      clearTimeout(deadline);
      p.call = undefined;
    }
  }

  async function run(p: Probe): Promise<void> {
    const outcome = await ask(p);
    // Superseded meanwhile: a newer probe of the cluster (or none) reports instead.
    if (outcome === undefined || p.stopped) return;
    if (!same(p.last, outcome)) {
      const fields = { cluster: p.name, phase: outcome.phase, kubernetesVersion: outcome.kubernetesVersion, message: outcome.message };
      if (outcome.phase === "READY") opts.log.info(fields, "direct cluster answers its health probe");
      else opts.log.warn(fields, "direct cluster fails its health probe");
      send(p, outcome);
    } else if (clock() - p.reportedAt >= REFRESH_MS) send(p, outcome);
    p.last = outcome;
    schedule(p, intervalMs * (0.9 + Math.random() * 0.2));
  }

  return {
    onViewChange(change) {
      if (closed) return;
      for (const name of new Set(change.clusters)) {
        const route = opts.view.clusters.get(name);
        if (route === undefined || route.mode !== "direct") {
          stop(name);
          continue;
        }
        if (probes.get(name)?.version === route.version) continue;
        stop(name);
        const p: Probe = { name, version: route.version, timer: undefined, call: undefined, stopped: false, last: undefined, reportedAt: 0 };
        probes.set(name, p);
        schedule(p, 0);
      }
    },
    reportAll() {
      for (const p of probes.values()) if (p.last !== undefined) send(p, p.last);
    },
    close() {
      closed = true;
      for (const name of [...probes.keys()]) stop(name);
    },
  };
}
