/**
 * The second fence (DESIGN, data path rule 3): before a request reaches the member, where
 * its own RBAC is the first fence, the gateway checks it against the grants the token was
 * minted under — their state and expiry, their namespace scope, and what their role may
 * do. It exists so that a mistake in the member's RBAC (a stale binding, an over-broad
 * aggregated role) never widens a grant. Pure: the caller supplies the grants and the clock.
 */
import type { GrantView } from "../sync/view.ts";
import type { RequestInfo } from "./request-info.ts";

export type Decision =
  | { allowed: true; grant: GrantView }
  | {
      allowed: false;
      /** for the client: short, names the grant(s) and why */
      message: string;
      /** for the audit log: detailed */
      reason: string;
    };

const READ_VERBS = new Set(["get", "list", "watch"]);
/** Every verb the request parser yields for a resource request; anything else is a method Kubernetes does not serve. */
const KNOWN_VERBS = new Set(["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy"]);
/** Non-resource paths (discovery, /version, /openapi, /healthz) are open to reads only. */
const NON_RESOURCE_READ_VERBS = new Set(["get", "head"]);

/** `kubectl auth can-i` and `kubectl auth whoami`: they only describe the caller to itself. */
const SELF_REVIEWS = new Set([
  "authorization.k8s.io/selfsubjectaccessreviews",
  "authorization.k8s.io/selfsubjectrulesreviews",
  "authentication.k8s.io/selfsubjectreviews",
]);

/**
 * Subresources that reach into a workload or a node (a shell, a socket, an HTTP proxy,
 * a token) rather than describe it. Kubernetes' view role has none of them; for
 * cluster-scoped resources (nodes/proxy) they are cluster-admin only, since even a GET on
 * nodes/proxy can run commands through the kubelet.
 */
const REACH_IN_SUBRESOURCES = new Set(["exec", "attach", "portforward", "proxy"]);

/**
 * Matched by resource name in every API group: a look-alike in another group errs closed.
 * view may not read secrets; edit may not write RBAC (as Kubernetes' own roles).
 */
const SECRET_RESOURCES = new Set(["secrets"]);
const RBAC_NAMESPACED_RESOURCES = new Set(["roles", "rolebindings"]);

/** Expiry is exclusive, like a token's `exp`: at expiresAt the grant is over. */
function isExpired(grant: GrantView, now: Date): boolean {
  return grant.expiresAt !== null && now.getTime() >= grant.expiresAt.getTime();
}

function isUsable(grant: GrantView, now: Date): boolean {
  return grant.state === "APPLIED" && !isExpired(grant, now);
}

function isSelfReview(info: RequestInfo): boolean {
  return (
    info.isResourceRequest &&
    info.verb === "create" &&
    info.namespace === "" &&
    info.name === "" &&
    info.subresource === "" &&
    SELF_REVIEWS.has(`${info.apiGroup}/${info.resource}`)
  );
}

/** "create on configmaps", "get on pods/exec", "post on /version": what the request does, for messages. */
function describe(info: RequestInfo): string {
  if (!info.isResourceRequest) return `${info.verb} on ${info.path}`;
  const resource = info.subresource === "" ? info.resource : `${info.resource}/${info.subresource}`;
  const group = info.apiGroup === "" ? "" : `.${info.apiGroup}`;
  return `${info.verb || "this method"} on ${resource || "(no resource)"}${group}`;
}

const label = (grant: GrantView) => `grant ${grant.id} (${grant.role})`;

/**
 * Whether the grant's namespace list admits the request; null if so, else why not.
 * The `namespaces` resource is cluster-scoped even though the parser fills `namespace`
 * with its name: a namespaced grant may read the namespaces it lists, never change them.
 */
function checkScope(info: RequestInfo, grant: GrantView): string | null {
  if (grant.namespaces.length === 0) return null;
  const only = `grant ${grant.id} allows namespaces ${grant.namespaces.join(", ")} only`;
  if (info.resource === "namespaces") {
    if (info.name === "") return `${only}; this request is cluster-wide`;
    if (!grant.namespaces.includes(info.name)) return `${only}; this request is for namespace ${info.name}`;
    if (!READ_VERBS.has(info.verb))
      return `grant ${grant.id} may read namespace ${info.name} but not change it: it does not allow ${describe(info)}`;
    return null;
  }
  if (info.namespace === "") return `${only}; this request is cluster-wide`;
  if (!grant.namespaces.includes(info.namespace)) return `${only}; this request is in namespace ${info.namespace}`;
  return null;
}

