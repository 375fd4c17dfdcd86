/**
 * Header hygiene on the data path (DESIGN, data path rules 4 and 5). The member trusts
 * the gateway's credential, so anything a client sends that the member would read as
 * identity (Authorization, Impersonate-*, X-Remote-*, cookies, the token in a WebSocket
 * subprotocol) is removed before the gateway adds the identity it vouches for. Hop-by-hop
 * headers go too (forward/hop-by-hop.ts).
 */

import { HOP_BY_HOP, connectionTokens, headerValues, lookupHeader, type HeaderMap } from "../forward/hop-by-hop.ts";
import type { IdentityMode } from "../store/types.ts";

/**
 * Credentials and identity claims a client must not pass through. `audit-id` is the
 * gateway's to set; `forwarded` is the standard spelling of X-Forwarded-*.
 */
const CLIENT_CREDENTIALS = new Set(["authorization", "proxy-authorization", "cookie", "host", "audit-id", "forwarded"]);
const CLIENT_IDENTITY_PREFIXES = ["impersonate-", "x-remote-", "x-forwarded-"];

/** The subprotocol in which kubectl and client-go carry a bearer token over WebSocket. */
const WEBSOCKET_BEARER_PREFIX = "base64url.bearer.authorization.k8s.io";

const CONTROL = /[\u0000-\u001f\u007f]/;

function hasIdentityPrefix(name: string): boolean {
  for (const prefix of CLIENT_IDENTITY_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

/** Removes what a client must never pass to a member; returns a new map. `dropContentLength`: for a bodiless request, whose declared length is not passed on. */
export function sanitizeRequestHeaders(headers: HeaderMap, opts: { keepUpgrade: boolean; dropContentLength?: boolean }): Record<string, string | string[]> {
  const listed = connectionTokens(lookupHeader(headers, "connection"));
  const upgrade = opts.keepUpgrade ? lookupHeader(headers, "upgrade") : [];
  const out: Record<string, string | string[]> = {};
  for (const key in headers) {
    const value = headers[key];
    if (value === undefined) continue;
    const name = key.toLowerCase();
    if (name.startsWith(":")) continue;
    if (HOP_BY_HOP.has(name) || CLIENT_CREDENTIALS.has(name)) continue;
    if (hasIdentityPrefix(name)) continue;
    if (listed.has(name)) continue;
    if (opts.dropContentLength === true && name === "content-length") continue;
    if (name === "sec-websocket-protocol") {
      const kept = stripWebSocketBearer(value);
      if (kept !== undefined) out[key] = kept;
      continue;
    }
    out[key] = value;
  }
  // An upgrade is the one connection-level request the member must see: exec, attach and
  // port-forward are upgrades. Connection is rebuilt so nothing else rides along with it.
  if (upgrade.length > 0) {
    out["connection"] = "Upgrade";
    out["upgrade"] = upgrade.length === 1 ? upgrade[0]! : upgrade.join(", ");
  }
  return out;
}

/** Drops entries of Sec-WebSocket-Protocol that carry a bearer token (base64url.bearer.authorization.k8s.io.*); returns undefined if none remain. */
export function stripWebSocketBearer(value: string | string[] | undefined): string | undefined {
  const kept: string[] = [];
  for (const v of headerValues(value))
    for (const entry of v.split(",")) {
      const protocol = entry.trim();
      if (protocol === "" || protocol.toLowerCase().startsWith(WEBSOCKET_BEARER_PREFIX)) continue;
      kept.push(protocol);
    }
  return kept.length === 0 ? undefined : kept.join(", ");
}

function headerValue(what: string, value: string): string {
  // A newline here would let a user or group name write headers of its own.
  if (CONTROL.test(value)) throw new Error(`${what} ${JSON.stringify(value)} contains a control character; refusing to send it as a header`);
  // Node writes header strings as latin1; names like "josé" must reach the member as the
  // UTF-8 bytes Kubernetes reads, so hand Node those bytes one per character.
  return /^[\x20-\x7e]*$/.test(value) ? value : Buffer.from(value, "utf8").toString("latin1");
}

/** The user's extra keys in the member (its audit log's `user.extra`): the grant that allowed the request and the token's id. */
export const GRANT_EXTRA = "kubegate.dev/grant";
export const TOKEN_ID_EXTRA = "kubegate.dev/token-id";

/**
 * The header families of each identity mode: Impersonate-* (the member checks the
 * gateway credential's impersonate permission), or the aggregation layer's request headers
 * (the member trusts them from the front-proxy certificate only). kube-apiserver's default
 * --requestheader-*-headers names; extra keys are percent-encoded after the prefix, as both
 * of its filters decode them.
 */
const IDENTITY_HEADERS: Record<IdentityMode, { user: string; group: string; extra: string }> = {
  impersonate: { user: "impersonate-user", group: "impersonate-group", extra: "impersonate-extra-" },
  "front-proxy": { user: "x-remote-user", group: "x-remote-group", extra: "x-remote-extra-" },
};

/** The header that carries an extra key in a mode: `impersonate-extra-kubegate.dev%2Fgrant`. */
export const extraHeader = (mode: IdentityMode, key: string) => IDENTITY_HEADERS[mode].extra + encodeURIComponent(key);

/**
 * The identity headers the gateway sets after sanitizing, in the cluster's identity mode
 * (one group header per group), with the grant and token ids as extras.
 */
export function identityHeaders(identity: {
  mode: IdentityMode;
  user: string;
  groups: string[];
  grantIds: string[];
  tokenId: string;
  prefix: string;
  /** Sent as Audit-Id; absent: no Audit-Id (the caller adds its own per request). */
  requestId?: string;
}): Record<string, string | string[]> {
  const { prefix, mode } = identity;
  const names = IDENTITY_HEADERS[mode];
  if (identity.user === "") throw new Error("the user must not be empty");
  const out: Record<string, string | string[]> = {
    [names.user]: headerValue("user", prefix + identity.user),
  };
  if (identity.groups.length > 0) out[names.group] = identity.groups.map((g) => headerValue("group", prefix + g));
  if (identity.grantIds.length > 0) out[extraHeader(mode, GRANT_EXTRA)] = identity.grantIds.map((id) => headerValue("grant id", id));
  if (identity.tokenId !== "") out[extraHeader(mode, TOKEN_ID_EXTRA)] = headerValue("token id", identity.tokenId);
  if (identity.requestId !== undefined) out["audit-id"] = requestIdHeader(identity.requestId);
  return out;
}

/** The Audit-Id header for a request id (the member's audit log records it). */
export const requestIdHeader = (requestId: string): string => headerValue("request id", requestId);

/** Percent-decodes (and '+' to space) once; a malformed escape stays as it is. */
function decodeQueryOnce(s: string): string {
  return s.replace(/\+/g, " ").replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * True when the raw query string contains the token (in any parameter, raw or percent-decoded).
 * Decodes repeatedly (a token is ASCII, so byte-wise decoding is exact) to catch
 * double-encoding, since some hop downstream might decode twice.
 */
export function queryCarriesToken(rawQuery: string, token: string): boolean {
  if (token === "") return false;
  let text = rawQuery;
  for (let round = 0; round < 4; round++) {
    if (text.includes(token)) return true;
    const next = decodeQueryOnce(text);
    if (next === text) return false;
    text = next;
  }
  return text.includes(token);
}
