/**
 * Label and field selectors, parsed once per request into predicates.
 * Label syntax follows kubectl: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
 * `a` (exists) and `!a` (does not exist), comma-separated.
 * Written apart from src/kube/label-selector.ts on purpose: the fake plays the member, so
 * a mistake in kubegate's selector must not be copied into the server that checks it.
 */
import { badRequest } from "./status.ts";

/** A predicate over an object. */
export type ObjectPredicate = (obj: Record<string, unknown>) => boolean;

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

type LabelTest = (labels: Record<string, string>) => boolean;

function parseRequirement(req: string): LabelTest {
  let m = /^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req);
  if (m) {
    const [, key, op, list] = m as unknown as [string, string, string, string];
    const values = new Set(list.split(",").map((v) => v.trim()));
    return op === "in" ? (l) => key in l && values.has(l[key]!) : (l) => !(key in l) || !values.has(l[key]!);
  }
  m = /^([^\s!=()]+)\s*(==|!=|=)\s*([^\s!=()]*)$/.exec(req);
  if (m) {
    const [, key, op, value] = m as unknown as [string, string, string, string];
    return op === "!=" ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  m = /^!\s*([^\s!=()]+)$/.exec(req);
  if (m) {
    const key = m[1]!;
    return (l) => !(key in l);
  }
  m = /^([^\s!=()]+)$/.exec(req);
  if (m) {
    const key = m[1]!;
    return (l) => key in l;
  }
  throw badRequest(`unable to parse requirement: invalid label selector "${req}"`);
}

/** Parses a labelSelector query value; undefined or empty matches everything. */
export function parseLabelSelector(selector: string | null | undefined): ObjectPredicate {
  if (!selector) return () => true;
  const tests = splitTopLevel(selector).map(parseRequirement);
  return (obj) => {
    const labels = ((obj["metadata"] as Record<string, unknown> | undefined)?.["labels"] ?? {}) as Record<string, string>;
    return tests.every((t) => t(labels));
  };
}

/** Reads a dotted field path such as `metadata.name` or `involvedObject.uid` as a string. */
export function fieldValue(obj: Record<string, unknown>, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur === undefined || cur === null ? "" : String(cur);
}

/** Parses a fieldSelector query value (`=`, `==`, `!=` on dotted paths). */
export function parseFieldSelector(selector: string | null | undefined): ObjectPredicate {
  if (!selector) return () => true;
  const tests = splitTopLevel(selector).map((req) => {
    const m = /^([A-Za-z0-9_.\-]+)\s*(==|!=|=)\s*(.*)$/.exec(req);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${req}'`);
    const [, path, op, value] = m as unknown as [string, string, string, string];
    return op === "!=" ? (o: Record<string, unknown>) => fieldValue(o, path) !== value : (o: Record<string, unknown>) => fieldValue(o, path) === value;
  });
  return (obj) => tests.every((t) => t(obj));
}
