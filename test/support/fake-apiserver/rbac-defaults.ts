/**
 * The default ClusterRoles (view, edit, admin, cluster-admin) approximating the
 * real ones for the resources served, plus the bindings a fresh cluster has.
 * They are stored as ordinary objects, so RBAC has one code path and clients can read them.
 */
import type { KubeObject } from "./object.ts";

/** An RBAC PolicyRule. */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

const READ = ["get", "list", "watch"];
const WRITE = ["create", "delete", "deletecollection", "patch", "update"];

const VIEW_RULES: PolicyRule[] = [
  { apiGroups: [""], resources: ["configmaps", "endpoints", "persistentvolumeclaims", "pods", "pods/log", "pods/status", "replicationcontrollers", "services", "services/status", "serviceaccounts", "events", "namespaces", "namespaces/status", "limitranges", "resourcequotas"], verbs: READ },
  { apiGroups: ["apps"], resources: ["deployments", "deployments/status", "deployments/scale", "replicasets", "statefulsets", "daemonsets"], verbs: READ },
];

const EDIT_RULES: PolicyRule[] = [
  ...VIEW_RULES,
  { apiGroups: [""], resources: ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], verbs: READ },
  { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["impersonate"] },
  { apiGroups: [""], resources: ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], verbs: WRITE },
  { apiGroups: [""], resources: ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "secrets", "serviceaccounts", "services", "services/proxy"], verbs: WRITE },
  { apiGroups: ["apps"], resources: ["deployments", "deployments/scale", "replicasets", "statefulsets", "daemonsets"], verbs: WRITE },
];

const ADMIN_RULES: PolicyRule[] = [
  ...EDIT_RULES,
  { apiGroups: ["authorization.k8s.io"], resources: ["localsubjectaccessreviews"], verbs: ["create"] },
  { apiGroups: ["rbac.authorization.k8s.io"], resources: ["rolebindings", "roles"], verbs: [...READ, ...WRITE] },
];

function clusterRole(name: string, rules: PolicyRule[], labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name, labels: { "kubernetes.io/bootstrapping": "rbac-defaults", ...labels } },
    rules,
  };
}

/** A ClusterRoleBinding to a ClusterRole. */
export function clusterRoleBinding(name: string, role: string, subjects: Array<{ kind: "User" | "Group" | "ServiceAccount"; name: string; namespace?: string }>): KubeObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
    subjects: subjects.map((s) => (s.kind === "ServiceAccount" ? s : { apiGroup: "rbac.authorization.k8s.io", ...s })),
  };
}

/** A RoleBinding in a namespace to a ClusterRole or Role. */
export function roleBinding(namespace: string, name: string, roleRef: { kind: "Role" | "ClusterRole"; name: string }, subjects: Array<{ kind: "User" | "Group"; name: string }>): KubeObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name, namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef },
    subjects: subjects.map((s) => ({ apiGroup: "rbac.authorization.k8s.io", ...s })),
  };
}

/** The ClusterRole a gateway needs to forward requests as other users. */
export const IMPERSONATOR_ROLE = "kubegate-impersonator";

/** Objects every fresh fake cluster starts with. */
export function defaultRbacObjects(): KubeObject[] {
  return [
    clusterRole("cluster-admin", [
      { apiGroups: ["*"], resources: ["*"], verbs: ["*"] },
      { nonResourceURLs: ["*"], verbs: ["*"] },
    ]),
    clusterRole("admin", ADMIN_RULES, { "kubernetes.io/bootstrapping": "rbac-defaults" }),
    clusterRole("edit", EDIT_RULES),
    clusterRole("view", VIEW_RULES),
    clusterRole(IMPERSONATOR_ROLE, [
      { apiGroups: [""], resources: ["users", "groups", "serviceaccounts"], verbs: ["impersonate"] },
      // RBAC has no "userextras/*"; "*" in this group covers every extra key and uids.
      { apiGroups: ["authentication.k8s.io"], resources: ["*"], verbs: ["impersonate"] },
    ]),
    clusterRoleBinding("cluster-admin", "cluster-admin", [{ kind: "Group", name: "system:masters" }]),
  ];
}
