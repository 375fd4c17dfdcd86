/**
 * ID tokens from the test IdP as a client gets them: an authorization-code login with
 * PKCE through the scripted browser, a loopback callback on port 0, and the code redeemed
 * at the token endpoint. A CI job's token is such a token with CI claims (the `ci` scope)
 * and the audience of the client it was issued to.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { IDP_CLIENT_ID, type TestIdp } from "./idp.ts";

/** The claims a CI issuer puts in its tokens (GitHub's names), for `startIdp({ scopes })`. */
export const CI_SCOPE = { ci: ["repository", "repository_owner", "ref", "environment"] };

/** A public native client whose client_id is `audience`, for `startIdp({ clients })`. */
export function audienceClient(audience: string) {
  return {
    client_id: audience,
    application_type: "native" as const,
    token_endpoint_auth_method: "none" as const,
    redirect_uris: ["http://127.0.0.1/callback"],
    grant_types: ["authorization_code"],
    response_types: ["code" as const],
  };
}

/** Logs in as `account` and returns the ID token (aud = clientId). */
export async function idTokenFor(idp: TestIdp, account: string, opts: { clientId?: string; scope?: string } = {}): Promise<string> {
  const clientId = opts.clientId ?? IDP_CLIENT_ID;
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as { authorization_endpoint: string; token_endpoint: string };
  const callback = http.createServer((_req, res) => res.end("signed in\n"));
  callback.listen(0, "127.0.0.1");
  await once(callback, "listening");
  try {
    const redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    const verifier = randomBytes(32).toString("base64url");
    const state = randomBytes(8).toString("hex");
    const authorize = new URL(discovery.authorization_endpoint);
    authorize.search = new URLSearchParams({
      client_id: clientId,
      response_type: "code",
      redirect_uri: redirectUri,
      scope: opts.scope ?? "openid ci",
      state,
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    }).toString();
    const landed = new URL((await idp.browse(authorize.href, account)).url);
    const code = landed.searchParams.get("code");
    if (landed.pathname !== "/callback" || code === null || landed.searchParams.get("state") !== state) throw new Error(`login as ${account} did not reach the callback: ${landed.href}`);
    const res = await fetch(discovery.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code, code_verifier: verifier, client_id: clientId, redirect_uri: redirectUri }).toString(),
    });
    const body = (await res.json()) as { id_token?: string };
    if (!res.ok || body.id_token === undefined) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
    return body.id_token;
  } finally {
    callback.closeAllConnections();
    await new Promise((r) => callback.close(r));
  }
}
