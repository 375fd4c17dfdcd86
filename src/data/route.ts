/**
 * Canonical routing of the data plane (DESIGN, data path rule 1): `/clusters/{cluster}/<kubernetes path>`.
 *
 * The request target is judged exactly as received and never rewritten: a path that
 * could mean two things (dot segments, encoded slashes or dots, empty segments) is
 * refused rather than normalised, because the member's apiserver decodes the path once
 * more and must see the same resource our authorization saw. The Kubernetes path and the
 * query that pass are forwarded byte for byte.
 */

export type Route =
  | {
      ok: true;
      cluster: string;
      /** Kubernetes path, raw bytes as received, starts with "/" */
      path: string;
      /** raw query without "?", "" if none */
      query: string;
    }
  | { ok: false; status: 400 | 404; message: string };

export const ROUTE_PREFIX = "/clusters/";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_CLUSTER_NAME = 63;

/** Printable ASCII only: HTTP/2 :path is not checked by a parser the way HTTP/1.1's is. */
const NOT_PRINTABLE_ASCII = /[^\x21-\x7e]/;
const MALFORMED_ESCAPE = /%(?![0-9a-fA-F]{2})/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Encoded bytes that would change the path's shape once the member decodes it. */
const FORBIDDEN_ESCAPES: ReadonlyArray<readonly [RegExp, string]> = [
  [/%2e/i, "path must not contain an encoded '.' (%2E)"],
  [/%2f/i, "path must not contain an encoded '/' (%2F)"],
  [/%5c/i, "path must not contain an encoded '\\' (%5C)"],
  [/%00/, "path must not contain an encoded NUL (%00)"],
];

const NOT_FOUND = `not found: kubegate serves ${ROUTE_PREFIX}<cluster>/<kubernetes path>`;

const bad = (message: string): Route => ({ ok: false, status: 400, message });

const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const utf8Lenient = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** %XX escapes to bytes; null on a malformed escape unless `keepMalformed`. */
function unescapeBytes(raw: string, keepMalformed: boolean): Uint8Array | null {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    const hex = raw.slice(i + 1, i + 3);
    if (ch === "%" && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch === "%" && !keepMalformed) {
      return null;
    } else {
      bytes.push(...utf8Encoder.encode(ch));
    }
  }
  return new Uint8Array(bytes);
}

/**
 * Percent-decodes a URL path the way Go's net/url does for the member's apiserver (bytes,
 * then UTF-8). Returns null when an escape is malformed or the bytes are not UTF-8, so
 * callers can refuse input the two sides might read differently.
 */
export function percentDecodePath(raw: string): string | null {
  if (!raw.includes("%")) return raw;
  const bytes = unescapeBytes(raw, false);
  if (bytes === null) return null;
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Like percentDecodePath but total: a malformed escape stays literal and bytes that are
 * not UTF-8 become U+FFFD. For classifying a path (every valid escape is still decoded, so
 * the structure the member sees is the structure we see), never for deciding it is safe.
 */
export function percentDecodePathLenient(raw: string): string {
  if (!raw.includes("%")) return raw;
  return utf8Lenient.decode(unescapeBytes(raw, true)!);
}

/**
 * Splits a request target (HTTP/1.1 req.url or HTTP/2 :path, never decoded) into the
 * cluster, the Kubernetes path and the raw query; or says why it is refused.
 */
export function parseRoute(rawTarget: string): Route {
  if (rawTarget.includes("#")) return bad("request target must not contain a fragment ('#')");
  if (!rawTarget.startsWith("/"))
    return bad("request target must be a path starting with '/' (absolute-form and '*' are not accepted)");
  if (NOT_PRINTABLE_ASCII.test(rawTarget))
    return bad("request target must not contain spaces, control characters or raw non-ASCII bytes; percent-encode them");

  const q = rawTarget.indexOf("?");
  const rawPath = q === -1 ? rawTarget : rawTarget.slice(0, q);
  const query = q === -1 ? "" : rawTarget.slice(q + 1);

  if (!rawPath.startsWith(ROUTE_PREFIX)) return { ok: false, status: 404, message: NOT_FOUND };

  if (rawPath.includes("\\")) return bad("path must not contain a backslash");
  // Without a '%' nothing is encoded: the printable-ASCII check above has said all there is.
  const escaped = rawPath.includes("%");
  if (escaped) {
    if (MALFORMED_ESCAPE.test(rawPath)) return bad("path has a malformed percent-escape ('%' must be followed by two hex digits)");
    for (const [pattern, message] of FORBIDDEN_ESCAPES) if (pattern.test(rawPath)) return bad(message);
  }

  // rawPath starts with "/clusters/", so segments[0] is "clusters" and segments[1] the cluster.
  const segments = rawPath.slice(1).split("/");
  const last = segments.length - 1;
  for (let i = 0; i <= last; i++) {
    const segment = segments[i]!;
    if (segment === "" && !(i === last && i > 1)) {
      if (i === 1) return bad(`missing cluster name: use ${ROUTE_PREFIX}<cluster>/<kubernetes path>`);
      return bad("path must not contain empty segments ('//')");
    }
    if (segment === "." || segment === "..") return bad("path must not contain '.' or '..' segments");
    if (!escaped) continue;
    const decoded = percentDecodePath(segment);
    if (decoded === null) return bad("path must be valid UTF-8 once percent-decoded");
    if (CONTROL.test(decoded)) return bad("path must not contain encoded control characters");
  }

  const cluster = segments[1]!;
  if (cluster.includes("%")) return bad("cluster name must be spelled literally, without percent-encoding");
  if (cluster.length > MAX_CLUSTER_NAME || !DNS1123_LABEL.test(cluster))
    return bad(
      `cluster name ${JSON.stringify(cluster)} is not valid: it must be a DNS-1123 label (lower-case letters, digits and '-', at most ${MAX_CLUSTER_NAME} characters)`,
    );

  const rest = segments.slice(2).join("/");
  return { ok: true, cluster, path: `/${rest}`, query };
}
