/**
 * The RBAC bindings a member cluster should hold for kubegate's grants (issue #6): a
 * ClusterRoleBinding for a cluster-wide grant, a RoleBinding in each namespace of a
 * namespaced one, both to the Kubernetes default ClusterRole named after the grant's role.
 * The subject is the identity exactly as the data plane impersonates it (headers.ts puts
 * the prefix on users and groups alike), so the member's RBAC sees the same name the
 * binding names. Pure: the caller supplies the grants, the prefix and the clock.
 */
import { createHash } from "node:crypto";
import type { GrantState, RoleName } from "../store/types.ts";
import { isLiveGrantState } from "../grant-state.ts";

export const RBAC_GROUP = "rbac.authorization.k8s.io";
export const RBAC_API_VERSION = `${RBAC_GROUP}/v1`;

/** Labels every kubegate-managed binding carries; the reconciler lists by the first two. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "kubegate";
export const CLUSTER_LABEL = "kubegate.dev/cluster";
export const GRANT_LABEL = "kubegate.dev/grant";


/** What the desired bindings depend on; the data plane's GrantView has these fields. */
export interface GrantForRbac {
  id: string;
  cluster: string;
  role: RoleName;
  namespaces: string[];
  state: GrantState;
  expiresAt: Date | null;
  subject?: { kind: "user" | "group"; name: string };
}

export interface RbacSubject {
  kind: "User" | "Group";
  apiGroup: typeof RBAC_GROUP;
  name: string;
}

export interface RoleRef {
  apiGroup: typeof RBAC_GROUP;
  kind: "ClusterRole";
  name: string;
}

export type BindingKind = "ClusterRoleBinding" | "RoleBinding";

/** A binding as kubegate writes it. */
export interface Binding {
  apiVersion: typeof RBAC_API_VERSION;
  kind: BindingKind;
  metadata: { name: string; namespace?: string; labels: Record<string, string> };
  roleRef: RoleRef;
  subjects: RbacSubject[];
}

/** Expiry is exclusive, as in authorize.ts: at expiresAt the grant is over. */
export function isLiveGrant(grant: GrantForRbac, now: Date): boolean {
  return isLiveGrantState(grant.state) && (grant.expiresAt === null || now.getTime() < grant.expiresAt.getTime());
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME_PREFIX = "kubegate-";

/**
 * `kubegate-<grant id>`: grant ids (`gr-<hex>`) are DNS labels already, so the name says
 * which grant it serves. An id that is not (never minted by kubegate today) is hashed, so
 * the name is still a valid DNS label and still one per grant.
 */
export function bindingName(grantId: string): string {
  const name = NAME_PREFIX + grantId;
  if (name.length <= 63 && DNS_LABEL.test(name)) return name;
  return NAME_PREFIX + createHash("sha256").update(grantId).digest("hex").slice(0, 40);
}

/** A label value must be ≤ 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends. */
function labelValue(value: string): string {
  return /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(value) ? value : createHash("sha256").update(value).digest("hex").slice(0, 40);
}

/** The selector that finds every binding kubegate manages for `cluster`. */
export function managedSelector(cluster: string): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY},${CLUSTER_LABEL}=${labelValue(cluster)}`;
}

/** The identity the member sees, as identityHeaders sends it (in either mode). */
export function bindingSubject(subject: { kind: "user" | "group"; name: string }, prefix: string): RbacSubject {
  return { kind: subject.kind === "group" ? "Group" : "User", apiGroup: RBAC_GROUP, name: prefix + subject.name };
}

/** "ClusterRoleBinding kubegate-gr-1" or "RoleBinding kubegate-gr-1 in namespace team-a". */
export function describeBinding(b: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return b.metadata.namespace === undefined ? `${b.kind} ${b.metadata.name}` : `${b.kind} ${b.metadata.name} in namespace ${b.metadata.namespace}`;
}

/** Identifies a binding across kinds and namespaces. */
export function bindingKey(b: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${b.kind}/${b.metadata.namespace ?? ""}/${b.metadata.name}`;
}

/** The bindings one grant needs (none when it is not live or has no subject). */
export function grantBindings(grant: GrantForRbac, prefix: string, now: Date): Binding[] {
  if (grant.subject === undefined || grant.subject.name === "" || !isLiveGrant(grant, now)) return [];
  const name = bindingName(grant.id);
  const labels = { [MANAGED_BY_LABEL]: MANAGED_BY, [CLUSTER_LABEL]: labelValue(grant.cluster), [GRANT_LABEL]: labelValue(grant.id) };
  const roleRef: RoleRef = { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: grant.role };
  const subjects = [bindingSubject(grant.subject, prefix)];
  if (grant.namespaces.length === 0)
    return [{ apiVersion: RBAC_API_VERSION, kind: "ClusterRoleBinding", metadata: { name, labels }, roleRef, subjects }];
  return [...new Set(grant.namespaces)].map((namespace) => ({
    apiVersion: RBAC_API_VERSION,
    kind: "RoleBinding" as const,
    metadata: { name, namespace, labels: { ...labels } },
    roleRef,
    subjects,
  }));
}

/** Every binding `cluster` should hold, per grant id (live grants of that cluster only). */
export function desiredBindings(grants: Iterable<GrantForRbac>, cluster: string, prefix: string, now: Date): Map<string, Binding[]> {
  const out = new Map<string, Binding[]>();
  for (const grant of grants) {
    if (grant.cluster !== cluster) continue;
    const bindings = grantBindings(grant, prefix, now);
    if (bindings.length > 0) out.set(grant.id, bindings);
  }
  return out;
}
