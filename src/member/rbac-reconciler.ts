/**
 * Grants become RBAC in member clusters (issue #6). For each cluster registered with
 * manage_rbac that this replica can reach (direct, or agent with its tunnel up here), the
 * reconciler lists the bindings kubegate manages there, creates and fixes those live grants
 * need, deletes those no live grant wants, and reports each live grant APPLIED or FAILED
 * (with the member's own words) to the control plane — only when that differs from what the
 * view already says. It runs when the view's grants or clusters change, when an agent's
 * tunnel comes up, and every resync period (which also catches expiries and bindings edited
 * by hand). Runs are serialized per cluster and coalesced; failures are logged, never thrown.
 */
import { planBindings, type BindingAction } from "../kube/rbac-plan.ts";
import { bindingKey, desiredBindings, describeBinding, isLiveGrant, managedSelector, type Binding } from "../kube/rbac.ts";
import type { Logger } from "../log.ts";
import { memberRequest, MemberStatusError } from "./member-request.ts";
import { applyBindingAction, listBindings, type MemberCall } from "./rbac-bindings.ts";
import { clipMessage } from "./reporter.ts";
import type { Upstreams } from "../forward/upstream.ts";
import type { View, ViewChange } from "../sync/view.ts";

/** What the control plane is told of one grant (ReportGrantStatus). */
export interface GrantReport {
  grantId: string;
  state: "APPLIED" | "FAILED";
  message: string;
}

export interface RbacReconcilerOptions {
  view: View;
  upstreams: Pick<Upstreams, "get">;
  /** Agent tunnels connected to this replica, by cluster (the tunnel registry). */
  tunnels: { count(cluster: string): number };
  /** The data plane's impersonation prefix: bindings name the identity it impersonates. */
  impersonationPrefix: string;
  /** Queues a report for the control plane (a coalescing reporter). */
  report(report: GrantReport): void;
  log: Logger;
  clock?: () => number;
  /** Full resync of every managed cluster (default 30 s). */
  resyncMs?: number;
  /** Per request to the member (default 10 s). */
  requestTimeoutMs?: number;
  /** Requests in flight per cluster (default 8). */
  concurrency?: number;
}

export interface RbacReconciler {
  /** Schedules the clusters a sync message touched. */
  onViewChange(change: ViewChange): void;
  /** An agent tunnel's state: a cluster whose tunnel comes up is reconciled at once. */
  onTunnelStatus(cluster: string, phase: "READY" | "OFFLINE"): void;
  /** Schedules one cluster (coalesced with a run already queued). */
  schedule(cluster: string): void;
  /** Resolves when no run is in progress or queued. */
  idle(): Promise<void>;
  /** Stops the timer, cancels requests in flight, waits for runs to end. */
  close(): Promise<void>;
}

