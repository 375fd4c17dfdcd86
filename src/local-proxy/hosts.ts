/**
 * Which Host (and Origin) the local proxy answers. Like `kubectl proxy`, only loopback
 * names by default: a web page whose name an attacker re-points at 127.0.0.1 (DNS
 * rebinding) sends its own name as Host and is refused, and a page on another origin
 * cannot drive the proxy from a browser (a WebSocket exec included) because its Origin
 * is refused too.
 */

/** kubectl proxy's default --accept-hosts. */
export const DEFAULT_ACCEPT_HOSTS = "^localhost$,^127\\.0\\.0\\.1$,^\\[::1\\]$";

/** Compiles a comma-separated list of regular expressions; throws a readable Error on a bad one. */
export function parseAcceptHosts(spec: string): RegExp[] {
  const patterns = spec
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (patterns.length === 0) throw new Error("--accept-hosts must name at least one regular expression");
  return patterns.map((p) => {
    try {
      return new RegExp(p, "i");
    } catch (err) {
      throw new Error(`--accept-hosts: ${JSON.stringify(p)} is not a regular expression (${(err as Error).message})`);
    }
  });
}

/** The host part of a Host header: "[::1]:8001" → "[::1]", "localhost:8001" → "localhost". */
export function hostOf(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    if (end !== -1 && /^(:\d*)?$/.test(host.slice(end + 1))) return host.slice(0, end + 1);
    return host;
  }
  const m = /^([^:]*)(:\d*)?$/.exec(host);
  return m === null ? host : m[1]!;
}

/** True when the Host header names an accepted host (a missing Host is never accepted). */
export function hostAllowed(hostHeader: string | undefined, accept: RegExp[]): boolean {
  if (hostHeader === undefined || hostHeader.trim() === "") return false;
  const host = hostOf(hostHeader);
  return accept.some((re) => re.test(host));
}

/**
 * True when the request carries no Origin (curl, scripts, client libraries) or an Origin
 * whose host is accepted. "null" (sandboxed pages, file: URLs) is refused.
 */
export function originAllowed(origin: string | undefined, accept: RegExp[]): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  return accept.some((re) => re.test(url.hostname.toLowerCase()));
}
