/**
 * Where a client carries a bearer token: the Authorization header, or, for a WebSocket
 * (browsers cannot set Authorization on one), the subprotocol Kubernetes reads it from.
 */

/** Reads "Authorization: Bearer <token>"; undefined when absent or another scheme. */
export function bearerToken(authorization: string | string[] | undefined): string | undefined {
  const value = Array.isArray(authorization) ? authorization[0] : authorization;
  if (value === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m?.[1];
}

const WS_BEARER = "base64url.bearer.authorization.k8s.io.";

/** Browsers cannot set Authorization on a WebSocket; Kubernetes reads it from a subprotocol. */
export function webSocketBearer(protocols: string | string[] | undefined): string | undefined {
  const list = (Array.isArray(protocols) ? protocols.join(",") : (protocols ?? "")).split(",").map((p) => p.trim());
  const entry = list.find((p) => p.startsWith(WS_BEARER));
  if (entry === undefined) return undefined;
  try {
    return Buffer.from(entry.slice(WS_BEARER.length), "base64url").toString("utf8");
  } catch {
    return undefined;
  }
}
