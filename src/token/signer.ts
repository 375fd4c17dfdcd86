/**
 * Signs data-plane tokens with Ed25519 keys kept in the store. A key signs for one
 * rotation period, then stays published until every token it signed has expired, so
 * rotation never breaks a live token.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type JsonWebKey, type KeyObject } from "node:crypto";
import type { JWK } from "jose";
import type { SigningKeyRecord, Store } from "../store/types.ts";
import { TOKEN_ALG, type GatewayClaims } from "./claims.ts";

export interface TokenSignerOptions {
  keys: Store["signingKeys"];
  issuer: string;
  /** How long one key signs new tokens (default 24 h). */
  rotationPeriodMs?: number;
  /** The longest ttl any token can have; keys stay published this long after they stop signing. */
  maxTtlMs: number;
  clock?: () => Date;
}

/** What a caller asks to have signed; the signer fills iss, iat, exp and jti. */
export interface TokenRequest {
  subject: string;
  cluster: string;
  groups: string[];
  grants: string[];
  ttlMs: number;
}

export interface SignedToken {
  token: string;
  jti: string;
  kid: string;
  issuedAt: Date;
  expiresAt: Date;
  claims: GatewayClaims;
}

/** A public signing key as published (JWKS) and synced to the data plane. */
export type PublicSigningKey = Omit<SigningKeyRecord, "privateJwk">;

export interface TokenSigner {
  sign(req: TokenRequest): Promise<SignedToken>;
  /** Keys whose tokens may still be valid, oldest first. */
  publicKeys(): Promise<PublicSigningKey[]>;
  /** Stops the current key from signing; the next sign creates a new one. */
  rotate(): Promise<void>;
  /** Makes sure a key is ready, so keys are published before the first token is minted. */
  ensureKey(): Promise<void>;
}

/** Creates a signer; keys are created lazily, so a fresh store needs no set-up. */
export function createTokenSigner(opts: TokenSignerOptions): TokenSigner {
  const clock = opts.clock ?? (() => new Date());
  const rotationPeriodMs = opts.rotationPeriodMs ?? 24 * 60 * 60 * 1000;
  let active: { kid: string; activeUntil: number; key: KeyObject } | undefined;
  let creating: Promise<void> | undefined;

  async function createKey(now: Date): Promise<void> {
    const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
    const kid = `${now.toISOString().slice(0, 10).replaceAll("-", "")}-${randomBytes(6).toString("hex")}`;
    const activeUntil = new Date(now.getTime() + rotationPeriodMs);
    await opts.keys.insert({
      kid,
      privateJwk: JSON.stringify(jwk),
      publicX: jwk.x ?? "",
      createdAt: now,
      activeUntil,
      retireAt: new Date(activeUntil.getTime() + opts.maxTtlMs),
    });
  }

  async function load(now: Date): Promise<void> {
    const current = (await opts.keys.list(now)).filter((k) => k.activeUntil.getTime() > now.getTime()).at(-1);
    if (current === undefined) {
      active = undefined;
      return;
    }
    const jwk = JSON.parse(current.privateJwk) as JsonWebKey;
    active = { kid: current.kid, activeUntil: current.activeUntil.getTime(), key: createPrivateKey({ key: jwk, format: "jwk" }) };
  }

  async function activeKey(now: Date): Promise<NonNullable<typeof active>> {
    while (active === undefined || active.activeUntil <= now.getTime()) {
      if (creating === undefined) {
        creating = (async () => {
          await load(now);
          if (active === undefined) {
            await createKey(now);
            await load(now);
          }
        })().finally(() => (creating = undefined));
      }
      await creating;
    }
    return active;
  }

  return {
    async sign(req) {
      const now = clock();
      const key = await activeKey(now);
      const iat = Math.floor(now.getTime() / 1000);
      const exp = Math.floor((now.getTime() + req.ttlMs) / 1000);
      const jti = randomBytes(16).toString("base64url");
      const claims: GatewayClaims = {
        iss: opts.issuer,
        sub: req.subject,
        aud: req.cluster,
        exp,
        iat,
        jti,
        groups: req.groups,
        grants: req.grants,
      };
      // Signed with node:crypto directly: a fraction of the cost of WebCrypto for Ed25519.
      const header = b64url({ alg: TOKEN_ALG, kid: key.kid, typ: "JWT" });
      const payload = b64url(claims);
      const signature = sign(null, Buffer.from(`${header}.${payload}`), key.key).toString("base64url");
      const token = `${header}.${payload}.${signature}`;
      return { token, jti, kid: key.kid, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000), claims };
    },

    async publicKeys() {
      return (await opts.keys.list(clock())).map(({ privateJwk: _secret, ...pub }) => pub);
    },

    async ensureKey() {
      await activeKey(clock());
    },

    async rotate() {
      const now = clock();
      const key = await activeKey(now);
      // Its tokens expire within maxTtl of now, so it need not be published longer than that.
      await opts.keys.setActiveUntil(key.kid, now, new Date(now.getTime() + opts.maxTtlMs));
      active = undefined;
    },
  };
}

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** The RFC 7517 JWKS document for the given public keys. */
export function toJwks(keys: PublicSigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => ({ kty: "OKP", crv: "Ed25519", x: k.publicX, kid: k.kid, alg: TOKEN_ALG, use: "sig" })) };
}
