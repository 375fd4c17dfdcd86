/**
 * Hop-by-hop headers belong to one connection and are never forwarded, in either
 * direction (RFC 9110 §7.6.1). Shared by every hop that relays Kubernetes API traffic:
 * the data plane, the agent and the local proxy.
 */

/** lowercased names, as node gives them */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** RFC 9110 §7.6.1 connection-specific headers, plus HTTP/2's upgrade settings. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

/** Response headers that describe the member's connection to us, not ours to the client. */
const RESPONSE_HOP_BY_HOP = new Set([...HOP_BY_HOP, "proxy-authenticate"]);

/** A header's values as a list, whether node gave one string or several. */
export function headerValues(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The lowercased names a Connection header lists (it may repeat, each a comma list). */
export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const tokens = new Set<string>();
  for (const v of headerValues(value))
    for (const token of v.split(",")) {
      const t = token.trim().toLowerCase();
      if (t !== "") tokens.add(t);
    }
  return tokens;
}

/** Gathers a header's values under any spelling of its name. */
export function lookupHeader(headers: HeaderMap, name: string): string[] {
  const out: string[] = [];
  for (const key in headers) if (key === name || key.toLowerCase() === name) out.push(...headerValues(headers[key]));
  return out;
}

/** Removes hop-by-hop headers (and those named in Connection) from a member's response before it goes to the client. */
export function sanitizeResponseHeaders(headers: HeaderMap): Record<string, string | string[]> {
  const listed = connectionTokens(lookupHeader(headers, "connection"));
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const name = key.toLowerCase();
    if (name.startsWith(":") || RESPONSE_HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[key] = value;
  }
  return out;
}
