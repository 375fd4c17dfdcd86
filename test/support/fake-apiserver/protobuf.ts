/**
 * Decoding Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`),
 * which kubectl's typed clients send for `create configmap`, `auth can-i` and
 * friends: the "k8s\0" envelope holding a runtime.Unknown, and a schema-driven
 * wire-format reader that turns a message into the same JSON the client would
 * have sent. Schemas live in proto-schemas.ts.
 */
import { apiError } from "./status.ts";

/** How one field decodes. */
export type FieldType = "string" | "bytes" | "bool" | "int" | "time" | "quantity" | MessageSchema | { map: "string" | "bytes" };

/** A message: field number → JSON name and type (repeated fields become arrays). */
export type MessageSchema = { [field: number]: { name: string; type: FieldType; repeated?: boolean } };

type WireField = { field: number; wire: number; varint?: bigint; bytes?: Buffer };

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error("truncated varint");
    const b = buf[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

/** Splits a message into its raw fields. */
export function readFields(buf: Buffer): WireField[] {
  const out: WireField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [v, p2] = readVarint(buf, pos);
      out.push({ field, wire, varint: v });
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      out.push({ field, wire, bytes: buf.subarray(p2, p2 + Number(len)) });
      pos = p2 + Number(len);
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

function decodeValue(f: WireField, type: FieldType): unknown {
  if (type === "string") return f.bytes?.toString("utf8") ?? "";
  if (type === "bytes") return (f.bytes ?? Buffer.alloc(0)).toString("base64");
  if (type === "bool") return f.varint === 1n;
  if (type === "int") return Number(BigInt.asIntN(64, f.varint ?? 0n));
  if (type === "quantity") return readFields(f.bytes ?? Buffer.alloc(0)).find((x) => x.field === 1)?.bytes?.toString("utf8") ?? "";
  if (type === "time") {
    const parts = readFields(f.bytes ?? Buffer.alloc(0));
    const seconds = Number(BigInt.asIntN(64, parts.find((x) => x.field === 1)?.varint ?? 0n));
    // Go's zero time (year 1) is how an unset metav1.Time travels; JSON says null.
    if (seconds <= 0) return null;
    return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  if ("map" in type) {
    const entry = readFields(f.bytes ?? Buffer.alloc(0));
    const k = entry.find((x) => x.field === 1)?.bytes?.toString("utf8") ?? "";
    const v = entry.find((x) => x.field === 2);
    return [k, v ? decodeValue(v, type.map) : type.map === "bytes" ? "" : ""];
  }
  return decodeMessage(f.bytes ?? Buffer.alloc(0), type);
}

/** Decodes a message with a schema; unknown fields are skipped. */
export function decodeMessage(buf: Buffer, schema: MessageSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of readFields(buf)) {
    const spec = schema[f.field];
    if (!spec) continue;
    const value = decodeValue(f, spec.type);
    if (typeof spec.type === "object" && "map" in spec.type) {
      const [k, v] = value as [string, unknown];
      ((out[spec.name] ??= {}) as Record<string, unknown>)[k] = v;
    } else if (spec.repeated) ((out[spec.name] ??= []) as unknown[]).push(value);
    // Go always encodes scalars; JSON clients omit the empty ones (omitempty), so do the same.
    else if (value !== "" && value !== 0 && value !== false && value !== null) out[spec.name] = value;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a "k8s\0"-framed runtime.Unknown into a JSON object, given schemas by kind. */
export function decodeKubernetesProtobuf(body: Buffer, schemas: Record<string, MessageSchema>): Record<string, unknown> {
  const unsupported = (why: string) => apiError(415, "UnsupportedMediaType", `the fake apiserver cannot decode this protobuf body (${why}); send application/json`);
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw unsupported("missing k8s envelope");
  const unknown = readFields(body.subarray(4));
  const typeMeta = readFields(unknown.find((f) => f.field === 1)?.bytes ?? Buffer.alloc(0));
  const apiVersion = typeMeta.find((f) => f.field === 1)?.bytes?.toString("utf8") ?? "";
  const kind = typeMeta.find((f) => f.field === 2)?.bytes?.toString("utf8") ?? "";
  const schema = schemas[`${apiVersion}/${kind}`];
  if (!schema) throw unsupported(`no schema for ${apiVersion}/${kind}`);
  return { apiVersion, kind, ...decodeMessage(unknown.find((f) => f.field === 2)?.bytes ?? Buffer.alloc(0), schema) };
}
