/**
 * ExchangeToken against a real OpenID provider (oidc-provider) standing in for a CI
 * issuer: a good token becomes a working, expiring, revocable API key with the mapped
 * subject and groups; every way a token can be wrong is refused with the right code and
 * words; an unreachable issuer is Unavailable; the token never reaches the log.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubegateClients, type KubegateClients } from "../../src/client/clients.ts";
import { TOKEN_TYPE_API_KEY, TOKEN_TYPE_JWT } from "../../src/control/token-exchange.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";
import { startIdp, type TestIdp } from "../support/idp.ts";
import { audienceClient, CI_SCOPE, idTokenFor } from "../support/idp-tokens.ts";

const ACCOUNTS = {
  deploy: { repository: "my-org/app", repository_owner: "my-org", ref: "refs/heads/main", environment: "prod" },
  "no-env": { repository: "my-org/app", repository_owner: "my-org", ref: "refs/heads/dev" },
  "no-ref": { repository: "my-org/app", repository_owner: "my-org" },
  foreign: { repository: "evil/app", repository_owner: "evil", ref: "refs/heads/main", environment: "prod" },
};

/** A CI-like issuer: the CI claims, and a client whose tokens carry aud "kubegate". */
const ciIdp = () => startIdp({ accounts: ACCOUNTS, clients: [audienceClient("kubegate")], scopes: CI_SCOPE });

const exchangeConfig = (issuer: string) => `issuers:
  - issuer: ${issuer}
    audience: kubegate
    subject: "ci:github:{repository}@{ref}"
    groups: ["ci:github:{repository_owner}", "ci", "ci:env:{environment}"]
    claims:
      repository_owner: my-org
    ttl: 30m
`;

/** The Connect error a call fails with (or undefined if it succeeds). */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );

