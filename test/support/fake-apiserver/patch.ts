/**
 * The PATCH flavours kube-apiserver accepts: JSON merge patch (RFC 7386), JSON
 * patch (RFC 6902) and a strategic merge patch that merges the lists kubectl
 * relies on (containers, env, ports, volumes …) by their merge key. Pure functions.
 */
import { badRequest, apiError } from "./status.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): Json {
  if (!isObject(patch)) return clone(patch as Json);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}

function pointerParts(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw badRequest(`invalid JSON pointer "${pointer}"`);
  return pointer.slice(1).split("/").map(unescapePointer);
}

function getAt(doc: Json, parts: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const p of parts) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

function patchFailed(message: string): Error {
  return apiError(422, "Invalid", message);
}

function parentOf(doc: Json, parts: string[]): { parent: Json; key: string } {
  const parent = getAt(doc, parts.slice(0, -1));
  if (parent === undefined || (typeof parent !== "object") || parent === null) {
    throw patchFailed(`the server rejected our request due to an error in our request: doc is missing path: "/${parts.join("/")}"`);
  }
  return { parent, key: parts[parts.length - 1]! };
}

function addAt(doc: Json, parts: string[], value: Json): Json {
  if (parts.length === 0) return value;
  const { parent, key } = parentOf(doc, parts);
  if (Array.isArray(parent)) {
    const idx = key === "-" ? parent.length : Number(key);
    if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) throw patchFailed(`index out of range: ${key}`);
    parent.splice(idx, 0, value);
  } else (parent as JsonObject)[key] = value;
  return doc;
}

function removeAt(doc: Json, parts: string[]): Json {
  const { parent, key } = parentOf(doc, parts);
  if (Array.isArray(parent)) {
    const idx = Number(key);
    if (!(idx >= 0 && idx < parent.length)) throw patchFailed(`index out of range: ${key}`);
    parent.splice(idx, 1);
  } else {
    if (!(key in (parent as JsonObject))) throw patchFailed(`the server rejected our request due to an error in our request: unable to remove nonexistent key: ${key}`);
    delete (parent as JsonObject)[key];
  }
  return doc;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. */
export function jsonPatch(target: unknown, ops: unknown): Json {
  if (!Array.isArray(ops)) throw badRequest("json patch must be an array of operations");
  let doc = clone(target as Json);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw["op"] !== "string" || typeof raw["path"] !== "string") throw badRequest("invalid json patch operation");
    const parts = pointerParts(raw["path"]);
    switch (raw["op"]) {
      case "add":
        doc = addAt(doc, parts, clone(raw["value"] ?? null));
        break;
      case "remove":
        doc = removeAt(doc, parts);
        break;
      case "replace":
        if (getAt(doc, parts) === undefined) throw patchFailed(`the server rejected our request due to an error in our request: replace operation does not apply: doc is missing key: ${raw["path"]}`);
        doc = removeAt(doc, parts);
        doc = addAt(doc, parts, clone(raw["value"] ?? null));
        break;
      case "move":
      case "copy": {
        const from = pointerParts(String(raw["from"] ?? ""));
        const value = getAt(doc, from);
        if (value === undefined) throw patchFailed(`missing "from" location ${String(raw["from"])}`);
        if (raw["op"] === "move") doc = removeAt(doc, from);
        doc = addAt(doc, parts, clone(value));
        break;
      }
      case "test":
        if (JSON.stringify(getAt(doc, parts)) !== JSON.stringify(raw["value"])) throw patchFailed(`testing value ${raw["path"]} failed`);
        break;
      default:
        throw badRequest(`unexpected json patch operation "${raw["op"]}"`);
    }
  }
  return doc;
}

/** Merge keys for the lists the served kinds carry, by field name. */
const MERGE_KEYS: Record<string, string | ((item: JsonObject) => string)> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  imagePullSecrets: "name",
  conditions: "type",
  // Container ports merge by containerPort, Service ports by port.
  ports: (item) => ("containerPort" in item ? "containerPort" : "port"),
};

function mergeList(field: string, target: Json[] | undefined, patch: Json[]): Json[] {
  const keySpec = MERGE_KEYS[field];
  if (!keySpec || !patch.every(isObject)) return clone(patch).filter((v) => !(isObject(v) && v["$patch"] === "delete"));
  const out: Json[] = clone(target ?? []);
  for (const item of patch as JsonObject[]) {
    const key = typeof keySpec === "string" ? keySpec : keySpec(item);
    const idx = out.findIndex((o) => isObject(o) && o[key] === item[key]);
    if (item["$patch"] === "delete") {
      if (idx >= 0) out.splice(idx, 1);
    } else if (idx >= 0) out[idx] = strategicMerge(out[idx], item);
    else out.push(strategicMerge(undefined, item));
  }
  return out;
}

/**
 * Strategic merge patch, enough for the kinds served: maps merge, null deletes,
 * known lists merge by key, `$patch: replace|delete` honoured, `$setElementOrder`,
 * `$retainKeys` and `$deleteFromPrimitiveList` directives dropped.
 */
export function strategicMerge(target: unknown, patch: unknown): Json {
  if (!isObject(patch)) return clone(patch as Json);
  if (patch["$patch"] === "replace") {
    const rest = clone(patch);
    delete rest["$patch"];
    return rest;
  }
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue;
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(k, Array.isArray(out[k]) ? (out[k] as Json[]) : undefined, v);
    else if (isObject(v)) {
      if (v["$patch"] === "delete") delete out[k];
      else out[k] = strategicMerge(out[k], v);
    } else out[k] = v;
  }
  return out;
}
