/**
 * Prometheus metrics for the data plane, kept in plain maps and rendered in the text
 * exposition format: requests by cluster, verb and code; latency; live streams; sync age.
 */

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function labels(obj: Record<string, string>): string {
  const parts = Object.entries(obj).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Label strings by their raw values: a request's labels repeat, and escaping them each time costs. */
function labelCache(): (values: string[], build: () => string) => string {
  const cache = new Map<string, string>();
  return (values, build) => {
    const raw = values.join("\u0000");
    let out = cache.get(raw);
    if (out === undefined) cache.set(raw, (out = build()));
    return out;
  };
}

export interface Metrics {
  observeRequest(cluster: string, verb: string, code: number, seconds: number): void;
  render(gauges: {
    activeStreams: Record<string, number>;
    syncStalenessSeconds: number;
    syncConnected: boolean;
    revision: number;
    /** Connected agent tunnels by cluster. */
    agentTunnels?: Map<string, number>;
  }): string;
}

export function createMetrics(): Metrics {
  const requests = new Map<string, number>();
  const latency = new Map<string, { buckets: number[]; sum: number; count: number }>();
  const requestLabels = labelCache();
  const latencyLabels = labelCache();
  return {
    observeRequest(cluster, verb, code, seconds) {
      const status = String(code);
      const key = requestLabels([cluster, verb, status], () => labels({ cluster, verb, code: status }));
      requests.set(key, (requests.get(key) ?? 0) + 1);
      const lkey = latencyLabels([cluster, verb], () => labels({ cluster, verb }));
      let h = latency.get(lkey);
      if (h === undefined) latency.set(lkey, (h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.buckets[i]!++;
      h.sum += seconds;
      h.count++;
    },
    render(g) {
      const out: string[] = [
        "# HELP kubegate_requests_total Requests through the data plane by cluster, verb and HTTP status.",
        "# TYPE kubegate_requests_total counter",
      ];
      for (const [k, v] of requests) out.push(`kubegate_requests_total${k} ${v}`);
      out.push("# HELP kubegate_request_duration_seconds Time to complete a request (streams: their whole life).", "# TYPE kubegate_request_duration_seconds histogram");
      for (const [k, h] of latency) {
        const inner = k.slice(1, -1);
        BUCKETS.forEach((b, i) => out.push(`kubegate_request_duration_seconds_bucket{${inner},le="${b}"} ${h.buckets[i]}`));
        out.push(`kubegate_request_duration_seconds_bucket{${inner},le="+Inf"} ${h.count}`);
        out.push(`kubegate_request_duration_seconds_sum${k} ${h.sum}`, `kubegate_request_duration_seconds_count${k} ${h.count}`);
      }
      out.push("# HELP kubegate_active_streams Requests in flight by kind.", "# TYPE kubegate_active_streams gauge");
      for (const [kind, n] of Object.entries(g.activeStreams)) out.push(`kubegate_active_streams${labels({ kind })} ${n}`);
      out.push(
        "# HELP kubegate_sync_staleness_seconds Seconds since the control plane was last heard.",
        "# TYPE kubegate_sync_staleness_seconds gauge",
        `kubegate_sync_staleness_seconds ${g.syncStalenessSeconds}`,
        "# HELP kubegate_sync_connected Whether the sync stream is up.",
        "# TYPE kubegate_sync_connected gauge",
        `kubegate_sync_connected ${g.syncConnected ? 1 : 0}`,
        "# HELP kubegate_sync_revision Revision of the view.",
        "# TYPE kubegate_sync_revision gauge",
        `kubegate_sync_revision ${g.revision}`,
      );
      if (g.agentTunnels !== undefined) {
        out.push("# HELP kubegate_agent_tunnels Agent tunnels connected to this replica, by cluster.", "# TYPE kubegate_agent_tunnels gauge");
        for (const [cluster, n] of g.agentTunnels) out.push(`kubegate_agent_tunnels${labels({ cluster })} ${n}`);
      }
      return out.join("\n") + "\n";
    },
  };
}
