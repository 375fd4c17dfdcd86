/**
 * Authentication like kube-apiserver's union authenticator, in its order; the first that
 * names a user wins, and when none does, an error from any of them is a 401 (anonymous
 * access is only for requests no authenticator objected to):
 *
 * 1. Request headers (the aggregation layer's front proxy, when configured): a client
 *    certificate that chains to the requestheader CA (--requestheader-client-ca-file), with
 *    its CN in the allowed names (--requestheader-allowed-names; an empty list allows every
 *    CN that CA signed), makes X-Remote-User, X-Remote-Group and X-Remote-Extra-* count.
 *    Extra keys are lowercased and then percent-decoded, as the apiserver does. A verified
 *    certificate without a user header has nothing to say; any other certificate (another
 *    CA, expired, a CN not allowed) is an error.
 * 2. A client certificate that chains to the client CA (CN = user, O = groups; no CN: nothing
 *    to say). Any other certificate is an error, so one the API server cannot verify is a
 *    401 unless a later authenticator names a user, never anonymous.
 * 3. A bearer token from a table. A bearer token that is present but unknown is an error.
 *
 * The TLS server requests a certificate and lets every handshake through; whether the chain
 * verifies (signature, validity, clientAuth usage) is OpenSSL's verdict on the socket, and
 * which CA it ends at decides which authenticator it counts for.
 */
import { X509Certificate } from "node:crypto";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import { identityFromCert } from "../../../src/tls/pki.ts";
import { headerValues } from "./http-io.ts";
import { type UserInfo, withImpliedGroups } from "./identity.ts";

/** Token table entry. */
export interface TokenUser {
  user: string;
  groups?: string[];
  uid?: string;
}

/** The token table, mutable at runtime through the handle. */
export type TokenTable = Map<string, TokenUser>;

/** kube-apiserver's --requestheader-* flags. */
export interface RequestHeaderConfig {
  /** --requestheader-client-ca-file: the CAs a front proxy's certificate must chain to. */
  cas: X509Certificate[];
  /** --requestheader-allowed-names: CNs allowed; empty = any CN those CAs signed. */
  allowedNames: string[];
  /** --requestheader-username-headers (first non-empty wins). */
  usernameHeaders: string[];
  /** --requestheader-group-headers. */
  groupHeaders: string[];
  /** --requestheader-extra-headers-prefix. */
  extraHeaderPrefixes: string[];
}

/** What each authenticator needs. */
export interface Authenticators {
  tokens: TokenTable;
  /** --client-ca-file. */
  clientCas: X509Certificate[];
  requestHeader?: RequestHeaderConfig;
}

/** The authenticator that answered, for the request log. */
export type AuthenticatedBy = "requestheader" | "x509" | "token";

/** A user and the authenticator that named it. */
export interface Authenticated {
  user: UserInfo;
  by: AuthenticatedBy;
}

/** The union's verdict: a user, every authenticator's error (a 401), or no credentials at all. */
export type Authentication = Authenticated | { errors: string[] } | undefined;

/** One authenticator's answer: a user, an error, or nothing to say. */
type Answer = Authenticated | { error: string } | undefined;

/** The client certificate as the TLS handshake verified it. */
export interface PeerCertificate {
  leaf: X509Certificate;
  /** SHA-256 fingerprint of the top of the chain OpenSSL built: a trusted CA when the chain verifies. */
  root: string;
  /** OpenSSL's verify error (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, INVALID_PURPOSE...), if any. */
  tlsError?: string;
}

const UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority";
const NOT_VALID_NOW = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);

/** The peer's certificate and the TLS verdict on it, if it sent one. */
export function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const raw = socket.getPeerX509Certificate?.();
  if (raw === undefined) return undefined;
  // A self-signed CA is its own issuer: the walk stops there, or at the last certificate found.
  let top = socket.getPeerCertificate(true) as DetailedPeerCertificate;
  while (top.issuerCertificate?.fingerprint256 !== undefined && top.issuerCertificate.fingerprint256 !== top.fingerprint256) top = top.issuerCertificate;
  const leaf = new X509Certificate(raw.raw);
  const tlsError = socket.authorized ? undefined : String(socket.authorizationError);
  return { leaf, root: top.fingerprint256, ...(tlsError === undefined ? {} : { tlsError }) };
}

/**
 * Why the certificate does not verify against these CAs, in Go's words (validity first, as
 * x509.Verify checks it), or undefined when it does.
 */
