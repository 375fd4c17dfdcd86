/**
 * The web console's OIDC login, the control plane's half: the browser ran the
 * authorization request (PKCE S256, state, nonce) and brings back the code; the control
 * plane redeems it at the issuer's token endpoint as the public client, so the browser needs
 * no connection to the issuer beyond its redirects, and checks the nonce of the ID token.
 */
import { decodeJwt } from "jose";
import type { OidcAuthorizationCode } from "../../gen/kubegate/v1/identity_pb.ts";
import { errors } from "../errors.ts";
import { IssuerUnreachable, type IssuerMetadata } from "./oidc-discovery.ts";
import * as v from "./validate.ts";

/** Where the console's login comes back to: its own page. */
export const CONSOLE_REDIRECT_PATH = "/console/";

function checked(code: OidcAuthorizationCode): OidcAuthorizationCode {
  for (const [field, value] of [["code", code.code], ["code_verifier", code.codeVerifier], ["redirect_uri", code.redirectUri], ["nonce", code.nonce]] as const)
    if (value === "") throw errors.invalid(`oidc_code.${field}`, "is required");
  v.maxLength("oidc_code.code", code.code, 4096);
  // RFC 7636 §4.1: 43 to 128 unreserved characters.
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(code.codeVerifier)) throw errors.invalid("oidc_code.code_verifier", "must be 43 to 128 of [A-Za-z0-9._~-] (RFC 7636)");
  v.maxLength("oidc_code.nonce", code.nonce, 256);
  let redirect: URL;
  try {
    redirect = new URL(code.redirectUri);
  } catch {
    throw errors.invalid("oidc_code.redirect_uri", "is not a URL");
  }
  if (redirect.protocol !== "https:" || redirect.pathname !== CONSOLE_REDIRECT_PATH || redirect.search !== "" || redirect.hash !== "")
    throw errors.invalid("oidc_code.redirect_uri", `must be the console's own https://…${CONSOLE_REDIRECT_PATH} URL`);
  return code;
}

/** Redeems the code and returns the ID token, whose nonce matches; the caller authenticates it. */
export async function redeemAuthorizationCode(issuer: () => Promise<IssuerMetadata>, clientId: string, request: OidcAuthorizationCode): Promise<string> {
  const code = checked(request);
  let tokenEndpoint: string;
  try {
    tokenEndpoint = (await issuer()).tokenEndpoint;
  } catch (err) {
    if (err instanceof IssuerUnreachable) throw errors.unavailable(`cannot reach the identity provider: ${err.message}`, err);
    throw err;
  }
  if (tokenEndpoint === "") throw errors.precondition("the identity provider's discovery document names no token endpoint");
  const body = new URLSearchParams({ grant_type: "authorization_code", code: code.code, redirect_uri: code.redirectUri, client_id: clientId, code_verifier: code.codeVerifier });
  let res: Response;
  try {
    res = await fetch(tokenEndpoint, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" }, body, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw errors.unavailable(`cannot reach the identity provider's token endpoint ${tokenEndpoint}: ${(err as Error).message}`, err);
  }
  let answer: Record<string, unknown>;
  try {
    answer = (await res.json()) as Record<string, unknown>;
  } catch (err) {
    throw errors.unavailable(`the identity provider's token endpoint answered ${res.status} without JSON`, err);
  }
  if (!res.ok) {
    const why = [answer["error"], answer["error_description"]].filter((x) => typeof x === "string").join(": ");
    throw errors.unauthenticated(`the identity provider refused the login (${why || res.status}): log in again`);
  }
  const idToken = answer["id_token"];
  if (typeof idToken !== "string") throw errors.unauthenticated("the identity provider answered without an ID token: is openid among the scopes?");
  let nonce: unknown;
  try {
    nonce = decodeJwt(idToken).nonce;
  } catch (err) {
    throw errors.unauthenticated("the identity provider's ID token is not a JWT", err);
  }
  if (nonce !== code.nonce) throw errors.unauthenticated("the ID token's nonce is not the one the login sent: log in again");
  return idToken;
}
