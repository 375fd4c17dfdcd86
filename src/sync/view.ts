/**
 * The data plane's in-memory view of clusters, signing keys, grants and revocations, fed
 * only by the sync stream. Reading it is the whole per-request "database".
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ClusterMode, ClusterPhase, IdentityMode } from "../../gen/kubegate/v1/cluster_pb.ts";
import { Role, SubjectKind, type Grant } from "../../gen/kubegate/v1/grant_pb.ts";
import type { ClusterRoute as RouteMsg, WatchStateResponse } from "../../gen/kubegate/v1/sync_pb.ts";
import type { ClusterCredentialSecret, ClusterPhase as PhaseName, GrantState as StateName, RoleName } from "../store/types.ts";
import type { MemberRoute } from "../forward/upstream.ts";
import type { VerifierKey } from "../token/verifier.ts";
import { grantStateFromProto } from "../grant-state.ts";

/** What the data plane knows of a grant from its synced view. */
export interface GrantView {
  id: string;
  cluster: string;
  role: RoleName;
  namespaces: string[];
  state: StateName;
  stateMessage: string;
  expiresAt: Date | null;
  /** Whom the grant is for; the RBAC reconciler binds it (authorization goes by token claims). */
  subject?: { kind: "user" | "group"; name: string };
}

export interface ClusterRouteView extends MemberRoute {
  phase: PhaseName;
  /** Agent mode: SHA-256 (hex) of the enrolled agent's credential; "" before enrollment. */
  agentCredentialHash: string;
  /** Kubegate keeps RBAC bindings in the member in step with the grants. */
  manageRbac: boolean;
}

/** What a sync message changed that live streams may depend on. */
export interface ViewChange {
  snapshot: boolean;
  clusters: string[];
  grants: string[];
  tokens: string[];
  subjects: string[];
  /** The set of data planes in the agent mesh changed. */
  dataPlanes: boolean;
}

const ROLE: Record<number, RoleName> = { [Role.VIEW]: "view", [Role.EDIT]: "edit", [Role.ADMIN]: "admin", [Role.CLUSTER_ADMIN]: "cluster-admin" };
const PHASE: Record<number, PhaseName> = { [ClusterPhase.READY]: "READY", [ClusterPhase.OFFLINE]: "OFFLINE" };

function routeFromProto(r: RouteMsg): ClusterRouteView {
  const c = r.credential?.kind;
  const credential: ClusterCredentialSecret | null =
    c?.case === "bearerToken"
      ? { kind: "bearer", token: c.value }
      : c?.case === "clientCertificate" || c?.case === "frontProxyCertificate"
        ? { kind: c.case === "clientCertificate" ? "client-certificate" : "front-proxy", certPem: c.value.certPem, keyPem: c.value.keyPem }
        : null;
  const route = {
    name: r.name,
    identityMode: r.identityMode === IdentityMode.FRONT_PROXY ? ("front-proxy" as const) : ("impersonate" as const),
    mode: r.mode === ClusterMode.AGENT ? ("agent" as const) : ("direct" as const),
    serverUrl: r.serverUrl,
    caPem: r.caPem,
    credential,
    phase: PHASE[r.phase] ?? "UNKNOWN",
    agentCredentialHash: r.agentCredentialHash,
    manageRbac: r.manageRbac,
  };
  return { ...route, version: JSON.stringify([route.mode, route.identityMode, route.serverUrl, route.caPem, credential, route.agentCredentialHash]) };
}

function grantFromProto(g: Grant): GrantView {
  return {
    id: g.id,
    cluster: g.cluster,
    role: ROLE[g.role] ?? "view",
    namespaces: g.namespaces,
    state: grantStateFromProto(g.state) ?? "REVOKED",
    stateMessage: g.stateMessage,
    expiresAt: g.expireTime === undefined ? null : new Date(timestampMs(g.expireTime)),
    subject: { kind: g.subject?.kind === SubjectKind.GROUP ? "group" : "user", name: g.subject?.name ?? "" },
  };
}

export const subjectKey = (kind: "user" | "group", name: string) => `${kind}:${name}`;

/** The index key for one subject's grants on one cluster (NUL: in neither a name nor a subject). */
export const grantHolderKey = (cluster: string, subject: string) => `${cluster}\0${subject}`;

