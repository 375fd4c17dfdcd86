/**
 * Authentication like kube-apiserver's union authenticator, in its order:
 *
 * 1. Request headers (the aggregation layer's front proxy, when configured): only a client
 *    certificate that chains to the requestheader CA (--requestheader-client-ca-file), with
 *    its CN in the allowed names (--requestheader-allowed-names; an empty list allows every
 *    CN that CA signed), makes X-Remote-User, X-Remote-Group and X-Remote-Extra-* count.
 *    Extra keys are lowercased and then percent-decoded, as the apiserver does. Without
 *    such a certificate the headers are ignored and the next authenticator decides; a
 *    certificate of that CA with a CN not allowed is an error: 401 unless a later
 *    authenticator succeeds (kube-apiserver's union tries every one).
 * 2. A client certificate that chains to the client CA (CN = user, O = groups).
 * 3. A bearer token from a table. A bearer token that is present but unknown is a 401 even
 *    when anonymous access would do.
 */
import { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { identityFromCert } from "../../../src/tls/pki.ts";
import { headerValues } from "./http-io.ts";
import { type UserInfo, withImpliedGroups } from "./identity.ts";
import { unauthorized } from "./status.ts";

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

/** A certificate verifies against a CA: issued by it, signed by its key, and within its validity. */
export function chainsTo(cert: X509Certificate, cas: X509Certificate[], now = new Date()): boolean {
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) return false;
  return cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
}

/** kube-apiserver's unescapeExtraKey: a malformed escape leaves the key as it is. */
function unescapeExtraKey(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key;
  }
}

function fromRequestHeaders(cfg: RequestHeaderConfig, cert: X509Certificate, headers: Record<string, string | string[]>): UserInfo | "not allowed" | undefined {
  if (!chainsTo(cert, cfg.cas)) return undefined;
  const cn = identityFromCert(cert).user;
  if (cfg.allowedNames.length > 0 && !cfg.allowedNames.includes(cn)) return "not allowed";
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
  return withImpliedGroups(user);
}

/** The peer's certificate, if it sent one. */
function peerCertificate(socket: TLSSocket): X509Certificate | undefined {
  const raw = socket.getPeerX509Certificate?.();
  return raw === undefined ? undefined : new X509Certificate(raw.raw);
}

/** The CN of the peer's certificate, for the request log. */
export function peerCertificateCn(socket: TLSSocket): string | undefined {
  const cert = peerCertificate(socket);
  return cert === undefined ? undefined : identityFromCert(cert).user;
}

/**
 * The identity for a request and which authenticator gave it, or undefined when it carries
 * no credentials. Throws 401 for bad ones.
 */
export function authenticate(headers: Record<string, string | string[]>, socket: TLSSocket, a: Authenticators): { user: UserInfo; by: AuthenticatedBy } | undefined {
  const cert = peerCertificate(socket);
  const fromHeaders = cert === undefined || a.requestHeader === undefined ? undefined : fromRequestHeaders(a.requestHeader, cert, headers);
  if (fromHeaders !== undefined && fromHeaders !== "not allowed") return { user: fromHeaders, by: "requestheader" };
  if (cert !== undefined && chainsTo(cert, a.clientCas)) {
    const { user, groups } = identityFromCert(cert);
    if (user) return { user: withImpliedGroups({ name: user, groups }), by: "x509" };
  }
  const authorization = headerValues(headers, "authorization")[0];
  // Every authenticator failed, one of them with an error: no anonymous access then.
  if (authorization === undefined && fromHeaders === "not allowed") throw unauthorized();
  if (authorization !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    const entry = m ? a.tokens.get(m[1]!) : undefined;
    if (!entry) throw unauthorized();
    const user: UserInfo = { name: entry.user, groups: entry.groups ?? [] };
    if (entry.uid) user.uid = entry.uid;
    return { user: withImpliedGroups(user), by: "token" };
  }
  return undefined;
}

/** What kube-apiserver does after authentication: the request-header family never reaches later steps. */
export function withoutRequestHeaders(headers: Record<string, string | string[]>, cfg: RequestHeaderConfig | undefined): Record<string, string | string[]> {
  if (cfg === undefined) return headers;
  const names = new Set([...cfg.usernameHeaders, ...cfg.groupHeaders].map((h) => h.toLowerCase()));
  const prefixes = cfg.extraHeaderPrefixes.map((p) => p.toLowerCase());
  return Object.fromEntries(Object.entries(headers).filter(([h]) => !names.has(h) && !prefixes.some((p) => h.startsWith(p))));
}
