/**
 * Single sign-on against a real OpenID provider (oidc-provider, in-process): `kubegate
 * login --oidc` through a browser (code + PKCE on a loopback redirect) and `--device`,
 * the exec plugin refreshing one login for twenty parallel kubectl calls, failing fast
 * when kubectl is not interactive and logging in again when it is, groups from the IdP
 * matching group grants, and the refusals: expired and revoked refresh tokens, a wrong
 * audience, a foreign issuer, clock skew, an IdP that is down.
 */
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createKubegateClients } from "../../src/client/clients.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { startTestControlPlane } from "../support/control-plane.ts";
import { clusterRoleBinding } from "../support/fake-apiserver/index.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { startIdp, type TestIdp } from "../support/idp.ts";
import { KUBECTL, clientEnv, run } from "../support/programs.ts";

/** Short ID tokens, so refreshes happen within a test. */
const ID_TOKEN_TTL_S = 12;

let idp: TestIdp;
let gw: TestGateway;
let caFile: string;
const users: CliUser[] = [];
const oidcFlags = (issuer: string, clientId = "kubegate-cli") => ({ "oidc-issuer-url": issuer, "oidc-client-id": clientId, "oidc-scopes": "openid email groups offline_access" });

beforeAll(async () => {
  idp = await startIdp({
    idTokenTtlSeconds: ID_TOKEN_TTL_S,
    accounts: {
      alice: { email: "alice@example.com", groups: ["platform", "dev"] },
      bob: { email: "bob@example.com", groups: ["platform"] },
      carol: { email: "carol@example.com", groups: ["platform"] },
      dave: { email: "dave@example.com", groups: ["platform"] },
      erin: { email: "erin@example.com", groups: ["sales"] },
    },
  });
  gw = await startTestGateway({ flags: oidcFlags(idp.issuer) });
  // One grant to the IdP's group `platform`, and the member's RBAC for that group.
  await gw.admin.grants.createGrant({ cluster: "member", subject: { kind: SubjectKind.GROUP, name: "platform" }, role: Role.VIEW });
  await gw.member.seed([clusterRoleBinding("platform-view", "view", [{ kind: "Group", name: "kubegate:platform" }])]);
  caFile = join(gw.dir, "control-ca.crt");
  await writeFile(caFile, gw.caPem);
});
afterAll(async () => {
  await gw?.close();
  await idp?.close();
  await Promise.all(users.map((u) => u.cleanup()));
});

async function user(): Promise<CliUser> {
  const u = await cliUser();
  users.push(u);
  return u;
}

const controlUrl = () => gw.kubegate.control!.url;
const sessionFile = (u: CliUser) => join(u.home, ".config", "kubegate", "session.json");
const session = async (u: CliUser) => JSON.parse(await readFile(sessionFile(u), "utf8")) as { apiKey?: string; oidc?: { idToken: string; refreshToken?: string; issuerUrl: string } };

/** `kubegate login --oidc` with $BROWSER logging in as `account` at the IdP. */
async function browserLogin(u: CliUser, account: string, server = controlUrl()) {
  return u.run(["login", "--server", server, "--ca-file", caFile, "--oidc"], undefined, { BROWSER: idp.browserCommand(account) });
}

/** Waits until the stored ID token is within its refresh margin. */
async function untilStale(u: CliUser) {
  const { exp = 0, iat = 0 } = decodeJwt((await session(u)).oidc!.idToken);
  const staleAt = exp * 1000 - Math.min(60_000, ((exp - iat) * 1000) / 3);
  await sleep(Math.max(0, staleAt - Date.now() + 200));
}

const kubectl = (u: CliUser, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => run(KUBECTL, ["--context", "kubegate-member", ...args], { ...clientEnv(u.kubeconfig, u.home), ...u.env, ...extraEnv });

it("logs in through the browser with PKCE on a loopback redirect, and kubectl works through a grant to the IdP's group", async () => {
  const alice = await user();
  const login = await browserLogin(alice, "alice");
  expect(login.stderr).toContain(`${idp.issuer}/auth?`);
  expect(login.stderr).toContain("code_challenge_method=S256");
  expect(login.stderr).toMatch(/redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fcallback/);
  expect(login.stdout).toBe(`logged in to ${controlUrl()} as oidc:alice@example.com; saved to ${sessionFile(alice)}\n`);
  expect(login.code).toBe(0);
  // What the "browser" saw at the end: kubegate's loopback page.
  expect(idp.browsed.at(-1)).toMatchObject({ status: 200, body: expect.stringContaining("kubegate has your login") as unknown });

  expect((await stat(sessionFile(alice))).mode & 0o777).toBe(0o600);
  const saved = await session(alice);
  expect(saved.apiKey).toBeUndefined();
  expect(saved.oidc).toMatchObject({ issuerUrl: idp.issuer, refreshToken: expect.any(String) as unknown });

  const me = JSON.parse((await alice.run(["whoami", "-o", "json"])).stdout);
  expect(me).toMatchObject({ subject: "oidc:alice@example.com", groups: ["platform", "dev"], authenticatedBy: "oidc" });

  expect((await alice.run(["kubeconfig", "add", "--cluster", "member"])).code).toBe(0);
  expect(await readFile(alice.kubeconfig, "utf8")).toContain("interactiveMode: IfAvailable");
  const pods = await kubectl(alice, ["get", "pods", "-n", "default", "-o", "name"]);
  expect(pods.stderr).toBe("");
  expect(pods.code).toBe(0);
  // The grant is to the group: the member saw alice with it.
  const seen = gw.fake.requests.filter((r) => r.headers["impersonate-user"] === "kubegate:oidc:alice@example.com");
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.at(-1)!.headers["impersonate-group"]).toEqual(expect.arrayContaining(["kubegate:platform"]));
});