function holderOf(g: GrantView): string {
  return grantHolderKey(g.cluster, subjectKey(g.subject?.kind ?? "user", g.subject?.name ?? ""));
}

function putGrant(view: View, g: GrantView): void {
  removeGrant(view, g.id);
  view.grants.set(g.id, g);
  const key = holderOf(g);
  const ids = view.grantsByHolder.get(key);
  if (ids === undefined) view.grantsByHolder.set(key, new Set([g.id]));
  else ids.add(g.id);
}

function removeGrant(view: View, id: string): void {
  const old = view.grants.get(id);
  if (old === undefined) return;
  view.grants.delete(id);
  const key = holderOf(old);
  const ids = view.grantsByHolder.get(key);
  ids?.delete(id);
  if (ids?.size === 0) view.grantsByHolder.delete(key);
}

export interface View {
  revision: number;
  issuer: string;
  /** When the last message (change or heartbeat) arrived; 0 before the first. */
  lastHeardAt: number;
  clusters: Map<string, ClusterRouteView>;
  grants: Map<string, GrantView>;
  /** grantHolderKey(cluster, subject) → ids of that subject's grants on that cluster. */
  grantsByHolder: Map<string, Set<string>>;
  /** jti → expiry (ms). */
  revokedTokens: Map<string, number>;
  /** "user:alice" | "group:dev" → revoked at (ms). */
  revokedSubjects: Map<string, number>;
  keys: Map<string, VerifierKey>;
  /** The agent mesh's data-plane ids, sorted; undefined while the control plane has sent none. */
  dataPlanes: string[] | undefined;
}

export function createView(): View {
  return {
    revision: 0,
    issuer: "",
    lastHeardAt: 0,
    clusters: new Map(),
    grants: new Map(),
    grantsByHolder: new Map(),
    revokedTokens: new Map(),
    revokedSubjects: new Map(),
    keys: new Map(),
    dataPlanes: undefined,
  };
}

/** Applies one sync message (snapshot or delta) and says what it changed. */
export function applySync(view: View, msg: WatchStateResponse, now: number): ViewChange {
  const change: ViewChange = { snapshot: msg.snapshot, clusters: [], grants: [], tokens: [], subjects: [], dataPlanes: false };
  if (msg.snapshot) {
    change.clusters.push(...view.clusters.keys());
    change.grants.push(...view.grants.keys());
    view.clusters.clear();
    view.grants.clear();
    view.grantsByHolder.clear();
    view.revokedTokens.clear();
    view.revokedSubjects.clear();
    view.keys.clear();
  }
  for (const r of msg.clusters) {
    view.clusters.set(r.name, routeFromProto(r));
    change.clusters.push(r.name);
  }
  for (const name of msg.removedClusters) {
    view.clusters.delete(name);
    change.clusters.push(name);
  }
  for (const k of msg.signingKeys) view.keys.set(k.kid, { kid: k.kid, x: k.x });
  for (const kid of msg.removedKeyIds) view.keys.delete(kid);
  for (const g of msg.grants) {
    putGrant(view, grantFromProto(g));
    change.grants.push(g.id);
  }
  for (const id of msg.removedGrants) {
    removeGrant(view, id);
    change.grants.push(id);
  }
  for (const t of msg.tokenRevocations) {
    view.revokedTokens.set(t.tokenId, t.expireTime === undefined ? Number.MAX_SAFE_INTEGER : timestampMs(t.expireTime));
    change.tokens.push(t.tokenId);
  }
  for (const s of msg.subjectRevocations) {
    if (s.subject === undefined || s.revokeTime === undefined) continue;
    const key = subjectKey(s.subject.kind === SubjectKind.GROUP ? "group" : "user", s.subject.name);
    view.revokedSubjects.set(key, timestampMs(s.revokeTime));
    change.subjects.push(key);
  }
  if (msg.dataPlanes !== undefined) {
    const ids = [...msg.dataPlanes.ids].sort();
    change.dataPlanes = view.dataPlanes === undefined || ids.join(",") !== view.dataPlanes.join(",");
    view.dataPlanes = ids;
  }
  // Forget revocations of tokens that can no longer verify anyway.
  for (const [jti, exp] of view.revokedTokens) if (exp < now - 60_000) view.revokedTokens.delete(jti);
  view.revision = Number(msg.revision);
  if (msg.issuer !== "") view.issuer = msg.issuer;
  view.lastHeardAt = now;
  return change;
}
