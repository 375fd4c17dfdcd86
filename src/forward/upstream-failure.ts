/**
 * What the client is told when the member cannot be reached or fails before answering:
 * a Status naming the cluster, the same for HTTP/2, HTTP/1.1 and upgrades.
 */
import { DataPathError } from "./kube-status.ts";

/** TLS errors that mean the peer's certificate does not verify against the CA we trust. */
export const TLS_FAILURES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
]);

/** Maps a failure to reach the member to the Status the client sees. */
export function upstreamFailure(cluster: string, err: NodeJS.ErrnoException & { statusCode?: number }): DataPathError {
  const name = JSON.stringify(cluster);
  const detail = `${err.code ?? ""} ${err.message}`.trim();
  const why = { detail, cause: err };
  if (err.code === "ECONNREFUSED") return new DataPathError("unavailable", `cluster ${name} refused the connection`, why);
  if (err.code === "KUBEGATE_CONNECT_TIMEOUT") return new DataPathError("timeout", `cluster ${name} could not be reached in time`, why);
  if (err.code === "KUBEGATE_RESPONSE_TIMEOUT" || err.code === "ETIMEDOUT")
    return new DataPathError("timeout", `cluster ${name} did not answer in time`, why);
  if (err.code !== undefined && TLS_FAILURES.has(err.code))
    return new DataPathError("badGateway", `cluster ${name} presented a certificate that its registered CA does not verify`, why);
  if (err.code === "ENOTFOUND" || err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH" || err.code === "EAI_AGAIN")
    return new DataPathError("unavailable", `cluster ${name} is unreachable`, why);
  return new DataPathError(err.statusCode === 503 ? "unavailable" : "badGateway", `cluster ${name} closed the connection unexpectedly`, why);
}

/**
 * The refusal for a member's redirect (301, 302, 303, 307, 308 and the rest of 3xx), or
 * undefined when the status may pass. Following or relaying a redirect could send the
 * client, or our credential, elsewhere (CVE-2020-8559). 304 Not Modified is no redirect:
 * it answers a conditional request (kubectl revalidates its discovery and OpenAPI cache
 * with If-None-Match) and passes on as the member sent it.
 */
export function redirectRefusal(cluster: string, status: number): DataPathError | undefined {
  if (status < 300 || status >= 400 || status === 304) return undefined;
  return new DataPathError("badGateway", `cluster ${JSON.stringify(cluster)} answered with a redirect (${status}), which kubegate does not follow or pass on`);
}
