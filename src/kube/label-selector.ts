/**
 * Kubernetes label selectors ("env=prod,tier in (a,b),!legacy,team"), parsed once and
 * matched against label maps. Used to filter clusters by their labels.
 */

export type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" };

export type LabelSelector = Requirement[];

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Splits on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim());
}

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new Error(`invalid label key ${JSON.stringify(key)}`);
  return key;
}

function checkValue(value: string): string {
  if (!VALUE.test(value)) throw new Error(`invalid label value ${JSON.stringify(value)}`);
  return value;
}

/** Parses a selector; throws an Error with a readable message on bad syntax. */
export function parseLabelSelector(text: string): LabelSelector {
  if (text.trim() === "") return [];
  return splitTerms(text).map((term): Requirement => {
    if (term === "") throw new Error("empty term in label selector");
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[3]!.split(",").map((v) => checkValue(v.trim()));
      return { key: checkKey(set[1]!), op: set[2] as "in" | "notin", values };
    }
    const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (eq) return { key: checkKey(eq[1]!), op: eq[2] === "!=" ? "!=" : "=", value: checkValue(eq[3]!) };
    if (term.startsWith("!")) return { key: checkKey(term.slice(1).trim()), op: "!exists" };
    return { key: checkKey(term), op: "exists" };
  });
}

/** True when every requirement holds for the labels. */
export function matchesLabels(selector: LabelSelector, labels: Record<string, string>): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.op) {
      case "=":
        return has && v === r.value;
      case "!=":
        return !has || v !== r.value;
      case "in":
        return has && r.values.includes(v!);
      case "notin":
        return !has || !r.values.includes(v!);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}

/** Validates a label map as Kubernetes would (keys and values). */
export function validateLabels(labels: Record<string, string>): void {
  for (const [k, v] of Object.entries(labels)) {
    checkKey(k);
    checkValue(v);
  }
}
