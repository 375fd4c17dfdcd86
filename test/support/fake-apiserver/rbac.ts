/**
 * RBAC authorization over the Role/ClusterRole/RoleBinding/ClusterRoleBinding
 * objects in the store, with kube-apiserver's matching rules. system:masters is
 * allowed everything (the real server short-circuits it too), and every
 * authenticated user may use discovery and self reviews (system:basic-user, system:discovery).
 */
import type { UserInfo } from "./identity.ts";
import { type KubeObject } from "./object.ts";
import type { PolicyRule } from "./rbac-defaults.ts";
import { findByResource } from "./resources.ts";
import type { Store } from "./store.ts";

/** What is being asked, in kube-apiserver's authorizer.Attributes terms. */
export interface AuthzAttributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
}

/** A decision over attributes. */
export type Authorizer = (a: AuthzAttributes) => boolean;

const PUBLIC_NON_RESOURCE = [/^\/api(\/.*)?$/, /^\/apis(\/.*)?$/, /^\/version\/?$/, /^\/openapi(\/.*)?$/, /^\/healthz/, /^\/livez/, /^\/readyz/];

type Subject = { kind?: string; name?: string; namespace?: string };
type Binding = KubeObject & { subjects?: Subject[]; roleRef?: { kind?: string; name?: string } };

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  if (s.kind === "User") return s.name === user.name;
  if (s.kind === "Group") return s.name !== undefined && user.groups.includes(s.name);
  if (s.kind === "ServiceAccount") return user.name === `system:serviceaccount:${s.namespace ?? bindingNamespace}:${s.name}`;
  return false;
}

function has(list: string[] | undefined, value: string): boolean {
  return !!list && (list.includes("*") || list.includes(value));
}

/** kube-apiserver's rule matching, including `*\/subresource` and resourceNames. */
export function ruleAllows(rule: PolicyRule, a: Omit<AuthzAttributes, "user">): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) {
    return (rule.nonResourceURLs ?? []).some((u) => u === "*" || u === a.path || (u.endsWith("*") && a.path.startsWith(u.slice(0, -1))));
  }
  if (!has(rule.apiGroups, a.apiGroup)) return false;
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resOk = (rule.resources ?? []).some((r) => r === "*" || r === combined || (a.subresource !== "" && r === `*/${a.subresource}`));
  if (!resOk) return false;
  return !rule.resourceNames || rule.resourceNames.length === 0 || rule.resourceNames.includes(a.name);
}

/** Every rule that applies to the user in the namespace (cluster-wide rules when namespace is ""). */
export function rulesFor(store: Store, user: UserInfo, namespace: string): PolicyRule[] {
  const t = (r: string) => findByResource("rbac.authorization.k8s.io", "v1", r)!;
  const clusterRoleRules = (name: string) => ((store.get(t("clusterroles"), undefined, name)?.["rules"] ?? []) as PolicyRule[]);
  const rules: PolicyRule[] = [];
  for (const b of store.list(t("clusterrolebindings")) as Binding[]) {
    if (b.roleRef?.kind === "ClusterRole" && (b.subjects ?? []).some((s) => subjectMatches(s, user, undefined))) rules.push(...clusterRoleRules(b.roleRef.name ?? ""));
  }
  if (namespace) {
    for (const b of store.list(t("rolebindings"), namespace) as Binding[]) {
      if (!(b.subjects ?? []).some((s) => subjectMatches(s, user, namespace))) continue;
      if (b.roleRef?.kind === "ClusterRole") rules.push(...clusterRoleRules(b.roleRef.name ?? ""));
      else if (b.roleRef?.kind === "Role") rules.push(...((store.get(t("roles"), namespace, b.roleRef.name ?? "")?.["rules"] ?? []) as PolicyRule[]));
    }
  }
  return rules;
}

/** Creates the RBAC authorizer over a store. */
export function createRbacAuthorizer(store: Store): Authorizer {
  return (a) => {
    if (a.user.groups.includes("system:masters")) return true;
    if (a.user.groups.includes("system:authenticated")) {
      if (!a.resourceRequest && a.verb === "get" && PUBLIC_NON_RESOURCE.some((re) => re.test(a.path))) return true;
      if (a.resourceRequest && a.apiGroup === "authorization.k8s.io" && a.verb === "create" && /^selfsubject(access|rules)reviews$/.test(a.resource)) return true;
      // system:basic-user: anyone may ask who they are (kubectl auth whoami).
      if (a.resourceRequest && a.apiGroup === "authentication.k8s.io" && a.verb === "create" && a.resource === "selfsubjectreviews") return true;
    }
    return rulesFor(store, a.user, a.resourceRequest ? a.namespace : "").some((r) => ruleAllows(r, a));
  };
}