it("logs in with a device code on a machine without a browser", async () => {
  const bob = await user();
  const child = bob.spawn(["login", "--server", controlUrl(), "--ca-file", caFile, "--device"]);
  let stderr = "";
  let stdout = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      const m = /enter the code (\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once("exit", () => reject(new Error(`login exited early: ${stderr}`)));
  });
  expect(stderr).toContain(`To log in, open ${idp.issuer}/device and enter the code ${code}`);
  const approved = await idp.deviceLogin(code, "bob");
  expect(approved.body).toContain("Signed in");
  const exit = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(stdout).toBe(`logged in to ${controlUrl()} as oidc:bob@example.com; saved to ${sessionFile(bob)}\n`);
  expect(exit).toBe(0);
  expect((await session(bob)).oidc?.refreshToken).toEqual(expect.any(String));
  expect(idp.grants["urn:ietf:params:oauth:grant-type:device_code"]).toBe(1);
});

it("makes one refresh for twenty parallel kubectl calls through the exec plugin", async () => {
  const carol = await user();
  expect((await browserLogin(carol, "carol")).code).toBe(0);
  expect((await carol.run(["kubeconfig", "add", "--cluster", "member"])).code).toBe(0);
  const before = idp.grants["refresh_token"] ?? 0;
  await untilStale(carol);
  const results = await Promise.all(Array.from({ length: 20 }, () => kubectl(carol, ["get", "configmaps", "-n", "default", "-o", "name"])));
  for (const r of results) {
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }
  expect((idp.grants["refresh_token"] ?? 0) - before).toBe(1);
  // The refreshed login is stored, rotated refresh token included.
  const saved = await session(carol);
  expect(decodeJwt(saved.oidc!.idToken).exp! * 1000).toBeGreaterThan(Date.now() + 5000);
});

it("ends a login whose refresh token was revoked or expired: kubectl fails fast unless a person is there", async () => {
  const dave = await user();
  expect((await browserLogin(dave, "dave")).code).toBe(0);
  expect((await dave.run(["kubeconfig", "add", "--cluster", "member"])).code).toBe(0);
  await idp.revoke((await session(dave)).oidc!.refreshToken!);
  await untilStale(dave);
  const browsedBefore = idp.browsed.length;
  const started = Date.now();
  // kubectl's stdin is not a terminal here, so it tells the plugin nobody can answer.
  const refused = await kubectl(dave, ["get", "pods", "-n", "default"], { BROWSER: idp.browserCommand("dave") });
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain(`your login at ${idp.issuer} has ended (the refresh token has expired or was revoked): run \`kubegate login --server ${controlUrl()} --oidc\``);
  await sleep(300);
  expect(idp.browsed.length).toBe(browsedBefore);

  // With a person at the terminal (ExecCredential spec.interactive), the plugin logs in again.
  const again = await dave.run(["kube-token", "--cluster", "member"], undefined, {
    BROWSER: idp.browserCommand("dave"),
    KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", spec: { interactive: true } }),
  });
  expect(again.stderr).toContain("logging in again");
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout).status.token).toEqual(expect.any(String));
  expect(idp.browsed.length).toBe(browsedBefore + 1);

  // An expired refresh token ends the login the same way.
  const erinLike = await user();
  idp.setRefreshTokenTtl(2);
  try {
    expect((await browserLogin(erinLike, "bob")).code).toBe(0);
  } finally {
    idp.setRefreshTokenTtl(86400);
  }
  await untilStale(erinLike);
  const expired = await erinLike.run(["whoami"]);
  expect(expired.code).toBe(1);
  expect(expired.stderr).toContain("has ended (the refresh token has expired or was revoked)");
});

