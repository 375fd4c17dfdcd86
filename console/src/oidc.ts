/**
 * Logging in through the OIDC issuer: authorization code with PKCE S256, state and nonce
 * (RFC 7636, OIDC Core). The browser sends the person to the issuer and back to /console/;
 * the control plane redeems the code (StartSession), so this page never holds a token. The
 * verifier, state and nonce wait in sessionStorage for the round trip only.
 */
import type { OidcLogin } from "../../gen/kubegate/v1/identity_pb.ts";
import { identity } from "./api.ts";

const PENDING = "kubegate.oidc-login";

const base64url = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n: number): string => base64url(crypto.getRandomValues(new Uint8Array(n)));
const redirectUri = (): string => `${location.origin}/console/`;

/** Sends the browser to the issuer's login. */
export async function startOidcLogin(oidc: OidcLogin): Promise<void> {
  const verifier = random(32);
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const state = random(16);
  const nonce = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce }));
  const url = new URL(oidc.authorizationEndpoint);
  // No refresh token: the console session ends with the ID token.
  const scopes = oidc.scopes.filter((s) => s !== "offline_access");
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: (scopes.includes("openid") ? scopes : ["openid", ...scopes]).join(" "),
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/**
 * On the way back from the issuer: undefined when this load is no login's return; else the
 * session is started (resolves) or the failure is thrown in words for the login page.
 */
export function finishOidcLogin(): Promise<void> | undefined {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return undefined;
  const pending = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  // The code must not linger in the address bar or the history.
  history.replaceState(null, "", location.pathname + location.hash);
  return (async () => {
    const error = params.get("error");
    if (error !== null) throw new Error(`the identity provider ended the login: ${error}${params.has("error_description") ? `: ${params.get("error_description")}` : ""}`);
    if (pending === null) throw new Error("this login was not started from this browser tab: log in again");
    const { verifier, state, nonce } = JSON.parse(pending) as { verifier: string; state: string; nonce: string };
    if (params.get("state") !== state) throw new Error("the login's state does not match: log in again");
    await identity.startSession({ oidcCode: { code: params.get("code")!, codeVerifier: verifier, redirectUri: redirectUri(), nonce } });
  })();
}
