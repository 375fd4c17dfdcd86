/**
 * An OpenID issuer's signing keys, found through discovery on first use: the login issuer
 * (authenticator) and each CI issuer (token exchange) keep one of these. A failed
 * discovery is not kept, so the next call tries again once the issuer is back.
 */
import { createRemoteJWKSet } from "jose";

export type IssuerKeys = ReturnType<typeof createRemoteJWKSet>;

/** A discovery or key-set fetch that failed: the issuer is unreachable or answers nonsense. */
export class IssuerUnreachable extends Error {
  override name = "IssuerUnreachable";
}

async function discover(issuerUrl: string): Promise<IssuerKeys> {
  let doc: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const res = await fetch(`${issuerUrl.replace(/\/$/, "")}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`OIDC discovery answered ${res.status}`);
    doc = (await res.json()) as typeof doc;
  } catch (err) {
    throw new IssuerUnreachable(`OIDC discovery at ${issuerUrl} failed: ${(err as Error).message}`, { cause: err });
  }
  if (doc.issuer !== issuerUrl || typeof doc.jwks_uri !== "string") throw new IssuerUnreachable(`OIDC discovery document of ${issuerUrl} does not match the issuer`);
  return createRemoteJWKSet(new URL(doc.jwks_uri));
}

/** Returns the issuer's key set, discovering it once; concurrent first calls share one discovery. */
export function issuerKeySet(issuerUrl: string): () => Promise<IssuerKeys> {
  let keys: Promise<IssuerKeys> | undefined;
  return () => {
    keys ??= discover(issuerUrl).catch((err: unknown) => {
      keys = undefined;
      throw err;
    });
    return keys;
  };
}
