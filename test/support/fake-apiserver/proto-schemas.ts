/**
 * Protobuf field numbers of the kinds kubectl's typed clients create (from
 * k8s.io/api generated.proto): reviews for `auth can-i`, and the simple kinds
 * behind `kubectl create configmap|secret|namespace|serviceaccount|role|rolebinding…`.
 */
import type { MessageSchema } from "./protobuf.ts";

const S = "string" as const;

const ownerReference: MessageSchema = { 1: { name: "kind", type: S }, 3: { name: "name", type: S }, 4: { name: "uid", type: S }, 5: { name: "apiVersion", type: S }, 6: { name: "controller", type: "bool" }, 7: { name: "blockOwnerDeletion", type: "bool" } };

const objectMeta: MessageSchema = {
  1: { name: "name", type: S },
  2: { name: "generateName", type: S },
  3: { name: "namespace", type: S },
  5: { name: "uid", type: S },
  6: { name: "resourceVersion", type: S },
  7: { name: "generation", type: "int" },
  8: { name: "creationTimestamp", type: "time" },
  11: { name: "labels", type: { map: S } },
  12: { name: "annotations", type: { map: S } },
  13: { name: "ownerReferences", type: ownerReference, repeated: true },
  14: { name: "finalizers", type: S, repeated: true },
};

const policyRule: MessageSchema = {
  1: { name: "verbs", type: S, repeated: true },
  2: { name: "apiGroups", type: S, repeated: true },
  3: { name: "resources", type: S, repeated: true },
  4: { name: "resourceNames", type: S, repeated: true },
  5: { name: "nonResourceURLs", type: S, repeated: true },
};
const subject: MessageSchema = { 1: { name: "kind", type: S }, 2: { name: "apiGroup", type: S }, 3: { name: "name", type: S }, 4: { name: "namespace", type: S } };
const roleRef: MessageSchema = { 1: { name: "apiGroup", type: S }, 2: { name: "kind", type: S }, 3: { name: "name", type: S } };
const role: MessageSchema = { 1: { name: "metadata", type: objectMeta }, 2: { name: "rules", type: policyRule, repeated: true } };
const binding: MessageSchema = { 1: { name: "metadata", type: objectMeta }, 2: { name: "subjects", type: subject, repeated: true }, 3: { name: "roleRef", type: roleRef } };

const resourceAttributes: MessageSchema = {
  1: { name: "namespace", type: S },
  2: { name: "verb", type: S },
  3: { name: "group", type: S },
  4: { name: "version", type: S },
  5: { name: "resource", type: S },
  6: { name: "subresource", type: S },
  7: { name: "name", type: S },
};
const nonResourceAttributes: MessageSchema = { 1: { name: "path", type: S }, 2: { name: "verb", type: S } };
const localObjectReference: MessageSchema = { 1: { name: "name", type: S } };
const objectReference: MessageSchema = { 1: { name: "kind", type: S }, 2: { name: "namespace", type: S }, 3: { name: "name", type: S } };

/** Schemas by "apiVersion/kind". */
export const PROTO_SCHEMAS: Record<string, MessageSchema> = {
  "authorization.k8s.io/v1/SelfSubjectAccessReview": {
    1: { name: "metadata", type: objectMeta },
    2: { name: "spec", type: { 1: { name: "resourceAttributes", type: resourceAttributes }, 2: { name: "nonResourceAttributes", type: nonResourceAttributes } } },
  },
  "authorization.k8s.io/v1/SelfSubjectRulesReview": { 1: { name: "metadata", type: objectMeta }, 2: { name: "spec", type: { 1: { name: "namespace", type: S } } } },
  "v1/ConfigMap": { 1: { name: "metadata", type: objectMeta }, 2: { name: "data", type: { map: S } }, 3: { name: "binaryData", type: { map: "bytes" } }, 4: { name: "immutable", type: "bool" } },
  "v1/Secret": { 1: { name: "metadata", type: objectMeta }, 2: { name: "data", type: { map: "bytes" } }, 3: { name: "type", type: S }, 4: { name: "stringData", type: { map: S } }, 5: { name: "immutable", type: "bool" } },
  "v1/Namespace": { 1: { name: "metadata", type: objectMeta }, 2: { name: "spec", type: { 1: { name: "finalizers", type: S, repeated: true } } } },
  "v1/ServiceAccount": {
    1: { name: "metadata", type: objectMeta },
    2: { name: "secrets", type: objectReference, repeated: true },
    3: { name: "imagePullSecrets", type: localObjectReference, repeated: true },
    4: { name: "automountServiceAccountToken", type: "bool" },
  },
  "rbac.authorization.k8s.io/v1/Role": role,
  "rbac.authorization.k8s.io/v1/ClusterRole": role,
  "rbac.authorization.k8s.io/v1/RoleBinding": binding,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": binding,
};
