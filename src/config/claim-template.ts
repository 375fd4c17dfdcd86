/**
 * Claim templates: "ci:github:{repository}:{environment}" names a subject or group from a
 * token's claims. Parsed once at startup (a syntax mistake stops `serve`), rendered per
 * exchange; a claim that is missing or not a scalar leaves the template unrendered.
 */

/** A literal run, or a claim to substitute. */
export type TemplatePart = { literal: string } | { claim: string };

export interface ClaimTemplate {
  /** As written in the configuration, for messages. */
  text: string;
  parts: TemplatePart[];
  /** Names of the claims it uses, in order. */
  claims: string[];
}

/** Claim names as CI issuers spell them (repository_owner, project_path, ...). */
const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Parses `{claim}` placeholders; throws an Error saying what is wrong and where. */
export function parseClaimTemplate(text: string): ClaimTemplate {
  const parts: TemplatePart[] = [];
  let literal = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "}") throw new Error(`${JSON.stringify(text)}: "}" at ${i} closes no "{"`);
    if (c !== "{") {
      literal += c;
      continue;
    }
    const end = text.indexOf("}", i);
    if (end === -1) throw new Error(`${JSON.stringify(text)}: "{" at ${i} is not closed`);
    const name = text.slice(i + 1, end);
    if (!CLAIM_NAME.test(name)) throw new Error(`${JSON.stringify(text)}: {${name}} is not a claim name (letters, digits, '_' and '-', not starting with a digit)`);
    if (literal !== "") parts.push({ literal });
    literal = "";
    parts.push({ claim: name });
    i = end;
  }
  if (literal !== "") parts.push({ literal });
  return { text, parts, claims: parts.flatMap((p) => ("claim" in p ? [p.claim] : [])) };
}

/** A claim's value as text: strings as they are, numbers and booleans written out, else undefined. */
export function claimText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/**
 * Fills the template from `claims`, or names the first claim that is missing, empty or
 * not a scalar (a list or an object has no single spelling).
 */
export function renderClaimTemplate(t: ClaimTemplate, claims: Record<string, unknown>): { value: string } | { missing: string } {
  let out = "";
  for (const p of t.parts) {
    if ("literal" in p) {
      out += p.literal;
      continue;
    }
    const v = claimText(claims[p.claim]);
    if (v === undefined || v === "") return { missing: p.claim };
    out += v;
  }
  return { value: out };
}