export function verifyError(peer: PeerCertificate, cas: X509Certificate[]): string | undefined {
  if (peer.tlsError !== undefined && NOT_VALID_NOW.has(peer.tlsError)) {
    const late = peer.tlsError === "CERT_HAS_EXPIRED";
    const bound = new Date(late ? peer.leaf.validTo : peer.leaf.validFrom).toISOString();
    return `x509: certificate has expired or is not yet valid: current time ${new Date().toISOString()} is ${late ? "after" : "before"} ${bound}`;
  }
  if (!cas.some((ca) => ca.fingerprint256 === peer.root)) return UNKNOWN_AUTHORITY;
  if (peer.tlsError === "INVALID_PURPOSE") return "x509: certificate specifies an incompatible key usage";
  if (peer.tlsError !== undefined) return `x509: ${peer.tlsError}`;
  return undefined;
}

/** kube-apiserver's unescapeExtraKey: a malformed escape leaves the key as it is. */
function unescapeExtraKey(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key;
  }
}

function fromRequestHeaders(cfg: RequestHeaderConfig, peer: PeerCertificate | undefined, headers: Record<string, string | string[]>): Answer {
  if (peer === undefined) return undefined;
  const unverified = verifyError(peer, cfg.cas);
  if (unverified !== undefined) return { error: unverified };
  const cn = identityFromCert(peer.leaf).user;
  if (cfg.allowedNames.length > 0 && !cfg.allowedNames.includes(cn)) return { error: `x509: subject with cn=${cn} is not in the allowed list` };
  const name = cfg.usernameHeaders.map((h) => headerValues(headers, h.toLowerCase())[0] ?? "").find((v) => v !== "");
  if (name === undefined) return undefined;
  const groups = cfg.groupHeaders.flatMap((h) => headerValues(headers, h.toLowerCase()));
  const extra: Record<string, string[]> = {};
  for (const [header, value] of Object.entries(headers)) {
    const prefix = cfg.extraHeaderPrefixes.map((p) => p.toLowerCase()).find((p) => header.startsWith(p));
    if (prefix === undefined) continue;
    const key = unescapeExtraKey(header.slice(prefix.length));
    extra[key] = [...(extra[key] ?? []), ...(Array.isArray(value) ? value : [value])];
  }
  const user: UserInfo = { name, groups };
  if (Object.keys(extra).length > 0) user.extra = extra;
  return { user: withImpliedGroups(user), by: "requestheader" };
}

function fromClientCertificate(cas: X509Certificate[], peer: PeerCertificate | undefined): Answer {
  if (peer === undefined) return undefined;
  const unverified = verifyError(peer, cas);
  if (unverified !== undefined) return { error: `verifying certificate SN=${BigInt(`0x${peer.leaf.serialNumber}`)} failed: ${unverified}` };
  const { user, groups } = identityFromCert(peer.leaf);
  return user ? { user: withImpliedGroups({ name: user, groups }), by: "x509" } : undefined;
}

function fromBearerToken(tokens: TokenTable, headers: Record<string, string | string[]>): Answer {
  const authorization = headerValues(headers, "authorization")[0];
  if (authorization === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const entry = m ? tokens.get(m[1]!) : undefined;
  if (!entry) return { error: "invalid bearer token" };
  const user: UserInfo = { name: entry.user, groups: entry.groups ?? [] };
  if (entry.uid) user.uid = entry.uid;
  return { user: withImpliedGroups(user), by: "token" };
}

/** The CN of the peer's certificate, for the request log. */
export function peerCertificateCn(socket: TLSSocket): string | undefined {
  const peer = peerCertificate(socket);
  return peer === undefined ? undefined : identityFromCert(peer.leaf).user;
}

/** The union of the authenticators, in kube-apiserver's order. */
export function authenticate(headers: Record<string, string | string[]>, socket: TLSSocket, a: Authenticators): Authentication {
  const peer = peerCertificate(socket);
  const answers = [a.requestHeader === undefined ? undefined : fromRequestHeaders(a.requestHeader, peer, headers), fromClientCertificate(a.clientCas, peer), fromBearerToken(a.tokens, headers)];
  const named = answers.find((x): x is Authenticated => x !== undefined && "user" in x);
  if (named !== undefined) return named;
  const errors = answers.flatMap((x) => (x !== undefined && "error" in x ? [x.error] : []));
  return errors.length > 0 ? { errors } : undefined;
}

/** What kube-apiserver does after authentication: the request-header family never reaches later steps. */
export function withoutRequestHeaders(headers: Record<string, string | string[]>, cfg: RequestHeaderConfig | undefined): Record<string, string | string[]> {
  if (cfg === undefined) return headers;
  const names = new Set([...cfg.usernameHeaders, ...cfg.groupHeaders].map((h) => h.toLowerCase()));
  const prefixes = cfg.extraHeaderPrefixes.map((p) => p.toLowerCase());
  return Object.fromEntries(Object.entries(headers).filter(([h]) => !names.has(h) && !prefixes.some((p) => h.startsWith(p))));
}
