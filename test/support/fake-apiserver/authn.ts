/**
 * Authentication like kube-apiserver's union authenticator: a verified client
 * certificate (CN = user, O = groups) or a bearer token from a table. A bearer
 * token that is present but unknown is a 401 even when anonymous access would do.
 */
import { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { identityFromCert } from "../../../src/tls/pki.ts";
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

/** The identity for a request, or undefined when it carries no credentials. Throws 401 for bad ones. */
export function authenticate(authorization: string | undefined, socket: TLSSocket, tokens: TokenTable): UserInfo | undefined {
  if (authorization !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    const entry = m ? tokens.get(m[1]!) : undefined;
    if (!entry) throw unauthorized();
    const user: UserInfo = { name: entry.user, groups: entry.groups ?? [] };
    if (entry.uid) user.uid = entry.uid;
    return withImpliedGroups(user);
  }
  if (socket.authorized) {
    const raw = socket.getPeerX509Certificate?.();
    if (raw) {
      const { user, groups } = identityFromCert(new X509Certificate(raw.raw));
      if (user) return withImpliedGroups({ name: user, groups });
    }
  }
  return undefined;
}
