/**
 * The claims of a data-plane token. One audience (one cluster) per token, so a token
 * leaked from one cluster's traffic opens no other cluster.
 */

/** Claims kubegate puts in every token beside the registered ones. */
export interface GatewayClaims {
  iss: string;
  sub: string;
  /** Exactly one cluster name. */
  aud: string;
  exp: number;
  iat: number;
  jti: string;
  groups: string[];
  /** Ids of the grants the token was minted under. */
  grants: string[];
}

/** The JWS algorithm we sign with and the only one we accept. */
export const TOKEN_ALG = "EdDSA";
