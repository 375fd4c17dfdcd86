/**
 * What to change in a member so its kubegate-managed bindings match the desired ones:
 * create what is missing, update what names other subjects (or lost a label), delete and
 * re-create what binds another role (Kubernetes refuses to change a binding's roleRef), and
 * delete what no live grant wants any more. Pure, so the decisions have table-driven tests.
 */
import { bindingKey, RBAC_GROUP, type Binding, type BindingKind } from "./rbac.ts";

/** A binding as the member returned it: anything may be missing or odd. */
export interface ExistingBinding {
  kind: BindingKind;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  roleRef?: { apiGroup?: string; kind?: string; name?: string };
  subjects?: Array<{ kind?: string; apiGroup?: string; name?: string; namespace?: string }>;
}

export type BindingAction =
  | { op: "create"; desired: Binding }
  | { op: "update"; desired: Binding; existing: ExistingBinding }
  | { op: "recreate"; desired: Binding; existing: ExistingBinding }
  | { op: "delete"; existing: ExistingBinding };

/** Kubernetes defaults a User or Group subject's apiGroup to RBAC's; a ServiceAccount has none. */
function subjectKey(s: { kind?: string; apiGroup?: string; name?: string; namespace?: string }): string {
  const apiGroup = s.apiGroup ?? (s.kind === "ServiceAccount" ? "" : RBAC_GROUP);
  return JSON.stringify([s.kind ?? "", apiGroup, s.name ?? "", s.namespace ?? ""]);
}

/**
 * How an existing binding differs from the desired one of the same name: "recreate" when
 * the roleRef differs, "update" when the subjects or one of kubegate's labels differ
 * (labels someone else added are left alone), else "same".
 */
export function bindingDiff(desired: Binding, existing: ExistingBinding): "same" | "update" | "recreate" {
  const ref = existing.roleRef;
  if (ref?.apiGroup !== desired.roleRef.apiGroup || ref.kind !== desired.roleRef.kind || ref.name !== desired.roleRef.name) return "recreate";
  const want = desired.subjects.map(subjectKey).sort();
  const have = (existing.subjects ?? []).map(subjectKey).sort();
  if (want.length !== have.length || want.some((k, i) => k !== have[i])) return "update";
  const labels = existing.metadata.labels ?? {};
  for (const [k, v] of Object.entries(desired.metadata.labels)) if (labels[k] !== v) return "update";
  return "same";
}

/**
 * The actions that turn `existing` (every binding listed as kubegate's for the cluster)
 * into `desired`. Deletes come first: taking away access no grant gives any more must not
 * wait behind creates that may fail.
 */
export function planBindings(desired: Binding[], existing: ExistingBinding[]): BindingAction[] {
  const have = new Map(existing.map((b) => [bindingKey(b), b]));
  const wanted = new Set(desired.map(bindingKey));
  const actions: BindingAction[] = [];
  for (const [key, b] of have) if (!wanted.has(key)) actions.push({ op: "delete", existing: b });
  for (const d of desired) {
    const e = have.get(bindingKey(d));
    if (e === undefined) {
      actions.push({ op: "create", desired: d });
      continue;
    }
    const diff = bindingDiff(d, e);
    if (diff !== "same") actions.push({ op: diff, desired: d, existing: e });
  }
  return actions;
}
