/**
 * What a Kubernetes API request asks for (verb, namespace, resource, subresource, name),
 * parsed by the rules of kube-apiserver's RequestInfoFactory so that the gateway's
 * authorization (the second fence) judges the request exactly as the member's RBAC
 * (the first fence) will. Where the two could disagree, we err towards the reading that
 * the authorizer denies.
 */
import { percentDecodePathLenient } from "./route.ts";

export interface RequestInfo {
  isResourceRequest: boolean;
  /** get list watch create update patch delete deletecollection; for non-resource requests the lowercased HTTP method (get, post, …) */
  verb: string;
  apiPrefix: "api" | "apis" | "";
  /** "" for core */
  apiGroup: string;
  apiVersion: string;
  /** "" when cluster-scoped or all namespaces */
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** The path as given (not decoded), for the audit log. */
  path: string;
}

/** Path words that are verbs, not resources (legacy `/api/v1/watch/...`, `/api/v1/proxy/...`). */
const SPECIAL_VERBS = new Set(["proxy", "watch"]);
/** Special verbs whose parts after the name are not a subresource. */
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(["proxy"]);
/** After `namespaces/{ns}`, these are subresources of the namespace, not resources in it. */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

const VERB_BY_METHOD: Record<string, string> = {
  POST: "create",
  GET: "get",
  HEAD: "get",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};

/**
 * Percent-decodes the path and splits it into segments, as the member's apiserver does
 * (it reads Go's decoded URL.Path). Deciding on the raw bytes would let
 * `/%61pi/v1/secrets` pass as a non-resource path or `secret%73` dodge the secrets rule.
 * Decoding is lenient so that one bad byte cannot make the rest of the path go undecoded.
 */
function splitPath(path: string): string[] {
  const trimmed = percentDecodePathLenient(path).replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return [];
  return trimmed.split("/");
}

/** Go's bool query conversion: absent, "0" or "false" (any case) is false; anything else, even "", is true. */
function queryBool(query: URLSearchParams, key: string): boolean {
  const first = query.getAll(key)[0];
  if (first === undefined) return false;
  return !(first === "0" || first.toLowerCase() === "false");
}

/**
 * Splits a field selector into terms at unescaped commas, as k8s.io/apimachinery's
 * fields.ParseSelector does; null when a term has no operator (an invalid selector).
 */
function parseFieldSelector(selector: string): { field: string; op: string; value: string }[] | null {
  const terms: string[] = [];
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    if (selector[i] === "\\") i++;
    else if (selector[i] === ",") {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));

  const out: { field: string; op: string; value: string }[] = [];
  for (const term of terms) {
    if (term === "") continue;
    const parsed = splitTerm(term);
    if (parsed === null) return null;
    const value = unescapeValue(parsed.value);
    if (value === null) return null;
    out.push({ ...parsed, value });
  }
  return out;
}

function splitTerm(term: string): { field: string; op: string; value: string } | null {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === "\\") {
      i++;
      continue;
    }
    for (const op of ["!=", "==", "="]) {
      if (term.startsWith(op, i)) return { field: term.slice(0, i), op, value: term.slice(i + op.length) };
    }
  }
  return null;
}

/** Only `\\`, `\,` and `\=` are valid escapes in a selector value. */
function unescapeValue(value: string): string | null {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = value[++i];
    if (next !== "\\" && next !== "," && next !== "=") return null;
    out += next;
  }
  return out;
}

/**
 * The name a list or watch is restricted to by `fieldSelector=metadata.name=<name>`, as
 * Kubernetes sets it for authorization. Stricter than Kubernetes in one way: only a single
 * fieldSelector parameter free of ';' and '%' counts, because Go's query parser drops a
 * pair containing ';' or a bad escape that URLSearchParams keeps — the member would then
 * list everything while we believed the list was restricted.
 */
function nameFromFieldSelector(query: URLSearchParams): string {
  const values = query.getAll("fieldSelector");
  if (values.length !== 1) return "";
  const selector = values[0]!;
  if (selector.includes(";") || selector.includes("%")) return "";
  const terms = parseFieldSelector(selector);
  const exact = terms?.find((t) => t.field === "metadata.name" && (t.op === "=" || t.op === "=="));
  if (exact === undefined) return "";
  // Kubernetes' IsValidPathSegmentName.
  const name = exact.value;
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("%")) return "";
  return name;
}

/**
 * Parses a request the way kube-apiserver does. `path` is the Kubernetes path (as routed,
 * not decoded); `query` the parsed query string.
 */
export function parseRequestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const info: RequestInfo = {
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiPrefix: "",
    apiGroup: "",
    apiVersion: "",
    namespace: "",
    resource: "",
    subresource: "",
    name: "",
    path,
  };

  let parts = splitPath(path);
  // /api/v1/{resource} is the shortest resource path; anything shorter is discovery.
  if (parts.length < 3) return info;
  const prefix = parts[0];
  if (prefix !== "api" && prefix !== "apis") return info;
  info.apiPrefix = prefix;
  parts = parts.slice(1);

  if (prefix === "apis") {
    // /apis/{group}/{version}/{resource} needs three parts after the prefix.
    if (parts.length < 3) return info;
    info.apiGroup = parts[0]!;
    parts = parts.slice(1);
  }

  info.isResourceRequest = true;
  info.apiVersion = parts[0]!;
  parts = parts.slice(1);

  if (SPECIAL_VERBS.has(parts[0]!)) {
    // Kubernetes errors on `/api/v1/watch` alone; leaving resource "" keeps it unmatched.
    info.verb = parts[0]!;
    parts = parts.slice(1);
  } else {
    info.verb = VERB_BY_METHOD[method] ?? "";
  }

  if (parts[0] === "namespaces") {
    if (parts.length > 1) {
      info.namespace = parts[1]!;
      // `namespaces/{ns}/{resource}/...` is a resource in the namespace; `namespaces/{ns}`
      // and `namespaces/{ns}/status` are the namespace object itself.
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    }
  }

  // parts: resource / name / subresource / whatever follows (e.g. a proxied path)
  if (parts.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(info.verb)) info.subresource = parts[2]!;
  if (parts.length >= 2) info.name = parts[1]!;
  if (parts.length >= 1) info.resource = parts[0]!;

  if (info.name === "" && info.verb === "get") {
    info.verb = queryBool(query, "watch") ? "watch" : "list";
    info.name = nameFromFieldSelector(query);
  }
  if (info.name === "" && info.verb === "delete") info.verb = "deletecollection";

  return info;
}
