/**
 * An OpenID issuer's discovery document and signing keys, found on first use: the login
 * issuer (authenticator, console login) and each CI issuer (token exchange) keep one of
 * these. A failed discovery is not kept, so the next call tries again once the issuer is back.
 */
import { createRemoteJWKSet } from "jose";

export type IssuerKeys = ReturnType<typeof createRemoteJWKSet>;

/** What kubegate uses of an issuer's /.well-known/openid-configuration. */
export interface IssuerMetadata {
  keys: IssuerKeys;
  /** Empty when the document names none. */
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

/** A discovery or key-set fetch that failed: the issuer is unreachable or answers nonsense. */
export class IssuerUnreachable extends Error {
  override name = "IssuerUnreachable";
}

const endpoint = (value: unknown): string => (typeof value === "string" && /^https?:\/\//.test(value) ? value : "");

async function discover(issuerUrl: string): Promise<IssuerMetadata> {
  let doc: { issuer?: unknown; jwks_uri?: unknown; authorization_endpoint?: unknown; token_endpoint?: unknown };
  try {
    const res = await fetch(`${issuerUrl.replace(/\/$/, "")}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`OIDC discovery answered ${res.status}`);
    doc = (await res.json()) as typeof doc;
  } catch (err) {
    throw new IssuerUnreachable(`OIDC discovery at ${issuerUrl} failed: ${(err as Error).message}`, { cause: err });
  }
  if (doc.issuer !== issuerUrl || typeof doc.jwks_uri !== "string") throw new IssuerUnreachable(`OIDC discovery document of ${issuerUrl} does not match the issuer`);
  return {
    keys: createRemoteJWKSet(new URL(doc.jwks_uri)),
    authorizationEndpoint: endpoint(doc.authorization_endpoint),
    tokenEndpoint: endpoint(doc.token_endpoint),
  };
}

/** Returns the issuer's metadata, discovering it once; concurrent first calls share one discovery. */
export function issuerDiscovery(issuerUrl: string): () => Promise<IssuerMetadata> {
  let metadata: Promise<IssuerMetadata> | undefined;
  return () => {
    metadata ??= discover(issuerUrl).catch((err: unknown) => {
      metadata = undefined;
      throw err;
    });
    return metadata;
  };
}

/** Returns the issuer's key set, discovering it once. */
export function issuerKeySet(issuerUrl: string): () => Promise<IssuerKeys> {
  const discovered = issuerDiscovery(issuerUrl);
  return async () => (await discovered()).keys;
}
