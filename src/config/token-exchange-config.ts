/**
 * --token-exchange-config: the CI issuers whose ID tokens ExchangeToken trades for a
 * short-lived kubegate API key, the claims each token must carry, and how its claims name
 * the caller. Read and checked in full at startup, so a mistake stops `serve` with the
 * file, the entry and the field instead of refusing (or, worse, admitting) CI jobs later.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { parseClaimTemplate, type ClaimTemplate } from "./claim-template.ts";
import { parseDuration } from "./duration.ts";

/** The longest life of an exchanged key: a CI job, not a standing credential. */
export const EXCHANGE_MAX_TTL_MS = 12 * 3_600_000;
export const EXCHANGE_DEFAULT_TTL_MS = 3_600_000;

/** One trusted issuer, validated. */
export interface ExchangeIssuer {
  /** Exactly the `iss` its tokens carry. */
  issuer: string;
  /** The `aud` a token must carry to be traded here. */
  audience: string;
  subject: ClaimTemplate;
  groups: ClaimTemplate[];
  /** Bound claims: each must be present and equal one of its allowed values. */
  claims: Record<string, string[]>;
  ttlMs: number;
}

const ENTRY_KEYS = ["issuer", "audience", "subject", "groups", "claims", "ttl"];
/** Claims kubegate checks itself; binding them would only hide a mistake. */
const CHECKED_CLAIMS = new Set(["iss", "aud", "exp", "nbf", "iat"]);
const MAX_GROUPS = 64;
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

const q = (v: unknown) => JSON.stringify(v);
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function issuerUrl(value: unknown): string {
  if (typeof value !== "string" || value === "") throw new Error("issuer: is required: the iss its tokens carry, e.g. https://token.actions.githubusercontent.com");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`issuer: ${q(value)} is not a URL`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)))
    throw new Error(`issuer: must be an https:// URL (http:// only on a loopback address, for tests); got ${q(value)}`);
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") throw new Error("issuer: must not carry credentials, a query or a fragment");
  return value;
}

function template(field: string, value: unknown): ClaimTemplate {
  if (typeof value !== "string" || value.trim() === "") throw new Error(`${field}: must be a non-empty string such as "ci:github:{repository}"`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`${field}: must not contain control characters`);
  let t: ClaimTemplate;
  try {
    t = parseClaimTemplate(value);
  } catch (err) {
    throw new Error(`${field}: ${(err as Error).message}`);
  }
  // A name made only of claim values could be a person's name or group: a literal prefix
  // keeps exchanged identities in their own namespace.
  if (t.parts[0] !== undefined && "claim" in t.parts[0])
    throw new Error(`${field}: ${q(value)} must start with literal text, e.g. "ci:github:${value}", so exchanged names cannot collide with people's`);
  return t;
}

/** A bound claim's allowed values; YAML numbers and booleans count as their spelling. */
function allowedValues(field: string, value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new Error(`${field}: lists no allowed value`);
  return list.map((v, i) => {
    if (typeof v === "string" && v !== "") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    throw new Error(`${field}${Array.isArray(value) ? `[${i}]` : ""}: must be a non-empty string (or a list of them)`);
  });
}

function boundClaims(value: unknown): Record<string, string[]> {
  // GitHub's issuer signs tokens for every repository on GitHub, for any audience asked
  // for: without a constraint, anyone's workflow could trade its token here.
  const why = "every token from a shared CI issuer would be accepted; bind e.g. repository_owner (GitHub) or namespace_path (GitLab)";
  if (value === undefined) throw new Error(`claims: is required: ${why}`);
  if (!isMap(value) || Object.keys(value).length === 0) throw new Error(`claims: must map at least one claim to its allowed value(s): ${why}`);
  const out: Record<string, string[]> = {};
  for (const [name, allowed] of Object.entries(value)) {
    if (CHECKED_CLAIMS.has(name)) throw new Error(`claims.${name}: kubegate checks ${name} itself; bind claims that name the repository, project or environment`);
    out[name] = allowedValues(`claims.${name}`, allowed);
  }
  return out;
}

function ttl(value: unknown): number {
  if (value === undefined) return EXCHANGE_DEFAULT_TTL_MS;
  if (typeof value !== "string") throw new Error("ttl: must be a duration such as 30m or 1h");
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new Error(`ttl: ${(err as Error).message}`);
  }
  if (ms < 1000 || ms > EXCHANGE_MAX_TTL_MS) throw new Error(`ttl: must be at least 1s and at most 12h (got ${value})`);
  return ms;
}

function entry(value: unknown): ExchangeIssuer {
  if (!isMap(value)) throw new Error("must be a mapping with issuer, audience, subject, groups, claims and ttl");
  const unknown = Object.keys(value).filter((k) => !ENTRY_KEYS.includes(k));
  if (unknown.length > 0) throw new Error(`unknown field ${q(unknown[0])} (fields: ${ENTRY_KEYS.join(", ")})`);
  const issuer = issuerUrl(value["issuer"]);
  const audience = value["audience"];
  if (typeof audience !== "string" || audience.trim() === "") throw new Error("audience: is required: the aud CI jobs ask their issuer for, e.g. kubegate");
  const groups = value["groups"] ?? [];
  if (!Array.isArray(groups)) throw new Error("groups: must be a list of templates");
  if (groups.length > MAX_GROUPS) throw new Error(`groups: at most ${MAX_GROUPS}`);
  return {
    issuer,
    audience,
    subject: template("subject", value["subject"]),
    groups: groups.map((g, i) => template(`groups[${i}]`, g)),
    claims: boundClaims(value["claims"]),
    ttlMs: ttl(value["ttl"]),
  };
}

/** Parses and checks the configuration text; throws an Error naming `file`, the entry and the field. */
export function parseTokenExchangeConfig(text: string, file: string): ExchangeIssuer[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${file}: is not valid YAML: ${(err as Error).message}`);
  }
  if (!isMap(doc) || !Array.isArray(doc["issuers"]) || doc["issuers"].length === 0) throw new Error(`${file}: must hold "issuers:", a non-empty list of trusted issuers`);
  const extra = Object.keys(doc).filter((k) => k !== "issuers");
  if (extra.length > 0) throw new Error(`${file}: unknown top-level field ${q(extra[0])} (only "issuers")`);
  const seen = new Map<string, number>();
  return doc["issuers"].map((raw: unknown, i) => {
    const label = `${file}: issuers[${i}]${isMap(raw) && typeof raw["issuer"] === "string" ? ` (${raw["issuer"]})` : ""}`;
    let parsed: ExchangeIssuer;
    try {
      parsed = entry(raw);
    } catch (err) {
      throw new Error(`${label}: ${(err as Error).message}`);
    }
    const key = parsed.issuer.replace(/\/+$/, "");
    const first = seen.get(key);
    if (first !== undefined) throw new Error(`${label}: the same issuer as issuers[${first}]; list each issuer once (allowed values of a bound claim may be a list)`);
    seen.set(key, i);
    return parsed;
  });
}

/** Reads and checks the file named by --token-exchange-config. */
export function loadTokenExchangeConfig(file: string): ExchangeIssuer[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parseTokenExchangeConfig(text, file);
}
