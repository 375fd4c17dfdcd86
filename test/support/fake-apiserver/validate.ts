/**
 * The validation the fake performs before storing, so clients see 422 Invalid
 * with kube-apiserver's wording for the mistakes tests are likely to make.
 */
import type { KubeObject } from "./object.ts";
import type { ResourceType } from "./resources.ts";
import { invalid } from "./status.ts";

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

type Cause = { field: string; message: string };

function nameCauses(t: ResourceType, name: string): Cause[] {
  if (t.group === "rbac.authorization.k8s.io") {
    return name.includes("/") || name === "." || name === ".." ? [{ field: "metadata.name", message: `Invalid value: "${name}": may not contain '/'` }] : [];
  }
  const [re, msg] = t.resource === "namespaces" || t.resource === "services" ? [DNS1123_LABEL, LABEL_MSG] : [DNS1123_SUBDOMAIN, SUBDOMAIN_MSG];
  return name.length > 253 || !re.test(name) ? [{ field: "metadata.name", message: `Invalid value: "${name}": ${msg}` }] : [];
}

function kindCauses(t: ResourceType, obj: KubeObject): Cause[] {
  const causes: Cause[] = [];
  if (t.resource === "configmaps" || t.resource === "secrets") {
    for (const field of ["data", "stringData"]) {
      const data = obj[field];
      if (data === undefined || data === null) continue;
      if (typeof data !== "object" || Array.isArray(data)) causes.push({ field, message: "Invalid value: must be a map of strings" });
      else for (const [k, v] of Object.entries(data)) if (typeof v !== "string") causes.push({ field: `${field}[${k}]`, message: "Invalid value: must be a string" });
    }
  }
  if (t.resource === "pods") {
    const containers = (obj["spec"] as { containers?: unknown } | undefined)?.containers;
    if (!Array.isArray(containers) || containers.length === 0) causes.push({ field: "spec.containers", message: "Required value" });
    else
      containers.forEach((c: { name?: unknown; image?: unknown }, i) => {
        if (typeof c?.name !== "string" || c.name === "") causes.push({ field: `spec.containers[${i}].name`, message: "Required value" });
        if (typeof c?.image !== "string" || c.image === "") causes.push({ field: `spec.containers[${i}].image`, message: "Required value" });
      });
  }
  if (t.resource === "deployments") {
    const spec = obj["spec"] as { selector?: unknown; template?: unknown } | undefined;
    if (!spec?.selector) causes.push({ field: "spec.selector", message: "Required value" });
    if (!spec?.template) causes.push({ field: "spec.template", message: "Required value" });
  }
  if (t.resource === "rolebindings" || t.resource === "clusterrolebindings") {
    const ref = obj["roleRef"] as { kind?: unknown; name?: unknown } | undefined;
    if (!ref?.kind || !ref.name) causes.push({ field: "roleRef", message: "Required value" });
  }
  return causes;
}

/** Throws 422 Invalid when the object cannot be stored. */
export function validateObject(t: ResourceType, obj: KubeObject): void {
  const name = obj.metadata?.name ?? "";
  const causes = name === "" ? [{ field: "metadata.name", message: "Required value: name or generateName is required" }] : nameCauses(t, name);
  causes.push(...kindCauses(t, obj));
  if (causes.length > 0) throw invalid(t.group, t.kind, name, causes);
}

/**
 * What an update may not change: a binding's roleRef (kube-apiserver's
 * ValidateRoleBindingUpdate), so clients must delete and re-create to bind another role.
 */
export function validateUpdate(t: ResourceType, obj: KubeObject, current: KubeObject): void {
  if (t.resource !== "rolebindings" && t.resource !== "clusterrolebindings") return;
  const ref = (obj["roleRef"] ?? {}) as { apiGroup?: string; kind?: string; name?: string };
  const was = (current["roleRef"] ?? {}) as typeof ref;
  if (ref.apiGroup === was.apiGroup && ref.kind === was.kind && ref.name === was.name) return;
  const value = `rbac.RoleRef{APIGroup:"${ref.apiGroup ?? ""}", Kind:"${ref.kind ?? ""}", Name:"${ref.name ?? ""}"}`;
  throw invalid(t.group, t.kind, obj.metadata?.name ?? "", [{ field: "roleRef", message: `Invalid value: ${value}: cannot change roleRef` }]);
}
