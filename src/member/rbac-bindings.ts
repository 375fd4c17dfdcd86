/**
 * The member's binding API as the RBAC reconciler uses it: list kubegate's bindings of a
 * cluster, and carry out one planned action. Writes converge whatever state they find: a
 * create that meets an existing binding (another replica, an earlier run cut short) reads it
 * and replaces it if it differs; an update that lost a race reads and writes again; a
 * roleRef change deletes and re-creates, since Kubernetes refuses to change a roleRef.
 */
import { bindingDiff, type BindingAction, type ExistingBinding } from "../kube/rbac-plan.ts";
import { RBAC_API_VERSION, type Binding, type BindingKind } from "../kube/rbac.ts";
import { MemberStatusError, memberStatusError, type MemberRequest, type MemberResponse } from "./member-request.ts";

/** One request to the member (memberRequest bound to an upstream, a timeout and a signal). */
export type MemberCall = (method: MemberRequest["method"], path: string, body?: unknown) => Promise<MemberResponse>;

const BASE = `/apis/${RBAC_API_VERSION}`;
const PAGE = 500;

type Ref = { kind: BindingKind | string; metadata: { name: string; namespace?: string } };

function collectionPath(b: { kind: string; metadata: { namespace?: string } }): string {
  return b.kind === "ClusterRoleBinding" ? `${BASE}/clusterrolebindings` : `${BASE}/namespaces/${encodeURIComponent(b.metadata.namespace ?? "")}/rolebindings`;
}

function itemPath(b: Ref): string {
  return `${collectionPath(b)}/${encodeURIComponent(b.metadata.name)}`;
}

const ok = (res: MemberResponse) => res.status >= 200 && res.status < 300;

/** Items of a typed list carry no kind; anything without a name is not a binding we can act on. */
function asBinding(kind: BindingKind, item: unknown): ExistingBinding | undefined {
  const o = item as Partial<ExistingBinding> | null;
  if (typeof o !== "object" || o === null || typeof o.metadata?.name !== "string") return undefined;
  return { ...o, kind, metadata: o.metadata } as ExistingBinding;
}

async function listKind(call: MemberCall, kind: BindingKind, selector: string): Promise<ExistingBinding[]> {
  const path = kind === "ClusterRoleBinding" ? `${BASE}/clusterrolebindings` : `${BASE}/rolebindings`;
  const out: ExistingBinding[] = [];
  let cont = "";
  do {
    const query = new URLSearchParams({ labelSelector: selector, limit: String(PAGE) });
    if (cont !== "") query.set("continue", cont);
    const res = await call("GET", `${path}?${query}`);
    if (!ok(res)) throw memberStatusError(res);
    const body = res.body as { items?: unknown[]; metadata?: { continue?: string } } | undefined;
    for (const item of body?.items ?? []) {
      const b = asBinding(kind, item);
      if (b !== undefined) out.push(b);
    }
    cont = body?.metadata?.continue ?? "";
  } while (cont !== "");
  return out;
}

/** Every ClusterRoleBinding and RoleBinding (in any namespace) the selector matches. */
export async function listBindings(call: MemberCall, selector: string): Promise<ExistingBinding[]> {
  return [...(await listKind(call, "ClusterRoleBinding", selector)), ...(await listKind(call, "RoleBinding", selector))];
}

async function remove(call: MemberCall, b: Ref): Promise<void> {
  const res = await call("DELETE", itemPath(b));
  if (!ok(res) && res.status !== 404) throw memberStatusError(res);
}

async function read(call: MemberCall, b: Binding): Promise<ExistingBinding | undefined> {
  const res = await call("GET", itemPath(b));
  if (res.status === 404) return undefined;
  if (!ok(res)) throw memberStatusError(res);
  return asBinding(b.kind, res.body);
}

/** Brings the binding of that name to `desired`, from whatever is there now. */
async function converge(call: MemberCall, desired: Binding, attempts = 3): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const current = await read(call, desired);
    if (current === undefined) {
      const res = await call("POST", collectionPath(desired), desired);
      if (ok(res)) return;
      if (res.status !== 409) throw memberStatusError(res);
      continue;
    }
    const diff = bindingDiff(desired, current);
    if (diff === "same") return;
    if (diff === "recreate") {
      await remove(call, desired);
      continue;
    }
    const res = await call("PUT", itemPath(desired), { ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata.resourceVersion } });
    if (ok(res)) return;
    // 409: changed since we read it; 404: deleted since. Read again.
    if (res.status !== 409 && res.status !== 404) throw memberStatusError(res);
  }
  throw new MemberStatusError(409, "Conflict", `${desired.kind} ${desired.metadata.name} kept changing while kubegate wrote it`);
}

/** Carries out one planned action; throws MemberStatusError with the member's words on a refusal. */
export async function applyBindingAction(call: MemberCall, action: BindingAction): Promise<void> {
  switch (action.op) {
    case "delete":
      return remove(call, action.existing);
    case "create": {
      const res = await call("POST", collectionPath(action.desired), action.desired);
      if (ok(res)) return;
      if (res.status !== 409) throw memberStatusError(res);
      // AlreadyExists: made by someone else, or listed before it was made. Make it ours.
      return converge(call, action.desired);
    }
    case "update": {
      const { desired, existing } = action;
      const res = await call("PUT", itemPath(desired), { ...desired, metadata: { ...desired.metadata, resourceVersion: existing.metadata.resourceVersion } });
      if (ok(res)) return;
      if (res.status !== 409 && res.status !== 404) throw memberStatusError(res);
      return converge(call, desired);
    }
    case "recreate":
      await remove(call, action.existing);
      return converge(call, action.desired);
  }
}
