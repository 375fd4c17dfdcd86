/**
 * The console's OIDC login, the control plane's half, against a real OpenID provider: the
 * authorization endpoint comes from GetLoginConfig, the provider's redirect brings a code
 * to /console/, and StartSession redeems it with the PKCE verifier and checks the nonce.
 * A wrong verifier, a reused code, a foreign nonce and malformed requests are refused with
 * the right code; nothing is redeemed when OIDC is off or the provider is down.
 */
import { createHash, randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubegateClients } from "../../src/client/clients.ts";
import { SESSION_COOKIE } from "../../src/control/console-session.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";
import { startIdp, type TestIdp } from "../support/idp.ts";

const CLIENT = "kubegate-console";
let idp: TestIdp;
let cp: TestControlPlane;

beforeAll(async () => {
  idp = await startIdp({ accounts: { alice: { email: "alice@example.com", email_verified: true, groups: ["platform"] } } });
  cp = await startTestControlPlane({ "oidc-issuer-url": idp.issuer, "oidc-client-id": CLIENT, "oidc-scopes": "openid,email,groups,offline_access" });
  // A web client: its redirect URI names the control plane's port, known only now.
  idp.addClient({ client_id: CLIENT, token_endpoint_auth_method: "none", redirect_uris: [`${cp.url}/console/`], grant_types: ["authorization_code"], response_types: ["code"] });
});
afterAll(async () => {
  await cp?.close();
  await idp?.close();
});

const anonymous = () => createKubegateClients({ baseUrl: cp.url, caPem: cp.caPem });
const b64url = (b: Buffer) => b.toString("base64url");

async function refused(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  if (err === undefined) throw new Error("the call succeeded");
  return err;
}

/** Runs the authorization request as the console does, logs in as alice, returns what comes back to /console/. */
async function authorize(o: { nonce?: string } = {}) {
  const config = await anonymous().identity.getLoginConfig({});
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const nonce = o.nonce ?? b64url(randomBytes(16));
  const url = new URL(config.oidc!.authorizationEndpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.oidc!.clientId,
    redirect_uri: `${cp.url}/console/`,
    scope: "openid email groups",
    state,
    nonce,
    code_challenge: b64url(createHash("sha256").update(verifier).digest()),
    code_challenge_method: "S256",
  }).toString();
  const back = await idp.browse(url.href, "alice", { stopAt: `${cp.url}/console/` });
  const params = new URL(back.url).searchParams;
  expect(params.get("state")).toBe(state);
  return { code: params.get("code")!, codeVerifier: verifier, redirectUri: `${cp.url}/console/`, nonce };
}

describe("the console's OIDC login", () => {
  it("names the issuer's authorization endpoint, found by discovery", async () => {
    const config = await anonymous().identity.getLoginConfig({});
    expect(config.oidc).toMatchObject({ issuerUrl: idp.issuer, clientId: CLIENT, authorizationEndpoint: `${idp.issuer}/auth` });
  });

  it("redeems the code with the PKCE verifier and starts a session as the IdP's user", async () => {
    const code = await authorize();
    const headers = new Headers();
    const started = await anonymous().identity.startSession({ oidcCode: code }, { onHeader: (h) => h.forEach((v, k) => headers.append(k, v)) });
    expect(started).toMatchObject({ subject: "oidc:alice@example.com", groups: ["platform"], admin: false });
    const cookie = headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=v1:`));
    // The session ends with the ID token (an hour at this provider), not after 12 hours.
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)![1]);
    expect(maxAge).toBeGreaterThan(3600 - 60);
    expect(maxAge).toBeLessThanOrEqual(3600);
    expect(idp.grants["authorization_code"]).toBeGreaterThanOrEqual(1);

    // A code is good once.
    const again = await refused(anonymous().identity.startSession({ oidcCode: code }));
    expect(again.code).toBe(Code.Unauthenticated);
    expect(again.rawMessage).toMatch(/^the identity provider refused the login \(invalid_grant/);
  });

  it("refuses a verifier that does not match the challenge, and an ID token with another nonce", async () => {
    const code = await authorize();
    const wrong = await refused(anonymous().identity.startSession({ oidcCode: { ...code, codeVerifier: b64url(randomBytes(32)) } }));
    expect(wrong.code).toBe(Code.Unauthenticated);
    expect(wrong.rawMessage).toMatch(/invalid_grant/);

    const other = await authorize();
    const nonce = await refused(anonymous().identity.startSession({ oidcCode: { ...other, nonce: "not-the-one-sent" } }));
    expect(nonce.code).toBe(Code.Unauthenticated);
    expect(nonce.rawMessage).toBe("the ID token's nonce is not the one the login sent: log in again");
  });

  it("answers malformed requests with InvalidArgument and says which field", async () => {
    const good = { code: "c", codeVerifier: "v".repeat(43), redirectUri: `${cp.url}/console/`, nonce: "n" };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ oidcCode: { ...good, code: "" } }, /^oidc_code\.code: is required/],
      [{ oidcCode: { ...good, codeVerifier: "short" } }, /^oidc_code\.code_verifier: must be 43 to 128/],
      [{ oidcCode: { ...good, redirectUri: `${cp.url}/elsewhere` } }, /^oidc_code\.redirect_uri: must be the console's own/],
      [{ oidcCode: { ...good, redirectUri: "not a url" } }, /^oidc_code\.redirect_uri: is not a URL/],
      [{ oidcCode: good, credential: "kgk_x" }, /^credential: give a credential or an oidc_code, not both/],
    ];
    for (const [req, why] of cases) {
      const err = await refused(anonymous().identity.startSession(req));
      expect(err.code, JSON.stringify(req)).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(why);
    }
  });
});

describe("without an OIDC issuer, or with the issuer down", () => {
  it("refuses a code on a control plane with no issuer", async () => {
    const plain = await startTestControlPlane();
    try {
      const err = await refused(createKubegateClients({ baseUrl: plain.url, caPem: plain.caPem }).identity.startSession({ oidcCode: { code: "c", codeVerifier: "v".repeat(43), redirectUri: `${plain.url}/console/`, nonce: "n" } }));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toBe("this control plane has no OIDC issuer configured: log in with an API key");
    } finally {
      await plain.close();
    }
  });

  it("says the provider cannot be reached, and GetLoginConfig names no endpoint meanwhile", async () => {
    const down = await startIdp({ accounts: {} });
    const issuer = down.issuer;
    await down.close();
    const lonely = await startTestControlPlane({ "oidc-issuer-url": issuer, "oidc-client-id": CLIENT });
    try {
      const clients = createKubegateClients({ baseUrl: lonely.url, caPem: lonely.caPem });
      expect((await clients.identity.getLoginConfig({})).oidc).toMatchObject({ issuerUrl: issuer, authorizationEndpoint: "" });
      const err = await refused(clients.identity.startSession({ oidcCode: { code: "c", codeVerifier: "v".repeat(43), redirectUri: `${lonely.url}/console/`, nonce: "n" } }));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toMatch(/^cannot reach the identity provider: OIDC discovery at http:\/\/127\.0\.0\.1:\d+ failed/);
    } finally {
      await lonely.close();
    }
  });
});
