/**
 * ExchangeToken, after RFC 8693: a CI job's ID token from a trusted issuer is verified
 * against that issuer's published keys, held to the configured bound claims, mapped to a
 * subject and groups, and traded for a short-lived API key. The key is an ordinary one:
 * listed, revocable and expiring, created by `token-exchange:<issuer>`, so every exchange
 * leaves a record. The subject token itself is never stored or logged.
 */
import { randomBytes } from "node:crypto";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { decodeJwt, errors as jose, jwtVerify, type JWTPayload } from "jose";
import type { ExchangeTokenRequest, ExchangeTokenResponseSchema } from "../../gen/kubegate/v1/identity_pb.ts";
import { EXCHANGE_MAX_TTL_MS, type ExchangeIssuer } from "../config/token-exchange-config.ts";
import { errors, isKubegateError, type KubegateError } from "../errors.ts";
import { createRateLimiter } from "../net/rate-limit.ts";
import { audit } from "./audit.ts";
import type { ControlDeps } from "./deps.ts";
import { checkBoundClaims, mapIdentity } from "./exchange-policy.ts";
import { createApiKey } from "./api-keys.ts";
import { issuerKeySet, IssuerUnreachable, type IssuerKeys } from "./oidc-discovery.ts";
import { LIMITS } from "./validate.ts";

export const TOKEN_TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token";
export const TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt";
export const TOKEN_TYPE_API_KEY = "urn:kubegate:params:oauth:token-type:api-key";
/** Exchanged keys are created by `token-exchange:<issuer>`; maintenance prunes them a week after they end. */
export const EXCHANGED_KEY_CREATOR = "token-exchange:";
/** How long an ended exchanged key stays listed (the audit log keeps every exchange). */
export const EXCHANGED_KEY_RETENTION_MS = 7 * 24 * 3_600_000;

/** Clock skew allowed between kubegate and a CI issuer, in seconds. */
const CLOCK_TOLERANCE_S = 30;
/** Exchanges per mapped subject: enough for a wide CI matrix, not for a key-minting loop. */
const EXCHANGE_RATE = { perSecond: 2, burst: 60 };

export interface TokenExchange {
  exchange(req: ExchangeTokenRequest): Promise<MessageInitShape<typeof ExchangeTokenResponseSchema>>;
}

const q = (s: unknown) => JSON.stringify(s);

function checkTokenTypes(req: ExchangeTokenRequest): void {
  if (!["", TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT].includes(req.subjectTokenType))
    throw errors.invalid("subject_token_type", `must be ${TOKEN_TYPE_ID_TOKEN} or ${TOKEN_TYPE_JWT} (got ${q(req.subjectTokenType)})`);
  if (!["", TOKEN_TYPE_API_KEY].includes(req.requestedTokenType))
    throw errors.invalid("requested_token_type", `kubegate issues only ${TOKEN_TYPE_API_KEY} (got ${q(req.requestedTokenType)})`);
}

/** The token's claims, unverified: only to pick the issuer whose keys will verify it. */
function peek(token: string): JWTPayload {
  if (token === "") throw errors.invalid("subject_token", "is required: the CI job's ID token");
  if (token.length > LIMITS.token) throw errors.invalid("subject_token", `must be at most ${LIMITS.token} characters`);
  try {
    return decodeJwt(token);
  } catch {
    throw errors.invalid("subject_token", "is not a signed JWT (three base64url parts with a JSON claims set)");
  }
}

/** A verification failure in words a CI user can act on; unreachable keys are Unavailable. */
function verifyFailure(err: unknown, issuer: ExchangeIssuer): KubegateError {
  const code = err instanceof jose.JOSEError ? err.code : undefined;
  if (err instanceof IssuerUnreachable || code === undefined || code === "ERR_JWKS_TIMEOUT" || code === "ERR_JOSE_GENERIC" || code === "ERR_JWKS_INVALID")
    return errors.unavailable(`cannot fetch the signing keys of ${issuer.issuer}; try again later`, err);
  if (code === "ERR_JWT_EXPIRED") return errors.unauthenticated("the subject token has expired: fetch a fresh one from the CI issuer", err);
  if (err instanceof jose.JWTClaimValidationFailed) {
    if (err.claim === "aud") return errors.unauthenticated(`the subject token is for another audience: ask the CI issuer for audience ${q(issuer.audience)}`, err);
    if (err.claim === "nbf" || err.claim === "iat") return errors.unauthenticated("the subject token is not valid yet: check the clocks", err);
    return errors.unauthenticated(`the subject token's ${err.claim} claim is not acceptable (${err.reason})`, err);
  }
  if (code === "ERR_JWS_INVALID" || code === "ERR_JWT_INVALID") return errors.invalid("subject_token", "is not a well-formed signed JWT");
  return errors.unauthenticated(`the subject token's signature does not verify with the published keys of ${issuer.issuer}`, err);
}

