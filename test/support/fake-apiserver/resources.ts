/**
 * The catalogue of resource types the fake serves. Discovery, routing, RBAC
 * messages and Table columns all read it, so adding a kind is one entry here.
 */

/** A subresource as discovery lists it. */
export interface SubresourceType {
  name: string;
  kind: string;
  verbs: string[];
}

/** One served resource type. */
export interface ResourceType {
  group: string;
  version: string;
  /** Plural, as in URLs: "configmaps". */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  categories: string[];
  subresources: SubresourceType[];
  /** Stored objects; false for review kinds that are only ever created and answered. */
  stored: boolean;
}

const CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function rt(p: Partial<ResourceType> & Pick<ResourceType, "resource" | "kind">): ResourceType {
  return {
    group: "",
    version: "v1",
    singular: p.kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    verbs: CRUD,
    categories: [],
    subresources: [],
    stored: true,
    ...p,
  };
}

/** Every resource type served, core group first (discovery order). */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  rt({ resource: "configmaps", kind: "ConfigMap", shortNames: ["cm"] }),
  rt({ resource: "events", kind: "Event", shortNames: ["ev"] }),
  rt({ resource: "namespaces", kind: "Namespace", namespaced: false, shortNames: ["ns"], verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] }),
  rt({
    resource: "pods",
    kind: "Pod",
    shortNames: ["po"],
    categories: ["all"],
    subresources: [
      { name: "attach", kind: "PodAttachOptions", verbs: ["create", "get"] },
      { name: "exec", kind: "PodExecOptions", verbs: ["create", "get"] },
      { name: "log", kind: "Pod", verbs: ["get"] },
      { name: "portforward", kind: "PodPortForwardOptions", verbs: ["create", "get"] },
      { name: "status", kind: "Pod", verbs: ["get", "patch", "update"] },
    ],
  }),
  rt({ resource: "secrets", kind: "Secret" }),
  rt({ resource: "serviceaccounts", kind: "ServiceAccount", shortNames: ["sa"] }),
  rt({ resource: "services", kind: "Service", shortNames: ["svc"], categories: ["all"], verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] }),
  rt({
    group: "apps",
    resource: "deployments",
    kind: "Deployment",
    shortNames: ["deploy"],
    categories: ["all"],
    subresources: [{ name: "status", kind: "Deployment", verbs: ["get", "patch", "update"] }],
  }),
  rt({ group: "authentication.k8s.io", resource: "selfsubjectreviews", kind: "SelfSubjectReview", namespaced: false, verbs: ["create"], stored: false }),
  rt({ group: "authorization.k8s.io", resource: "selfsubjectaccessreviews", kind: "SelfSubjectAccessReview", namespaced: false, verbs: ["create"], stored: false }),
  rt({ group: "authorization.k8s.io", resource: "selfsubjectrulesreviews", kind: "SelfSubjectRulesReview", namespaced: false, verbs: ["create"], stored: false }),
  rt({ group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false }),
  rt({ group: "rbac.authorization.k8s.io", resource: "clusterroles", kind: "ClusterRole", namespaced: false }),
  rt({ group: "rbac.authorization.k8s.io", resource: "rolebindings", kind: "RoleBinding" }),
  rt({ group: "rbac.authorization.k8s.io", resource: "roles", kind: "Role" }),
];

/** "v1" or "apps/v1". */
export function groupVersion(t: Pick<ResourceType, "group" | "version">): string {
  return t.group === "" ? t.version : `${t.group}/${t.version}`;
}

/** The API groups (besides core) in discovery order. */
export function apiGroups(): string[] {
  return [...new Set(RESOURCE_TYPES.filter((t) => t.group !== "").map((t) => t.group))];
}

/** Finds a type by group, version and plural. */
export function findByResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.resource === resource);
}

/** Finds a type by apiVersion and kind, as a submitted object names itself. */
export function findByKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => groupVersion(t) === apiVersion && t.kind === kind);
}
