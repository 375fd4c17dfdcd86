/**
 * OIDC ID tokens from a configured issuer authenticate callers (keys found by discovery);
 * tokens for another audience, from another issuer, or expired are refused.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createKubegateClients } from "../../src/client/clients.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";

let issuer: http.Server;
let issuerUrl: string;
let cp: TestControlPlane;
let sign: (claims: Record<string, unknown>, opts?: { aud?: string; iss?: string; exp?: string }) => Promise<string>;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  issuer = http.createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url === "/.well-known/openid-configuration") res.end(JSON.stringify({ issuer: issuerUrl, jwks_uri: `${issuerUrl}/keys` }));
    else if (req.url === "/keys") res.end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(404).end();
  });
  issuer.listen(0, "127.0.0.1");
  await once(issuer, "listening");
  issuerUrl = `http://127.0.0.1:${(issuer.address() as AddressInfo).port}`;
  sign = (claims, o = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer(o.iss ?? issuerUrl)
      .setAudience(o.aud ?? "kubegate")
      .setIssuedAt()
      .setExpirationTime(o.exp ?? "5m")
      .sign(privateKey);
  cp = await startTestControlPlane({ "oidc-issuer-url": issuerUrl, "oidc-client-id": "kubegate", "oidc-scopes": "openid groups email offline_access" });
});
afterAll(async () => {
  await cp.close();
  issuer.close();
});

it("accepts an ID token from the issuer and maps its claims", async () => {
  const token = await sign({ email: "alice@example.com", groups: ["dev", "ops"] });
  const me = await cp.clients(token).identity.whoAmI({});
  expect(me).toMatchObject({ subject: "oidc:alice@example.com", groups: ["dev", "ops"], authenticatedBy: "oidc", admin: false });
});

it("refuses a wrong audience, a foreign issuer and an expired token", async () => {
  for (const token of [
    await sign({ email: "a@x" }, { aud: "someone-else" }),
    await sign({ email: "a@x" }, { iss: "https://evil.example" }),
    await sign({ email: "a@x" }, { exp: "-1m" }),
    await sign({ groups: ["dev"] }),
  ]) {
    const err = await cp.clients(token).identity.whoAmI({}).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.Unauthenticated);
    expect(err?.rawMessage).toBe("the OIDC ID token is not valid for this kubegate");
  }
});

it("tells anyone how to log in, without credentials, and nothing more", async () => {
  const anonymous = createKubegateClients({ baseUrl: cp.url, caPem: cp.caPem });
  const config = await anonymous.identity.getLoginConfig({});
  expect(config.oidc).toMatchObject({ issuerUrl, clientId: "kubegate", scopes: ["openid", "groups", "email", "offline_access"] });
  expect(config.tokenExchange).toBe(false);
  // The exemption is for those two calls only: everything else still needs a credential.
  const err = await anonymous.identity.whoAmI({}).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code).toBe(Code.Unauthenticated);
  const exchange = await anonymous.identity.exchangeToken({ subjectToken: "x.y.z" }).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(exchange?.code).toBe(Code.FailedPrecondition);
});

it("has no OIDC login to offer when no issuer is configured", async () => {
  const plain = await startTestControlPlane();
  try {
    const config = await createKubegateClients({ baseUrl: plain.url, caPem: plain.caPem }).identity.getLoginConfig({});
    expect(config.oidc).toBeUndefined();
  } finally {
    await plain.close();
  }
});

it("reads groups from the configured claim, with the configured prefixes", async () => {
  const custom = await startTestControlPlane({
    "oidc-issuer-url": issuerUrl,
    "oidc-client-id": "kubegate",
    "oidc-username-claim": "preferred_username",
    "oidc-username-prefix": "sso:",
    "oidc-groups-claim": "roles",
    "oidc-groups-prefix": "idp:",
  });
  try {
    const token = await sign({ preferred_username: "alice", email: "ignored@example.com", groups: ["ignored"], roles: ["platform", 7, "ops"] });
    const me = await custom.clients(token).identity.whoAmI({});
    // Only strings count as groups; the default `groups` claim is not read any more.
    expect(me).toMatchObject({ subject: "sso:alice", groups: ["idp:platform", "idp:ops"], authenticatedBy: "oidc" });
  } finally {
    await custom.close();
  }
});

it("starts a console session from an ID token that ends when the token does", async () => {
  const token = await sign({ email: "dana@example.com", groups: ["dev"] }, { exp: "5m" });
  const anonymous = createKubegateClients({ baseUrl: cp.url, caPem: cp.caPem });
  const session = await anonymous.identity.startSession({ credential: token });
  expect(session.subject).toBe("oidc:dana@example.com");
  const exp = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number };
  expect(Number(session.expireTime!.seconds)).toBe(exp.exp);
  const foreign = await sign({ email: "dana@example.com" }, { iss: "https://evil.example" });
  const refused = await anonymous.identity.startSession({ credential: foreign }).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(refused?.code).toBe(Code.Unauthenticated);
});