/** The key's lifetime: what the job asks for, never beyond its issuer's ttl or 12 hours. */
function lifetimeMs(req: ExchangeTokenRequest, issuer: ExchangeIssuer): number {
  const cap = Math.min(issuer.ttlMs, EXCHANGE_MAX_TTL_MS);
  if (req.ttl === undefined) return cap;
  const asked = durationMs(req.ttl);
  if (!(asked > 0)) throw errors.invalid("ttl", "must be positive");
  return Math.min(asked, cap);
}

/** The exchange for the configured issuers, or undefined when none is (exchange is off). */
export function createTokenExchange(deps: ControlDeps): TokenExchange | undefined {
  const issuers = deps.settings.tokenExchangeIssuers ?? [];
  if (issuers.length === 0) return undefined;
  const { clock, log, settings } = deps;
  const trusted = new Map<string, { issuer: ExchangeIssuer; keys: () => Promise<IssuerKeys> }>(issuers.map((i) => [i.issuer, { issuer: i, keys: issuerKeySet(i.issuer) }]));
  const limiter = createRateLimiter({ ...EXCHANGE_RATE, clock: () => clock().getTime() });

  async function verify(token: string, issuer: ExchangeIssuer, keys: () => Promise<IssuerKeys>): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, await keys(), {
        issuer: issuer.issuer,
        audience: issuer.audience,
        algorithms: ["RS256", "ES256", "EdDSA"],
        requiredClaims: ["exp"],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: clock(),
      });
      return payload;
    } catch (err) {
      throw verifyFailure(err, issuer);
    }
  }

  return {
    async exchange(req) {
      let iss: unknown;
      try {
        checkTokenTypes(req);
        const claims = peek(req.subjectToken);
        iss = claims.iss;
        const entry = typeof iss === "string" ? trusted.get(iss) : undefined;
        if (entry === undefined) throw errors.unauthenticated(`the subject token's issuer ${q(iss ?? "")} is not one this kubegate trusts`);
        const { issuer } = entry;
        const payload = await verify(req.subjectToken, issuer, entry.keys);
        checkBoundClaims(issuer, payload);
        const { subject, groups } = mapIdentity(issuer, payload, settings);
        const wait = limiter.take(`${issuer.issuer}\n${subject}`);
        if (wait > 0) throw errors.rateLimited(`token exchange for ${subject}`, wait);
        const expiresAt = new Date(clock().getTime() + lifetimeMs(req, issuer));
        const { record, secret } = await createApiKey(deps, {
          name: `exchange-${randomBytes(4).toString("hex")}`,
          subject,
          groups,
          expiresAt,
          createdBy: EXCHANGED_KEY_CREATOR + issuer.issuer,
        });
        const jti = typeof payload.jti === "string" ? payload.jti : undefined;
        await audit(deps, { audit: "token.exchange", issuer: issuer.issuer, subject, groups, apiKey: record.id, jti, expiresAt }, "CI token exchanged for an API key");
        return { accessToken: secret, issuedTokenType: TOKEN_TYPE_API_KEY, expireTime: timestampFromDate(expiresAt), subject, groups, apiKeyId: record.id };
      } catch (err) {
        // Denials say little to the client and everything to the log (never the token).
        if (isKubegateError(err)) log.info({ audit: "token.exchange.refused", issuer: iss, code: err.kind, reason: err.rawMessage, err: err.cause }, "token exchange refused");
        throw err;
      }
    },
  };
}
