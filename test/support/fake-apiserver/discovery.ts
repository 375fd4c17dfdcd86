/**
 * Discovery documents: classic (/api, /apis, /api/v1, /apis/<g>/<v>) and the
 * aggregated format (apidiscovery.k8s.io v2 and v2beta1) that kubectl 1.26+
 * asks for on /api and /apis, chosen by the Accept header as the real server does.
 */
import { type ResourceType, RESOURCE_TYPES, apiGroups, groupVersion } from "./resources.ts";

/** The /version document. */
export interface VersionInfo {
  major: string;
  minor: string;
  gitVersion: string;
}

/** The Kubernetes version the fake claims by default. */
export const DEFAULT_VERSION: VersionInfo = { major: "1", minor: "32", gitVersion: "v1.32.0-fake" };

/** The /version body. */
export function versionDocument(v: VersionInfo): Record<string, unknown> {
  return {
    ...v,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2025-01-01T00:00:00Z",
    goVersion: "go1.23.0",
    compiler: "gc",
    platform: "linux/amd64",
  };
}

function typesIn(group: string): ResourceType[] {
  return RESOURCE_TYPES.filter((t) => t.group === group);
}

function groupVersionEntry(group: string) {
  const gv = { groupVersion: `${group}/v1`, version: "v1" };
  return { name: group, versions: [gv], preferredVersion: gv };
}

/** GET /api */
export function coreVersions(serverAddress: string) {
  return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }] };
}

/** GET /apis */
export function groupList() {
  return { kind: "APIGroupList", apiVersion: "v1", groups: apiGroups().map(groupVersionEntry) };
}

/** GET /apis/<group>, or undefined when the group is not served. */
export function group(name: string) {
  return apiGroups().includes(name) ? { kind: "APIGroup", apiVersion: "v1", ...groupVersionEntry(name) } : undefined;
}

/** GET /api/v1 or /apis/<group>/v1, or undefined when not served. */
export function resourceList(group: string, version: string) {
  const types = typesIn(group).filter((t) => t.version === version);
  if (types.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const t of types) {
    const entry: Record<string, unknown> = { name: t.resource, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: t.verbs };
    if (t.shortNames.length) entry["shortNames"] = t.shortNames;
    if (t.categories.length) entry["categories"] = t.categories;
    resources.push(entry);
    for (const s of t.subresources) resources.push({ name: `${t.resource}/${s.name}`, singularName: "", namespaced: t.namespaced, kind: s.kind, verbs: s.verbs });
  }
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion: groupVersion({ group, version }), resources };
}

function aggregatedResource(t: ResourceType) {
  const r: Record<string, unknown> = {
    resource: t.resource,
    responseKind: { group: t.group, version: t.version, kind: t.kind },
    scope: t.namespaced ? "Namespaced" : "Cluster",
    singularResource: t.singular,
    verbs: t.verbs,
  };
  if (t.shortNames.length) r["shortNames"] = t.shortNames;
  if (t.categories.length) r["categories"] = t.categories;
  if (t.subresources.length) {
    r["subresources"] = t.subresources.map((s) => ({ subresource: s.name, responseKind: { group: s.kind === t.kind ? t.group : "", version: "v1", kind: s.kind }, verbs: s.verbs }));
  }
  return r;
}

function aggregatedGroup(group: string) {
  const metadata: Record<string, unknown> = group === "" ? { creationTimestamp: null } : { name: group, creationTimestamp: null };
  return { metadata, versions: [{ version: "v1", resources: typesIn(group).map(aggregatedResource), freshness: "Current" }] };
}

/** An aggregated-discovery media type the client accepts, or undefined for classic discovery. */
export function negotiateAggregated(accept: string | undefined): { version: "v2" | "v2beta1"; contentType: string } | undefined {
  for (const clause of (accept ?? "").split(",")) {
    const [type, ...params] = clause.split(";").map((s) => s.trim());
    if (type !== "application/json") continue;
    const p = Object.fromEntries(params.map((kv) => kv.split("=").map((s) => s.trim()) as [string, string]));
    if (p["g"] === "apidiscovery.k8s.io" && p["as"] === "APIGroupDiscoveryList" && (p["v"] === "v2" || p["v"] === "v2beta1")) {
      return { version: p["v"], contentType: `application/json;g=apidiscovery.k8s.io;v=${p["v"]};as=APIGroupDiscoveryList` };
    }
  }
  return undefined;
}

/** The aggregated document for /api (core) or /apis (named groups). */
export function aggregatedDiscovery(prefix: "api" | "apis", version: "v2" | "v2beta1") {
  const groups = prefix === "api" ? [""] : apiGroups();
  return { kind: "APIGroupDiscoveryList", apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items: groups.map(aggregatedGroup) };
}