it("matches grants by the IdP's groups only: a user outside the group gets no token", async () => {
  const erin = await user();
  expect((await browserLogin(erin, "erin")).code).toBe(0);
  const refused = await erin.run(["kube-token", "--cluster", "member"]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe('error: you do not have access to cluster "member": ask an admin for a grant\n');
});

it("refuses the IdP's ID token for another audience, from a foreign issuer, and beyond the clock tolerance", async () => {
  const frank = await user();
  expect((await browserLogin(frank, "alice")).code).toBe(0);
  const idToken = (await session(frank)).oidc!.idToken;
  const whoAmI = (url: string, caPem: string) =>
    createKubegateClients({ baseUrl: url, caPem, credential: idToken })
      .identity.whoAmI({})
      .then(
        (me) => me.subject,
        (e: unknown) => ConnectError.from(e).code,
      );

  const otherAudience = await startTestControlPlane(oidcFlags(idp.issuer, "another-client"));
  const foreign = await startIdp({ accounts: {} });
  const otherIssuer = await startTestControlPlane(oidcFlags(foreign.issuer));
  const exp = decodeJwt(idToken).exp! * 1000;
  // The control plane's clock 20 s past the token's expiry: within the 30 s tolerance.
  const slightlyAhead = await startTestControlPlane(oidcFlags(idp.issuer), { clock: () => new Date(exp + 20_000) });
  const farAhead = await startTestControlPlane(oidcFlags(idp.issuer), { clock: () => new Date(exp + 120_000) });
  try {
    expect(await whoAmI(otherAudience.url, otherAudience.caPem)).toBe(Code.Unauthenticated);
    expect(await whoAmI(otherIssuer.url, otherIssuer.caPem)).toBe(Code.Unauthenticated);
    expect(await whoAmI(slightlyAhead.url, slightlyAhead.caPem)).toBe("oidc:alice@example.com");
    expect(await whoAmI(farAhead.url, farAhead.caPem)).toBe(Code.Unauthenticated);
  } finally {
    await Promise.all([otherAudience.close(), otherIssuer.close(), slightlyAhead.close(), farAhead.close(), foreign.close()]);
  }
});

it("says clearly when the IdP is down, and writes nothing", async () => {
  const flaky = await startIdp({ idTokenTtlSeconds: 6, accounts: { gina: { email: "gina@example.com" } } });
  const cp = await startTestControlPlane(oidcFlags(flaky.issuer));
  const gina = await user();
  const cpCa = join(gina.home, "cp-ca.crt");
  await writeFile(cpCa, cp.caPem);
  try {
    const login = await gina.run(["login", "--server", cp.url, "--ca-file", cpCa, "--oidc"], undefined, { BROWSER: flaky.browserCommand("gina") });
    expect(login.code).toBe(0);
    const stored = await readFile(sessionFile(gina), "utf8");
    await untilStale(gina);
    await flaky.close();

    // A refresh that cannot reach the IdP fails and leaves the login as it was.
    const whoami = await gina.run(["whoami"]);
    expect(whoami.code).toBe(1);
    // (A new process looks the endpoints up first.)
    expect(whoami.stderr).toBe(`error: cannot reach the identity provider (discovery at ${flaky.issuer}/.well-known/openid-configuration): ECONNREFUSED\n`);
    expect(await readFile(sessionFile(gina), "utf8")).toBe(stored);

    // A new login cannot start either; the stored session is untouched.
    const again = await gina.run(["login", "--server", cp.url, "--ca-file", cpCa, "--oidc", "--no-browser"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cannot reach the identity provider \(discovery at .*\): ECONNREFUSED/);
    expect(await readFile(sessionFile(gina), "utf8")).toBe(stored);

    // And on a machine never logged in, nothing is written at all.
    const fresh = await user();
    const none = await fresh.run(["login", "--server", cp.url, "--ca-file", cpCa, "--device"]);
    expect(none.code).toBe(1);
    await expect(stat(sessionFile(fresh))).rejects.toThrow();
  } finally {
    await cp.close();
    await flaky.close();
  }
});

it("refuses --oidc at a control plane without an identity provider, and logout revokes the refresh token", async () => {
  const plain = await startTestControlPlane();
  const henry = await user();
  const ca = join(henry.home, "plain-ca.crt");
  await writeFile(ca, plain.caPem);
  try {
    const res = await henry.run(["login", "--server", plain.url, "--ca-file", ca, "--oidc"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`error: ${plain.url} accepts API keys only: it has no identity provider configured (kubegate serve --oidc-issuer-url, --oidc-client-id)\n`);
  } finally {
    await plain.close();
  }

  expect((await browserLogin(henry, "bob")).code).toBe(0);
  const refreshToken = (await session(henry)).oidc!.refreshToken!;
  expect((await henry.run(["logout"])).stdout).toBe("logged out\n");
  // The provider no longer honours it.
  const res = await fetch(`${idp.issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: idp.clientId }).toString(),
  });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: string }).error).toBe("invalid_grant");
  await rm(sessionFile(henry), { force: true });
});