/** Whether the grant's role admits the request (scope already checked); null if so, else why not. */
function checkRole(info: RequestInfo, grant: GrantView): string | null {
  if (grant.role === "cluster-admin") return null;
  const what = describe(info);

  if (grant.role === "view") {
    if (!READ_VERBS.has(info.verb)) return `${label(grant)} is read-only: it does not allow ${what}`;
    if (SECRET_RESOURCES.has(info.resource)) return `${label(grant)} does not allow reading secrets`;
    if (REACH_IN_SUBRESOURCES.has(info.subresource) || (info.resource === "serviceaccounts" && info.subresource === "token"))
      return `${label(grant)} does not allow ${what}`;
    return null;
  }

  // edit and admin
  if (!KNOWN_VERBS.has(info.verb)) return `${label(grant)} does not allow ${what}`;
  const clusterScoped = info.namespace === "" || info.resource === "namespaces";
  if (clusterScoped) {
    if (REACH_IN_SUBRESOURCES.has(info.subresource))
      return `${label(grant)} does not allow ${what}: on cluster-scoped resources that needs cluster-admin`;
    if (!READ_VERBS.has(info.verb))
      return `${label(grant)} may only read cluster-scoped resources: ${what} needs cluster-admin`;
    return null;
  }
  if (grant.role === "edit" && !READ_VERBS.has(info.verb) && RBAC_NAMESPACED_RESOURCES.has(info.resource))
    return `${label(grant)} does not allow ${what}: changing RBAC needs admin`;
  return null;
}

/** Why one usable grant does not allow the request, or null if it does. */
function denial(info: RequestInfo, grant: GrantView): string | null {
  if (!info.isResourceRequest) {
    if (grant.role === "cluster-admin" || NON_RESOURCE_READ_VERBS.has(info.verb)) return null;
    return `${label(grant)} allows only reads of non-resource paths: it does not allow ${describe(info)}`;
  }
  if (isSelfReview(info)) return null;
  return checkScope(info, grant) ?? checkRole(info, grant);
}

function summarize(grant: GrantView, now: Date): string {
  const expiry = grant.expiresAt === null ? "no expiry" : `expires ${grant.expiresAt.toISOString()}`;
  const expired = isExpired(grant, now) ? " (past)" : "";
  const message = grant.stateMessage === "" ? "" : ` "${grant.stateMessage}"`;
  return `${grant.id}: cluster ${grant.cluster}, ${grant.role}, state ${grant.state}${message}, ${expiry}${expired}`;
}

/**
 * No grant can be used: tell the client the most actionable reason. A grant still being
 * applied or one that failed says more than "revoked", so they win; "expired" is said
 * only when nothing was revoked, so a revocation is never presented as a lapse.
 */
function unusable(grants: GrantView[], cluster: string, now: Date): Decision {
  const c = JSON.stringify(cluster);
  const reason = `no usable grant on cluster ${c}: ${grants.length === 0 ? "none known" : grants.map((g) => summarize(g, now)).join("; ")}`;
  const onCluster = grants.filter((g) => g.cluster === cluster);
  const pending = onCluster.find((g) => g.state === "PENDING" && !isExpired(g, now));
  if (pending) return { allowed: false, message: `your grant ${pending.id} on cluster ${c} is still being applied; try again shortly`, reason };
  const failed = onCluster.find((g) => g.state === "FAILED" && !isExpired(g, now));
  if (failed)
    return { allowed: false, message: `your grant ${failed.id} on cluster ${c} failed to apply: ${failed.stateMessage || "no reason given"}`, reason };
  const expired = onCluster.find((g) => g.state === "EXPIRED" || (g.state !== "REVOKED" && isExpired(g, now)));
  if (expired && onCluster.every((g) => g.state !== "REVOKED"))
    return { allowed: false, message: `your grant ${expired.id} on cluster ${c} has expired`, reason };
  return { allowed: false, message: `your access to cluster ${c} has been revoked or has expired`, reason };
}

/**
 * Decides whether any of the token's grants allows the request on `cluster`. Only an
 * APPLIED grant on this cluster, before its expiry, can allow (a grant on another cluster
 * never does, whatever the token says); the first that does is returned so the audit log
 * can name it.
 */
export function authorize(info: RequestInfo, grants: GrantView[], cluster: string, now: Date): Decision {
  const usable = grants.filter((g) => g.cluster === cluster && isUsable(g, now));
  if (usable.length === 0) return unusable(grants, cluster, now);

  const denials: string[] = [];
  for (const grant of usable) {
    const why = denial(info, grant);
    if (why === null) return { allowed: true, grant };
    denials.push(why);
  }
  const request = `${describe(info)}${info.namespace === "" ? "" : ` in namespace ${info.namespace}`}${info.name === "" ? "" : ` name ${info.name}`}`;
  return {
    allowed: false,
    message: denials.join("; "),
    reason: `denied ${request} (path ${info.path}) on cluster ${JSON.stringify(cluster)}: ${denials.join("; ")}`,
  };
}