/** What `grant get` shows once the bindings are in place. */
function appliedMessage(bindings: Binding[]): string {
  const first = bindings[0]!;
  if (first.kind === "ClusterRoleBinding") return `bound in the member by ClusterRoleBinding ${first.metadata.name}`;
  const namespaces = bindings.map((b) => b.metadata.namespace ?? "");
  const where = namespaces.length <= 5 ? `namespace${namespaces.length === 1 ? "" : "s"} ${namespaces.join(", ")}` : `${namespaces.length} namespaces`;
  return `bound in the member by RoleBinding ${first.metadata.name} in ${where}`;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function createRbacReconciler(opts: RbacReconcilerOptions): RbacReconciler {
  const { view, log } = opts;
  const clock = opts.clock ?? Date.now;
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  const concurrency = opts.concurrency ?? 8;
  const abort = new AbortController();
  /** Per cluster: the run in progress and whether another is wanted after it. */
  const runs = new Map<string, { again: boolean; done: Promise<void> }>();
  /** grant id → cluster, so a grant removed from the view still names its cluster. */
  const grantClusters = new Map<string, string>();
  const tunnelUp = new Set<string>();
  /** grant id → the state and message last reported, so our own report coming back is no trigger. */
  const reported = new Map<string, string>();
  const outcomeKey = (state: string, message: string) => `${state}\u0000${message}`;
  /**
   * cluster → what about its route matters here. A cluster's status (READY, last seen) changes
   * its route every refresh; only manage_rbac or how it is reached calls for a run.
   */
  const routes = new Map<string, string>();
  const routeChanged = (cluster: string): boolean => {
    const route = view.clusters.get(cluster);
    const key = route === undefined ? undefined : `${route.manageRbac}\u0000${route.version}`;
    if (routes.get(cluster) === key) return false;
    if (key === undefined) routes.delete(cluster);
    else routes.set(cluster, key);
    return true;
  };
  let closed = false;

  const managedClusters = () => [...view.clusters.values()].filter((c) => c.manageRbac).map((c) => c.name);

  /**
   * Reports each live grant's outcome where it differs from the view. A grant with a binding
   * that hit a transient failure (`null` in `failures`) is left as it is until a run that
   * knows; so is an APPLIED grant when `keepApplied` (its bindings could not be checked).
   */
  function reportOutcomes(desired: Map<string, Binding[]>, failures: Map<string, string | null>, keepApplied = false): void {
    const now = new Date(clock());
    for (const [grantId, bindings] of desired) {
      const grant = view.grants.get(grantId);
      // Revoked or expired while this run was out: the next run removes its bindings.
      if (grant === undefined || !isLiveGrant(grant, now)) continue;
      if (keepApplied && grant.state === "APPLIED") continue;
      const outcomes = bindings.map((b) => failures.get(bindingKey(b)));
      if (outcomes.includes(null)) continue;
      const failed = outcomes.filter((m) => m !== undefined && m !== null);
      const next: GrantReport =
        failed.length === 0 ? { grantId, state: "APPLIED", message: appliedMessage(bindings) } : { grantId, state: "FAILED", message: clipMessage(failed.join("; ")) };
      if (grant.state === next.state && grant.stateMessage === next.message) continue;
      log.info({ cluster: grant.cluster, grant: grantId, state: next.state, message: next.message }, "grant RBAC outcome");
      reported.set(grantId, outcomeKey(next.state, next.message));
      opts.report(next);
    }
  }

  async function reconcile(cluster: string): Promise<void> {
    const route = view.clusters.get(cluster);
    if (route === undefined || !route.manageRbac) return;
    // An agent cluster is reached through its tunnel; when it comes up, onTunnelStatus runs this again.
    if (route.mode === "agent" && opts.tunnels.count(cluster) === 0) return;
    const upstream = opts.upstreams.get(route);
    const call: MemberCall = (method, path, body) => memberRequest(upstream, { method, path, body, timeoutMs, signal: abort.signal });
    const desired = desiredBindings(view.grants.values(), cluster, opts.impersonationPrefix, new Date(clock()));

    let actions: BindingAction[];
    try {
      actions = planBindings([...desired.values()].flat(), await listBindings(call, managedSelector(cluster)));
    } catch (err) {
      if (!(err instanceof MemberStatusError) || err.transient) throw err;
      // The member refused the list (forbidden, most likely): say so on every grant waiting on
      // it. Grants already APPLIED keep that state: their bindings were there, only unverified.
      const why = `kubegate cannot list its RoleBindings and ClusterRoleBindings in the member: ${err.message}`;
      log.warn({ cluster, status: err.status, err: err.message }, "RBAC reconcile: cannot list bindings");
      const failures = new Map<string, string>();
      for (const bindings of desired.values()) for (const b of bindings) failures.set(bindingKey(b), why);
      return reportOutcomes(desired, failures, true);
    }

    const failures = new Map<string, string | null>();
    const run = async (action: BindingAction) => {
      const b = action.op === "delete" ? action.existing : action.desired;
      try {
        await applyBindingAction(call, action);
        log.info({ cluster, op: action.op, binding: describeBinding(b) }, "RBAC binding changed in the member");
      } catch (err) {
        if (!(err instanceof MemberStatusError)) throw err;
        log.warn({ cluster, op: action.op, binding: describeBinding(b), status: err.status, err: err.message }, "RBAC reconcile: the member refused a change");
        failures.set(bindingKey(b), err.transient ? null : `${describeBinding(b)}: ${err.message}`);
      }
    };
    // Removing access no grant gives comes before anything that may fail.
    await eachLimited(actions.filter((a) => a.op === "delete"), concurrency, run);
    await eachLimited(actions.filter((a) => a.op !== "delete"), concurrency, run);
    reportOutcomes(desired, failures);
  }

  function schedule(cluster: string): void {
    if (closed) return;
    const current = runs.get(cluster);
    if (current !== undefined) {
      current.again = true;
      return;
    }
    const entry = { again: true, done: Promise.resolve() };
    runs.set(cluster, entry);
    entry.done = (async () => {
      // Let the rest of this tick's triggers coalesce into this run.
      await Promise.resolve();
      while (entry.again && !closed) {
        entry.again = false;
        const started = clock();
        try {
          await reconcile(cluster);
          log.debug({ cluster, ms: clock() - started }, "RBAC reconcile done");
        } catch (err) {
          // Unreachable member, offline agent, cancelled at close: the next trigger tries again.
          if (!closed) log.warn({ cluster, err: (err as Error).message }, "RBAC reconcile could not reach the member; will retry");
        }
      }
      runs.delete(cluster);
    })();
  }

  async function idle(): Promise<void> {
    while (runs.size > 0) await Promise.all([...runs.values()].map((r) => r.done));
  }

  const resync = setInterval(() => {
    for (const cluster of managedClusters()) schedule(cluster);
  }, opts.resyncMs ?? 30_000);
  resync.unref();

  return {
    onViewChange(change) {
      if (change.snapshot) {
        grantClusters.clear();
        reported.clear();
        routes.clear();
        for (const cluster of view.clusters.keys()) routeChanged(cluster);
        for (const g of view.grants.values()) grantClusters.set(g.id, g.cluster);
        for (const cluster of managedClusters()) schedule(cluster);
        return;
      }
      const touched = new Set(change.clusters.filter(routeChanged));
      let unknown = false;
      for (const id of change.grants) {
        const g = view.grants.get(id);
        const echo = g !== undefined && reported.get(id) === outcomeKey(g.state, g.stateMessage);
        reported.delete(id);
        const cluster = g?.cluster ?? grantClusters.get(id);
        if (g === undefined) grantClusters.delete(id);
        else grantClusters.set(id, g.cluster);
        if (echo) continue;
        if (cluster === undefined) unknown = true;
        else touched.add(cluster);
      }
      for (const cluster of unknown ? managedClusters() : touched) schedule(cluster);
    },
    onTunnelStatus(cluster, phase) {
      if (phase === "OFFLINE") {
        tunnelUp.delete(cluster);
        return;
      }
      if (tunnelUp.has(cluster)) return;
      tunnelUp.add(cluster);
      schedule(cluster);
    },
    schedule,
    idle,
    async close() {
      closed = true;
      clearInterval(resync);
      abort.abort();
      await idle();
    },
  };
}
