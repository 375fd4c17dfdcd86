/**
 * The object store: one global resourceVersion counter (like etcd's revision),
 * an event history for watches that resume from a resourceVersion, and
 * subscribers notified synchronously so watches see every change in order.
 */
import { randomUUID, randomBytes } from "node:crypto";
import { applyCreateDefaults, applyUpdateDefaults } from "./defaults.ts";
import { type KubeObject, copy, meta, timestamp } from "./object.ts";
import { type ResourceType, groupVersion } from "./resources.ts";
import { alreadyExists, badRequest, conflict, gone, notFound } from "./status.ts";
import { validateObject, validateUpdate } from "./validate.ts";

/** A change, as watches deliver it. `previous` lets selector watches emit DELETED when an object stops matching. */
export interface StoreEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  resourceVersion: number;
  resourceType: ResourceType;
  object: KubeObject;
  previous?: KubeObject;
}

/** Options shared by writes. */
export interface WriteOptions {
  /** `?dryRun=All`: validate and return the result without storing it. */
  dryRun?: boolean;
}

/** The store's interface; objects going in and out are always copies. */
export interface Store {
  resourceVersion(): number;
  oldestResourceVersion(): number;
  get(t: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined;
  list(t: ResourceType, namespace?: string): KubeObject[];
  create(t: ResourceType, obj: KubeObject, opts?: WriteOptions): KubeObject;
  update(t: ResourceType, obj: KubeObject, opts?: WriteOptions): KubeObject;
  remove(t: ResourceType, namespace: string | undefined, name: string, opts?: WriteOptions): KubeObject;
  eventsSince(rv: number): StoreEvent[];
  subscribe(listener: (e: StoreEvent) => void): () => void;
}

const HISTORY = 20_000;

function key(t: ResourceType, namespace: string | undefined, name: string): string {
  return `${t.group}/${t.resource}/${t.namespaced ? (namespace ?? "") : ""}/${name}`;
}

function specOf(o: KubeObject): string {
  return JSON.stringify(o["spec"] ?? null);
}

/** Creates an empty store; `namespaceType` lets namespaced creates check their namespace exists. */
export function createStore(namespaceType: ResourceType): Store {
  let rv = 0;
  const objects = new Map<string, { t: ResourceType; obj: KubeObject }>();
  const history: StoreEvent[] = [];
  const listeners = new Set<(e: StoreEvent) => void>();

  function emit(type: StoreEvent["type"], t: ResourceType, object: KubeObject, previous?: KubeObject): void {
    const event: StoreEvent = { type, resourceVersion: rv, resourceType: t, object: copy(object), previous: previous && copy(previous) };
    history.push(event);
    if (history.length > HISTORY) history.shift();
    for (const l of listeners) l(event);
  }

  function stamp(t: ResourceType, obj: KubeObject): void {
    obj["apiVersion"] = groupVersion(t);
    obj["kind"] = t.kind;
  }

  function checkNamespace(t: ResourceType, obj: KubeObject): void {
    if (!t.namespaced) {
      delete meta(obj).namespace;
      return;
    }
    const ns = meta(obj).namespace;
    if (!ns) throw badRequest("an empty namespace may not be set during creation");
    if (!objects.has(key(namespaceType, undefined, ns))) throw notFound("", "namespaces", ns);
  }

  const store: Store = {
    resourceVersion: () => rv,
    oldestResourceVersion: () => history[0]?.resourceVersion ?? rv,
    get(t, namespace, name) {
      const hit = objects.get(key(t, namespace, name));
      return hit && copy(hit.obj);
    },
    list(t, namespace) {
      const out: KubeObject[] = [];
      for (const { t: ot, obj } of objects.values()) {
        if (ot !== t) continue;
        if (namespace && meta(obj).namespace !== namespace) continue;
        out.push(copy(obj));
      }
      return out.sort((a, b) => `${a.metadata?.namespace ?? ""}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace ?? ""}/${b.metadata?.name}`));
    },
    create(t, input, opts) {
      const obj = copy(input);
      const m = meta(obj);
      if (!m.name && m.generateName) m.name = m.generateName + randomBytes(4).toString("hex").slice(0, 5);
      stamp(t, obj);
      validateObject(t, obj);
      checkNamespace(t, obj);
      const k = key(t, m.namespace, m.name!);
      if (objects.has(k)) throw alreadyExists(t.group, t.resource, m.name!);
      m.uid = randomUUID();
      m.creationTimestamp = timestamp();
      delete m.resourceVersion;
      delete m.deletionTimestamp;
      if (obj["spec"] !== undefined) m.generation = 1;
      applyCreateDefaults(t, obj);
      if (opts?.dryRun) return copy({ ...obj, metadata: { ...m, resourceVersion: String(rv) } });
      m.resourceVersion = String(++rv);
      objects.set(k, { t, obj: copy(obj) });
      emit("ADDED", t, obj);
      return obj;
    },
    update(t, input, opts) {
      const obj = copy(input);
      const m = meta(obj);
      stamp(t, obj);
      const name = m.name ?? "";
      const k = key(t, m.namespace, name);
      const current = objects.get(k)?.obj;
      if (!current) throw notFound(t.group, t.resource, name);
      validateObject(t, obj);
      validateUpdate(t, obj, current);
      const cm = meta(current);
      if (m.resourceVersion && m.resourceVersion !== cm.resourceVersion) throw conflict(t.group, t.resource, name);
      m.uid = cm.uid;
      m.creationTimestamp = cm.creationTimestamp;
      if (cm.generation !== undefined) m.generation = specOf(current) === specOf(obj) ? cm.generation : cm.generation + 1;
      // Status is owned by the fake's "controllers", not by clients updating the main resource.
      if (current["status"] !== undefined && t.resource !== "namespaces") obj["status"] = copy(current["status"]);
      applyUpdateDefaults(t, obj);
      if (opts?.dryRun) return copy({ ...obj, metadata: { ...m, resourceVersion: cm.resourceVersion } });
      m.resourceVersion = String(++rv);
      objects.set(k, { t, obj: copy(obj) });
      emit("MODIFIED", t, obj, current);
      return obj;
    },
    remove(t, namespace, name, opts) {
      const k = key(t, namespace, name);
      const current = objects.get(k)?.obj;
      if (!current) throw notFound(t.group, t.resource, name);
      const gone = copy(current);
      if (opts?.dryRun) return gone;
      if (t === namespaceType) {
        for (const [ok, { t: ot, obj }] of [...objects]) {
          if (ot.namespaced && meta(obj).namespace === name) {
            objects.delete(ok);
            meta(obj).resourceVersion = String(++rv);
            emit("DELETED", ot, obj, obj);
          }
        }
      }
      objects.delete(k);
      meta(gone).resourceVersion = String(++rv);
      emit("DELETED", t, gone, current);
      return gone;
    },
    eventsSince(since) {
      const oldest = history[0]?.resourceVersion;
      if (oldest !== undefined && since < oldest - 1 && history.length >= HISTORY) throw gone(since, oldest);
      return history.filter((e) => e.resourceVersion > since);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return store;
}
