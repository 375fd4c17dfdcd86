/**
 * RBAC escalation prevention on RoleBindings and ClusterRoleBindings, as kube-apiserver's
 * policy-based RBAC storage does it on create and update: system:masters may write any
 * binding; anyone else needs the `bind` verb on the referenced role (checked in the
 * binding's namespace, or cluster-wide for a ClusterRoleBinding), or must already hold
 * every permission that role grants there (the rule coverage of pkg/registry/rbac/validation).
 * So a test proves that a documented role really lets its holder write bindings.
 */
import type { UserInfo } from "./identity.ts";
import { type KubeObject, meta } from "./object.ts";
import type { PolicyRule } from "./rbac-defaults.ts";
import { type Authorizer, rulesFor } from "./rbac.ts";
import { findByResource, type ResourceType } from "./resources.ts";
import { apiError, notFound, qualifiedResource } from "./status.ts";
import type { Store } from "./store.ts";

const RBAC = "rbac.authorization.k8s.io";
const MASTERS = "system:masters";

const has = (set: string[] | undefined, v: string) => (set ?? []).includes(v);
const hasAll = (set: string[] | undefined, vs: string[] | undefined) => (vs ?? []).every((v) => has(set, v));

/** One rule per (group, resource, verb, name) and per (URL, verb), as BreakdownRule splits them. */
function breakdown(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const group of rule.apiGroups ?? [])
    for (const resource of rule.resources ?? [])
      for (const verb of rule.verbs) {
        if ((rule.resourceNames ?? []).length === 0) out.push({ apiGroups: [group], resources: [resource], verbs: [verb] });
        else for (const name of rule.resourceNames!) out.push({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [name] });
      }
  for (const url of rule.nonResourceURLs ?? []) for (const verb of rule.verbs) out.push({ nonResourceURLs: [url], verbs: [verb] });
  return out;
}

function resourcesCover(owner: string[] | undefined, sub: string[] | undefined): boolean {
  if (has(owner, "*") || hasAll(owner, sub)) return true;
  return (sub ?? []).every((r) => has(owner, r) || (r.includes("/") && has(owner, `*/${r.split("/").slice(1).join("/")}`)));
}

function urlsCover(owner: string[] | undefined, sub: string[] | undefined): boolean {
  return (sub ?? []).every((s) => (owner ?? []).some((o) => o === s || (o.endsWith("*") && s.startsWith(o.replace(/\*+$/, "")))));
}

/** ruleCovers from kube's rbac validation: does the owner rule allow everything in the sub rule? */
function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const verbs = has(owner.verbs, "*") || hasAll(owner.verbs, sub.verbs);
  const groups = has(owner.apiGroups, "*") || hasAll(owner.apiGroups, sub.apiGroups);
  const names = (sub.resourceNames ?? []).length === 0 ? (owner.resourceNames ?? []).length === 0 : (owner.resourceNames ?? []).length === 0 || hasAll(owner.resourceNames, sub.resourceNames);
  return verbs && groups && resourcesCover(owner.resources, sub.resources) && names && urlsCover(owner.nonResourceURLs, sub.nonResourceURLs);
}

function describeRule(r: PolicyRule): string {
  const list = (k: string, v: string[] | undefined) => ((v ?? []).length === 0 ? "" : `${k}:[${v!.map((x) => JSON.stringify(x)).join(", ")}]`);
  return `{${[list("APIGroups", r.apiGroups), list("Resources", r.resources), list("ResourceNames", r.resourceNames), list("NonResourceURLs", r.nonResourceURLs), list("Verbs", r.verbs)].filter(Boolean).join(", ")}}`;
}

/** Throws 403 (or 404 for a missing role) unless `user` may write `binding`. */
export function checkBindingEscalation(store: Store, authorize: Authorizer, user: UserInfo, t: ResourceType, binding: KubeObject): void {
  if (t.group !== RBAC || (t.resource !== "rolebindings" && t.resource !== "clusterrolebindings")) return;
  if (user.groups.includes(MASTERS)) return;
  const namespace = t.namespaced ? (meta(binding).namespace ?? "") : "";
  const ref = (binding["roleRef"] ?? {}) as { kind?: string; name?: string };
  const roleResource = ref.kind === "Role" ? "roles" : "clusterroles";
  const name = ref.name ?? "";
  const bind = authorize({ user, verb: "bind", resourceRequest: true, apiGroup: RBAC, resource: roleResource, subresource: "", namespace, name, path: "" });
  if (bind) return;
  const role = store.get(findByResource(RBAC, "v1", roleResource)!, ref.kind === "Role" ? namespace : undefined, name);
  if (role === undefined) throw notFound(RBAC, roleResource, name);
  const held = rulesFor(store, user, namespace);
  const missing = ((role["rules"] ?? []) as PolicyRule[]).flatMap(breakdown).filter((sub) => !held.some((owner) => ruleCovers(owner, sub)));
  if (missing.length === 0) return;
  const groups = user.groups.map((g) => JSON.stringify(g)).join(" ");
  throw apiError(
    403,
    "Forbidden",
    `${qualifiedResource(t.group, t.resource)} "${meta(binding).name ?? ""}" is forbidden: user "${user.name}" (groups=[${groups}]) is attempting to grant RBAC permissions not currently held:\n${missing.map(describeRule).join("\n")}`,
    { name: meta(binding).name, group: t.group, kind: t.resource },
  );
}
