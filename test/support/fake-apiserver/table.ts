/**
 * Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for,
 * with the columns the real server prints for each served kind.
 */
import { type KubeObject, meta } from "./object.ts";
import type { ResourceType } from "./resources.ts";

/** A Table column definition. */
export interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

type Cell = string | number;
type Printer = { columns: Column[]; cells: (o: KubeObject, now: number) => Cell[] };

function col(name: string, type = "string", priority = 0, format = ""): Column {
  return { name, type, format, description: name, priority };
}

/** Kubernetes' HumanDuration, as printed in AGE columns. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 0) return "<invalid>";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 192) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

function age(o: KubeObject, now: number): string {
  const ts = meta(o).creationTimestamp;
  return ts ? humanDuration(now - Date.parse(ts)) : "<unknown>";
}

const NAME = { ...col("Name", "string", 0, "name"), description: "Name must be unique within a namespace." };
const AGE = col("Age");

function count(v: unknown): number {
  return v && typeof v === "object" ? Object.keys(v).length : 0;
}

type PodStatus = { phase?: string; containerStatuses?: Array<{ ready?: boolean; restartCount?: number }>; podIP?: string };

const PRINTERS: Record<string, Printer> = {
  configmaps: { columns: [NAME, col("Data", "integer"), AGE], cells: (o, n) => [meta(o).name!, count(o["data"]) + count(o["binaryData"]), age(o, n)] },
  secrets: { columns: [NAME, col("Type"), col("Data", "integer"), AGE], cells: (o, n) => [meta(o).name!, String(o["type"] ?? "Opaque"), count(o["data"]), age(o, n)] },
  namespaces: { columns: [NAME, col("Status"), AGE], cells: (o, n) => [meta(o).name!, String((o["status"] as { phase?: string })?.phase ?? "Active"), age(o, n)] },
  pods: {
    columns: [NAME, col("Ready"), col("Status"), col("Restarts"), AGE, col("IP", "string", 1), col("Node", "string", 1)],
    cells: (o, n) => {
      const st = (o["status"] ?? {}) as PodStatus;
      const cs = st.containerStatuses ?? [];
      const total = ((o["spec"] as { containers?: unknown[] })?.containers ?? []).length;
      const status = meta(o).deletionTimestamp ? "Terminating" : (st.phase ?? "Pending");
      return [meta(o).name!, `${cs.filter((c) => c.ready).length}/${total}`, status, cs.reduce((a, c) => a + (c.restartCount ?? 0), 0), age(o, n), st.podIP ?? "<none>", String((o["spec"] as { nodeName?: string })?.nodeName ?? "<none>")];
    },
  },
  services: {
    columns: [NAME, col("Type"), col("Cluster-IP"), col("External-IP"), col("Port(s)"), AGE],
    cells: (o, n) => {
      const spec = (o["spec"] ?? {}) as { type?: string; clusterIP?: string; ports?: Array<{ port: number; protocol?: string }> };
      const ports = (spec.ports ?? []).map((p) => `${p.port}/${p.protocol ?? "TCP"}`).join(",") || "<none>";
      return [meta(o).name!, spec.type ?? "ClusterIP", spec.clusterIP ?? "<none>", "<none>", ports, age(o, n)];
    },
  },
  events: {
    columns: [col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Message")],
    cells: (o, n) => {
      const inv = (o["involvedObject"] ?? {}) as { kind?: string; name?: string };
      const last = (o["lastTimestamp"] ?? o["eventTime"] ?? meta(o).creationTimestamp) as string | undefined;
      return [last ? humanDuration(n - Date.parse(last)) : "<unknown>", String(o["type"] ?? "Normal"), String(o["reason"] ?? ""), `${(inv.kind ?? "").toLowerCase()}/${inv.name ?? ""}`, String(o["message"] ?? "")];
    },
  },
  serviceaccounts: { columns: [NAME, col("Secrets", "integer"), AGE], cells: (o, n) => [meta(o).name!, ((o["secrets"] as unknown[]) ?? []).length, age(o, n)] },
  deployments: {
    columns: [NAME, col("Ready"), col("Up-to-date", "integer"), col("Available", "integer"), AGE],
    cells: (o, n) => {
      const st = (o["status"] ?? {}) as { readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
      const want = (o["spec"] as { replicas?: number })?.replicas ?? 1;
      return [meta(o).name!, `${st.readyReplicas ?? 0}/${want}`, st.updatedReplicas ?? 0, st.availableReplicas ?? 0, age(o, n)];
    },
  },
  roles: { columns: [NAME, col("Created At", "date")], cells: (o) => [meta(o).name!, meta(o).creationTimestamp ?? ""] },
  clusterroles: { columns: [NAME, col("Created At", "date")], cells: (o) => [meta(o).name!, meta(o).creationTimestamp ?? ""] },
  rolebindings: { columns: [NAME, col("Role"), AGE], cells: (o, n) => [meta(o).name!, `${(o["roleRef"] as { kind?: string })?.kind}/${(o["roleRef"] as { name?: string })?.name}`, age(o, n)] },
  clusterrolebindings: { columns: [NAME, col("Role"), AGE], cells: (o, n) => [meta(o).name!, `${(o["roleRef"] as { kind?: string })?.kind}/${(o["roleRef"] as { name?: string })?.name}`, age(o, n)] },
};

const DEFAULT_PRINTER: Printer = { columns: [NAME, AGE], cells: (o, n) => [meta(o).name!, age(o, n)] };

/** Whether the Accept header asks for a Table (`as=Table;g=meta.k8s.io`), and which version. */
export function wantsTable(accept: string | undefined): "v1" | "v1beta1" | undefined {
  for (const clause of (accept ?? "").split(",")) {
    const params = clause.split(";").map((s) => s.trim());
    if (params.includes("as=Table") && params.includes("g=meta.k8s.io")) return params.includes("v=v1beta1") ? "v1beta1" : "v1";
  }
  return undefined;
}

/** Content-Type of a Table response. */
export function tableContentType(version: "v1" | "v1beta1"): string {
  return `application/json;as=Table;v=${version};g=meta.k8s.io`;
}

function rowObject(t: ResourceType, o: KubeObject, include: string): KubeObject | undefined {
  if (include === "None") return undefined;
  if (include === "Object") return { apiVersion: o["apiVersion"], kind: o["kind"], ...o };
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

/** Converts objects to a Table; `includeObject` is None, Metadata (default) or Object. */
export function toTable(t: ResourceType, objects: KubeObject[], opts: { version: "v1" | "v1beta1"; includeObject?: string | null; listMeta?: Record<string, unknown>; now?: number }) {
  const printer = PRINTERS[t.resource] ?? DEFAULT_PRINTER;
  const now = opts.now ?? Date.now();
  const include = opts.includeObject ?? "Metadata";
  return {
    kind: "Table",
    apiVersion: `meta.k8s.io/${opts.version}`,
    metadata: opts.listMeta ?? {},
    columnDefinitions: printer.columns,
    rows: objects.map((o) => {
      const row: Record<string, unknown> = { cells: printer.cells(o, now) };
      const obj = rowObject(t, o, include);
      if (obj) row["object"] = obj;
      return row;
    }),
  };
}