let dir: string;
let idp: TestIdp;
let cp: TestControlPlane;
let anonymous: KubegateClients;
/** Starts a control plane trusting `issuer` (the shared IdP by default). */
async function controlPlaneFor(issuer: string, opts: { clock?: () => Date } = {}): Promise<TestControlPlane> {
  const file = join(dir, `exchange-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, exchangeConfig(issuer));
  return startTestControlPlane({ "token-exchange-config": file }, opts);
}
const anonymousTo = (plane: TestControlPlane) => createKubegateClients({ baseUrl: plane.url, caPem: plane.caPem });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kubegate-exchange-"));
  idp = await ciIdp();
  cp = await controlPlaneFor(idp.issuer);
  anonymous = anonymousTo(cp);
});
afterAll(async () => {
  await cp?.close();
  await idp?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("a token from the trusted issuer", () => {
  it("trades for an API key that speaks for the mapped subject and groups, for the configured time", async () => {
    expect((await anonymous.identity.getLoginConfig({})).tokenExchange).toBe(true);
    const token = await idTokenFor(idp, "deploy", { clientId: "kubegate" });
    const before = Date.now();
    const res = await anonymous.identity.exchangeToken({ subjectToken: token });
    expect(res).toMatchObject({
      issuedTokenType: TOKEN_TYPE_API_KEY,
      subject: "ci:github:my-org/app@refs/heads/main",
      groups: ["ci:github:my-org", "ci", "ci:env:prod"],
      apiKeyId: expect.stringMatching(/^ak-/) as unknown,
    });
    expect(res.accessToken).toMatch(/^kgk_/);
    const expires = timestampDate(res.expireTime!).getTime();
    expect(expires - before).toBeGreaterThanOrEqual(30 * 60_000 - 1000);
    expect(expires - Date.now()).toBeLessThanOrEqual(30 * 60_000);

    const me = await cp.clients(res.accessToken).identity.whoAmI({});
    expect(me).toMatchObject({ subject: res.subject, groups: res.groups, admin: false, authenticatedBy: "api-key", apiKeyId: res.apiKeyId });

    // An ordinary key: listed with who made it, and revocable.
    const { apiKeys } = await cp.clients().identity.listApiKeys({});
    const key = apiKeys.find((k) => k.id === res.apiKeyId)!;
    expect(key.name).toMatch(/^exchange-[0-9a-f]{8}$/);
    expect(key.createdBy).toBe(`token-exchange:${idp.issuer}`);
    expect(timestampDate(key.expireTime!).getTime()).toBe(expires);
    await cp.clients().identity.revokeApiKey({ id: res.apiKeyId });
    expect((await failure(cp.clients(res.accessToken).identity.whoAmI({})))?.code).toBe(Code.Unauthenticated);

    const audit = cp.logs.find((l) => l["audit"] === "token.exchange" && l["apiKey"] === res.apiKeyId);
    expect(audit).toMatchObject({ issuer: idp.issuer, subject: res.subject, groups: res.groups, expiresAt: new Date(expires).toISOString() });
    const logged = JSON.stringify(cp.logs);
    expect(logged).not.toContain(token.split(".")[2]);
    expect(logged).not.toContain(res.accessToken);
  });

  it("lives as long as asked, never beyond the issuer's ttl; a JWT token type is accepted too", async () => {
    const token = await idTokenFor(idp, "deploy", { clientId: "kubegate" });
    const short = await anonymous.identity.exchangeToken({ subjectToken: token, subjectTokenType: TOKEN_TYPE_JWT, requestedTokenType: TOKEN_TYPE_API_KEY, ttl: durationFromMs(10 * 60_000) });
    expect(timestampDate(short.expireTime!).getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(timestampDate(short.expireTime!).getTime() - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    const long = await anonymous.identity.exchangeToken({ subjectToken: token, ttl: durationFromMs(5 * 3_600_000) });
    expect(timestampDate(long.expireTime!).getTime() - Date.now()).toBeLessThanOrEqual(30 * 60_000);
  });

  it("leaves out a group whose claim is missing, and refuses a token missing the subject's claim", async () => {
    const noEnv = await anonymous.identity.exchangeToken({ subjectToken: await idTokenFor(idp, "no-env", { clientId: "kubegate" }) });
    expect(noEnv).toMatchObject({ subject: "ci:github:my-org/app@refs/heads/dev", groups: ["ci:github:my-org", "ci"] });
    const noRef = await failure(anonymous.identity.exchangeToken({ subjectToken: await idTokenFor(idp, "no-ref", { clientId: "kubegate" }) }));
    expect(noRef?.code).toBe(Code.PermissionDenied);
    expect(noRef?.rawMessage).toContain('no claim "ref"');
  });
});

describe("refusals", () => {
  it("a bound claim that does not match is PermissionDenied, naming the claim and not the expected value", async () => {
    const err = await failure(anonymous.identity.exchangeToken({ subjectToken: await idTokenFor(idp, "foreign", { clientId: "kubegate" }) }));
    expect(err?.code).toBe(Code.PermissionDenied);
    expect(err?.rawMessage).toContain('claim "repository_owner"');
    expect(err?.rawMessage).not.toContain("my-org");
    expect(cp.logs.some((l) => l["audit"] === "token.exchange.refused" && l["code"] === "forbidden")).toBe(true);
  });

  it("a token for another audience is Unauthenticated and says which audience to ask for", async () => {
    const err = await failure(anonymous.identity.exchangeToken({ subjectToken: await idTokenFor(idp, "deploy") }));
    expect(err?.code).toBe(Code.Unauthenticated);
    expect(err?.rawMessage).toBe('the subject token is for another audience: ask the CI issuer for audience "kubegate"');
  });

  it("a token from an issuer not configured is Unauthenticated", async () => {
    const other = await ciIdp();
    try {
      const err = await failure(anonymous.identity.exchangeToken({ subjectToken: await idTokenFor(other, "deploy", { clientId: "kubegate" }) }));
      expect(err?.code).toBe(Code.Unauthenticated);
      expect(err?.rawMessage).toBe(`the subject token's issuer "${other.issuer}" is not one this kubegate trusts`);
    } finally {
      await other.close();
    }
  });

  it("a token claiming the trusted issuer but signed with another key is Unauthenticated", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await new SignJWT({ ...ACCOUNTS.deploy, sub: "deploy" })
      .setProtectedHeader({ alg: "RS256", kid: "idp-1" })
      .setIssuer(idp.issuer)
      .setAudience("kubegate")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
    const err = await failure(anonymous.identity.exchangeToken({ subjectToken: forged }));
    expect(err?.code).toBe(Code.Unauthenticated);
    expect(err?.rawMessage).toBe(`the subject token's signature does not verify with the published keys of ${idp.issuer}`);
  });

  it("an expired token is Unauthenticated (the control plane's clock two hours on)", async () => {
    const token = await idTokenFor(idp, "deploy", { clientId: "kubegate" });
    const later = await controlPlaneFor(idp.issuer, { clock: () => new Date(Date.now() + 2 * 3_600_000) });
    try {
      const err = await failure(anonymousTo(later).identity.exchangeToken({ subjectToken: token }));
      expect(err?.code).toBe(Code.Unauthenticated);
      expect(err?.rawMessage).toBe("the subject token has expired: fetch a fresh one from the CI issuer");
    } finally {
      await later.close();
    }
  });

  it("malformed tokens, unknown token types and a bad ttl are InvalidArgument", async () => {
    const token = await idTokenFor(idp, "deploy", { clientId: "kubegate" });
    const cases: Array<[Parameters<KubegateClients["identity"]["exchangeToken"]>[0], string]> = [
      [{ subjectToken: "" }, "subject_token: is required"],
      [{ subjectToken: "not-a-jwt" }, "subject_token: is not a signed JWT"],
      [{ subjectToken: "a.b.c" }, "subject_token: is not a signed JWT"],
      [{ subjectToken: "x".repeat(20_000) }, "subject_token: must be at most"],
      [{ subjectToken: token, subjectTokenType: "urn:ietf:params:oauth:token-type:saml2" }, "subject_token_type: must be"],
      [{ subjectToken: token, requestedTokenType: "urn:ietf:params:oauth:token-type:access_token" }, "requested_token_type: kubegate issues only"],
      [{ subjectToken: token, ttl: durationFromMs(-1000) }, "ttl: must be positive"],
    ];
    for (const [req, message] of cases) {
      const err = await failure(anonymous.identity.exchangeToken(req));
      expect(err?.code, message).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toContain(message);
    }
  });

  it("an issuer that cannot be reached is Unavailable", async () => {
    const flaky = await ciIdp();
    const token = await idTokenFor(flaky, "deploy", { clientId: "kubegate" });
    const plane = await controlPlaneFor(flaky.issuer);
    try {
      await flaky.close();
      const err = await failure(anonymousTo(plane).identity.exchangeToken({ subjectToken: token }));
      expect(err?.code).toBe(Code.Unavailable);
      expect(err?.rawMessage).toBe(`cannot fetch the signing keys of ${flaky.issuer}; try again later`);
    } finally {
      await plane.close();
    }
  });
});

it("without --token-exchange-config the exchange is off and says so", async () => {
  const plain = await startTestControlPlane();
  try {
    expect((await anonymousTo(plain).identity.getLoginConfig({})).tokenExchange).toBe(false);
    expect((await failure(anonymousTo(plain).identity.exchangeToken({ subjectToken: "a.b.c" })))?.code).toBe(Code.FailedPrecondition);
  } finally {
    await plain.close();
  }
});
