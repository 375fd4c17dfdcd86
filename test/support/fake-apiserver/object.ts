/** Small typed accessors for the plain-JSON Kubernetes objects the fake stores. */

/** A Kubernetes object as JSON. */
export type KubeObject = Record<string, unknown> & { metadata?: ObjectMeta };

/** The metadata fields the fake reads or sets. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

/** The object's metadata, created if missing. */
export function meta(obj: KubeObject): ObjectMeta {
  if (typeof obj.metadata !== "object" || obj.metadata === null) obj.metadata = {};
  return obj.metadata;
}

/** RFC 3339 with second precision, as Kubernetes serialises metav1.Time. */
export function timestamp(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Deep copy, so callers never share state with the store. */
export function copy<T>(v: T): T {
  return structuredClone(v);
}
