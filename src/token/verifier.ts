/**
 * Verifies data-plane tokens against published keys with no I/O. A token's signature is
 * checked once; afterwards its claims come from a bounded cache until it expires, so the
 * data plane's hot path pays microseconds, not a signature check, per request.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { TOKEN_ALG, type GatewayClaims } from "./claims.ts";

/** Why a token was refused; logged, and mapped to a short 401 message for the client. */
export type TokenRejection =
  | "malformed"
  | "unknown-key"
  | "bad-signature"
  | "expired"
  | "wrong-issuer"
  | "wrong-audience"
  | "bad-claims";

/** A refused token. The reason is for the log; the client only learns it is unauthorized. */
export class TokenError extends Error {
  override name = "TokenError";
  constructor(
    readonly rejection: TokenRejection,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifierKey {
  kid: string;
  /** Base64url Ed25519 public key. */
  x: string;
}

export interface TokenVerifierOptions {
  issuer: string;
  /** Accepted clock skew for exp/iat, seconds (default 5). */
  leewaySeconds?: number;
  /** Cached verified tokens (default 50,000). */
  cacheSize?: number;
  clock?: () => number;
}

export interface TokenVerifier {
  /** Replaces the key set (from the sync stream or the store). */
  setKeys(keys: VerifierKey[]): void;
  /** Verifies signature, issuer, expiry and that the audience is `cluster`. */
  verify(token: string, cluster: string): Promise<GatewayClaims>;
}

function parseClaims(payload: JWTPayload): GatewayClaims {
  const { iss, sub, aud, exp, iat, jti } = payload;
  const groups = payload["groups"];
  const grants = payload["grants"];
  const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
  if (
    typeof iss !== "string" ||
    typeof sub !== "string" ||
    sub === "" ||
    typeof aud !== "string" ||
    typeof exp !== "number" ||
    typeof iat !== "number" ||
    typeof jti !== "string" ||
    !isStrings(groups) ||
    !isStrings(grants)
  ) {
    throw new TokenError("bad-claims", "token lacks kubegate claims");
  }
  return { iss, sub, aud, exp, iat, jti, groups, grants };
}

/** Creates a verifier with an empty key set. */
export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const clock = opts.clock ?? Date.now;
  const leeway = opts.leewaySeconds ?? 5;
  const cacheSize = opts.cacheSize ?? 50_000;
  let keys = new Map<string, KeyObject>();
  const cache = new Map<string, GatewayClaims & { kid: string }>();

  function checkTime(claims: GatewayClaims): void {
    if (claims.exp + leeway <= clock() / 1000) throw new TokenError("expired", "token has expired");
  }

  return {
    setKeys(next) {
      keys = new Map(next.map((k) => [k.kid, createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: k.x }, format: "jwk" })]));
      for (const [token, claims] of cache) if (!keys.has(claims.kid)) cache.delete(token);
    },

    async verify(token, cluster) {
      let claims = cache.get(token);
      if (claims === undefined) {
        let kid = "";
        try {
          const { payload } = await jwtVerify(
            token,
            (header) => {
              kid = header.kid ?? "";
              const key = keys.get(kid);
              if (key === undefined) throw new TokenError("unknown-key", `token signed by unknown key ${JSON.stringify(kid)}`);
              return key;
            },
            { algorithms: [TOKEN_ALG], issuer: opts.issuer, clockTolerance: leeway, currentDate: new Date(clock()) },
          );
          claims = { ...parseClaims(payload), kid };
        } catch (err) {
          if (err instanceof TokenError) throw err;
          if (err instanceof joseErrors.JWTExpired) throw new TokenError("expired", "token has expired");
          if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new TokenError("bad-signature", "token signature is invalid");
          if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === "iss")
            throw new TokenError("wrong-issuer", "token was issued by someone else");
          throw new TokenError("malformed", `token is not a valid kubegate token (${(err as Error).message})`);
        }
        if (cache.size >= cacheSize) {
          const oldest = cache.keys().next();
          if (!oldest.done) cache.delete(oldest.value);
        }
        cache.set(token, claims);
      }
      checkTime(claims);
      if (claims.aud !== cluster) throw new TokenError("wrong-audience", `token is for cluster ${JSON.stringify(claims.aud)}`);
      return claims;
    },
  };
}
