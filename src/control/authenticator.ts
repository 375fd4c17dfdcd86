/**
 * Turns a bearer credential into a Caller: API keys (hashed at rest), the process's own
 * data-plane secret in the embedded mode, or an OIDC ID token from a configured issuer.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { jwtVerify } from "jose";
import { errors } from "../errors.ts";
import { hashSecret } from "../store/secret-hash.ts";
import type { Store } from "../store/types.ts";
import type { Caller } from "./caller.ts";
import { issuerDiscovery, type IssuerMetadata } from "./oidc-discovery.ts";

/** API key secrets look like this, so they are recognisable in a leak scanner. */
export const API_KEY_PREFIX = "kgk_";

export { hashSecret };

/** A new API key secret: prefix plus 256 random bits. */
export function newApiKeySecret(): string {
  return API_KEY_PREFIX + randomBytes(32).toString("base64url");
}

/** Seconds of clock difference from the identity provider that ID tokens are allowed. */
export const OIDC_CLOCK_TOLERANCE_S = 30;

export interface OidcOptions {
  issuerUrl: string;
  clientId: string;
  usernameClaim: string;
  groupsClaim: string;
  /** Prepended to OIDC user names, so they cannot collide with API-key subjects. */
  usernamePrefix: string;
  /** Prepended to OIDC group names; empty by default, so grants name the IdP's groups. */
  groupsPrefix?: string;
  /** The issuer's discovery, shared with the console login; created here when absent. */
  discovery?: () => Promise<IssuerMetadata>;
}

export interface AuthenticatorOptions {
  store: Store;
  adminGroup: string;
  dataPlaneGroup: string;
  /** The embedded data plane's secret, valid for this process only. */
  internalSecret?: string;
  oidc?: OidcOptions;
  clock?: () => Date;
}

export interface Authenticator {
  authenticate(authorization: string | null): Promise<Caller>;
}

export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const clock = opts.clock ?? (() => new Date());
  const internal = opts.internalSecret === undefined ? undefined : Buffer.from(opts.internalSecret);
  const discovery = opts.oidc === undefined ? undefined : (opts.oidc.discovery ?? issuerDiscovery(opts.oidc.issuerUrl));
  // Touching last_used on every call would write on every RPC; once a minute is enough.
  const touched = new Map<string, number>();

  function caller(subject: string, groups: string[], via: Caller["authenticatedBy"], apiKeyId = ""): Caller {
    return {
      subject,
      groups,
      admin: groups.includes(opts.adminGroup),
      dataPlane: groups.includes(opts.dataPlaneGroup),
      authenticatedBy: via,
      apiKeyId,
    };
  }

  async function fromApiKey(secret: string): Promise<Caller> {
    const key = await opts.store.apiKeys.findBySecretHash(hashSecret(secret));
    const now = clock();
    if (key === null) throw errors.unauthenticated("unknown API key");
    if (key.revokedAt !== null) throw errors.unauthenticated(`API key ${key.id} has been revoked`);
    if (key.expiresAt !== null && key.expiresAt <= now) throw errors.unauthenticated(`API key ${key.id} expired at ${key.expiresAt.toISOString()}`);
    if (now.getTime() - (touched.get(key.id) ?? 0) > 60_000) {
      touched.set(key.id, now.getTime());
      await opts.store.apiKeys.touch(key.id, now);
    }
    return caller(key.subject, key.groups, "api-key", key.id);
  }

  async function fromOidc(token: string, oidc: OidcOptions): Promise<Caller> {
    try {
      const { payload } = await jwtVerify(token, (await discovery!()).keys, {
        issuer: oidc.issuerUrl,
        audience: oidc.clientId,
        currentDate: clock(),
        // The issuer's clock and ours may differ a little; more than this is refused.
        clockTolerance: OIDC_CLOCK_TOLERANCE_S,
        algorithms: ["RS256", "ES256", "EdDSA", "PS256"],
      });
      const name = payload[oidc.usernameClaim];
      const groups = payload[oidc.groupsClaim];
      if (typeof name !== "string" || name === "") throw new Error(`claim ${oidc.usernameClaim} missing`);
      const groupList = Array.isArray(groups) ? groups.filter((g): g is string => typeof g === "string").map((g) => (oidc.groupsPrefix ?? "") + g) : [];
      return caller(oidc.usernamePrefix + name, groupList, "oidc");
    } catch (err) {
      throw errors.unauthenticated("the OIDC ID token is not valid for this kubegate", err);
    }
  }

  return {
    async authenticate(authorization) {
      if (authorization === null || authorization === "")
        throw errors.unauthenticated("missing credentials: send Authorization: Bearer <API key>");
      const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
      if (!m) throw errors.unauthenticated("malformed Authorization header: expected \"Bearer <API key>\"");
      const secret = m[1]!;
      if (internal !== undefined) {
        const given = Buffer.from(secret);
        if (given.length === internal.length && timingSafeEqual(given, internal)) {
          return caller("system:kubegate:data-plane", [opts.dataPlaneGroup], "internal");
        }
      }
      if (secret.startsWith(API_KEY_PREFIX)) return fromApiKey(secret);
      if (opts.oidc !== undefined && secret.split(".").length === 3) return fromOidc(secret, opts.oidc);
      throw errors.unauthenticated("unknown API key");
    },
  };
}
