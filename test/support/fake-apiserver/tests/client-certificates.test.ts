/**
 * Client certificates, the front proxy's included, case by case on the fake and on a real
 * kube-apiserver v1.32 from one table, over HTTP/1.1 and HTTP/2, so the fake cannot drift
 * from the real one: a certificate the API server cannot verify (another CA, expired, not
 * yet valid, not for client use, a front proxy's from the wrong CA or with a CN not allowed)
 * is a 401 worded "Unauthorized" even on /version, never anonymous, unless a bearer token
 * names a user; a verified certificate is its CN and O, and ignores X-Remote-*.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, issueClientCert, issueServerCert, type KeyPair } from "../../../../src/tls/pki.ts";
import { FRONT_PROXY_CLIENT, GATEWAY_USER, realApiserverAvailable, startKubeApiserver } from "../../kube-apiserver.ts";
import { rawRequest, type Protocol } from "../../raw-client.ts";
import { startFakeApiserver } from "../index.ts";

const realAvailable = realApiserverAvailable();
const DAY_MS = 24 * 60 * 60 * 1000;
const WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
const REVIEW = JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });
/** kube-apiserver's answer to a failed authentication, whatever the reason (which it only logs). */
const UNAUTHORIZED = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 };
/** The real server adds this extra to certificate users (X509SHA256=<fingerprint>); the fake does not. */
const CREDENTIAL_ID = "authentication.kubernetes.io/credential-id";

/** What a case needs of a member: both configured like test/support/kube-apiserver.ts. */
interface Member {
  url: string;
  caPem: string;
  clientCa: KeyPair;
  frontProxyCa: KeyPair;
  /** A bearer token of GATEWAY_USER (uid GATEWAY_USER). */
  token: string;
  close(): Promise<void>;
}

async function startFake(): Promise<Member> {
  const token = randomBytes(18).toString("base64url");
  const fake = await startFakeApiserver({ seedPod: false, requestHeader: { allowedNames: [FRONT_PROXY_CLIENT] }, tokens: { [token]: { user: GATEWAY_USER, uid: GATEWAY_USER } } });
  return { url: fake.url, caPem: fake.caPem, clientCa: fake.clientCa, frontProxyCa: fake.frontProxyCa!, token, close: () => fake.close() };
}

async function startReal(): Promise<Member> {
  const kas = await startKubeApiserver();
  return { url: kas.url, caPem: kas.caPem, clientCa: kas.clientCa, frontProxyCa: kas.frontProxy.ca, token: kas.gatewayToken, close: () => kas.close() };
}

const days = (n: number) => new Date(Date.now() + n * DAY_MS);
const expired = { now: days(-3), days: 1 };
const notYetValid = { now: days(3), days: 10 };

/** One request: the certificate presented, the headers sent, and where. */
interface Case {
  name: string;
  cert?: (m: Member) => Promise<KeyPair>;
  headers?: (m: Member) => Record<string, string>;
  path: "/version" | typeof WHOAMI;
  /** The status, and for a SelfSubjectReview whom the member saw. */
  expected: { status: 200 } | { status: 401 } | { status: 201; userInfo: Record<string, unknown> };
}

const bearer = (m: Member) => ({ authorization: `Bearer ${m.token}` });
const ASSERT_ALICE = { "X-Remote-User": "alice", "X-Remote-Group": "dev" };
const otherCa = () => createCa("some other CA");
const BOB = { username: "bob", groups: ["team-a", "team-b", "system:authenticated"] };
const GATEWAY = { username: GATEWAY_USER, uid: GATEWAY_USER, groups: ["system:authenticated"] };

const CASES: Case[] = [
  { name: "no credentials may read /version", path: "/version", expected: { status: 200 } },
  { name: "a bearer token alone", headers: bearer, path: WHOAMI, expected: { status: 201, userInfo: GATEWAY } },
  { name: "an unknown bearer token", headers: () => ({ authorization: "Bearer not-a-token" }), path: "/version", expected: { status: 401 } },
  { name: "a client certificate of the client CA is its CN and O", cert: (m) => issueClientCert(m.clientCa, "bob", ["team-a", "team-b"]), path: WHOAMI, expected: { status: 201, userInfo: BOB } },
  {
    name: "a verified client certificate wins over an unknown bearer token",
    cert: (m) => issueClientCert(m.clientCa, "bob", ["team-a", "team-b"]),
    headers: () => ({ authorization: "Bearer not-a-token" }),
    path: WHOAMI,
    expected: { status: 201, userInfo: BOB },
  },
  { name: "a client certificate ignores X-Remote-*", cert: (m) => issueClientCert(m.clientCa, "bob", ["team-a", "team-b"]), headers: () => ASSERT_ALICE, path: WHOAMI, expected: { status: 201, userInfo: BOB } },
  { name: "a certificate of another CA, on /version", cert: async () => issueClientCert(await otherCa(), "mallory", ["system:masters"]), path: "/version", expected: { status: 401 } },
  { name: "a certificate of another CA, on a review", cert: async () => issueClientCert(await otherCa(), "mallory", ["system:masters"]), path: WHOAMI, expected: { status: 401 } },
  { name: "a certificate of another CA with a bearer token is the token's user", cert: async () => issueClientCert(await otherCa(), "mallory"), headers: bearer, path: WHOAMI, expected: { status: 201, userInfo: GATEWAY } },
  { name: "a certificate of another CA with an unknown bearer token", cert: async () => issueClientCert(await otherCa(), "mallory"), headers: () => ({ authorization: "Bearer not-a-token" }), path: WHOAMI, expected: { status: 401 } },
  { name: "an expired certificate of the client CA", cert: (m) => issueClientCert(m.clientCa, "late", [], expired), path: "/version", expected: { status: 401 } },
  { name: "an expired certificate with a bearer token is the token's user", cert: (m) => issueClientCert(m.clientCa, "late", [], expired), headers: bearer, path: WHOAMI, expected: { status: 201, userInfo: GATEWAY } },
  { name: "a certificate of the client CA not yet valid", cert: (m) => issueClientCert(m.clientCa, "early", [], notYetValid), path: "/version", expected: { status: 401 } },
  { name: "a serving certificate of the client CA (no clientAuth usage)", cert: (m) => issueServerCert(m.clientCa, ["127.0.0.1"]), path: "/version", expected: { status: 401 } },
  // The requestheader authenticator objects to every certificate not of its CA, and nothing names a user.
  { name: "a certificate of the client CA without a CN", cert: (m) => issueClientCert(m.clientCa, "", ["team-a"]), path: "/version", expected: { status: 401 } },
  {
    name: "the front proxy's certificate makes X-Remote-* the user",
    cert: (m) => issueClientCert(m.frontProxyCa, FRONT_PROXY_CLIENT),
    headers: () => ASSERT_ALICE,
    path: WHOAMI,
    expected: { status: 201, userInfo: { username: "alice", groups: ["dev", "system:authenticated"] } },
  },
  // Verified by the requestheader CA but no user asserted, and the client CA cannot verify it.
  { name: "the front proxy's certificate without X-Remote-User", cert: (m) => issueClientCert(m.frontProxyCa, FRONT_PROXY_CLIENT), path: "/version", expected: { status: 401 } },
  { name: "the front proxy's certificate without X-Remote-User, with a bearer token", cert: (m) => issueClientCert(m.frontProxyCa, FRONT_PROXY_CLIENT), headers: bearer, path: WHOAMI, expected: { status: 201, userInfo: GATEWAY } },
  { name: "a front proxy's certificate of the wrong CA", cert: async () => issueClientCert(await otherCa(), FRONT_PROXY_CLIENT), headers: () => ASSERT_ALICE, path: "/version", expected: { status: 401 } },
  { name: "a front proxy's certificate of the client CA is its CN, not X-Remote-User", cert: (m) => issueClientCert(m.clientCa, FRONT_PROXY_CLIENT), headers: () => ASSERT_ALICE, path: WHOAMI, expected: { status: 201, userInfo: { username: FRONT_PROXY_CLIENT, groups: ["system:authenticated"] } } },
  { name: "an expired front proxy's certificate", cert: (m) => issueClientCert(m.frontProxyCa, FRONT_PROXY_CLIENT, [], expired), headers: () => ASSERT_ALICE, path: WHOAMI, expected: { status: 401 } },
  { name: "a certificate of the requestheader CA with a CN not allowed", cert: (m) => issueClientCert(m.frontProxyCa, "someone-else"), headers: () => ASSERT_ALICE, path: "/version", expected: { status: 401 } },
  { name: "a CN not allowed, with a bearer token, is the token's user", cert: (m) => issueClientCert(m.frontProxyCa, "someone-else"), headers: (m) => ({ ...ASSERT_ALICE, ...bearer(m) }), path: WHOAMI, expected: { status: 201, userInfo: GATEWAY } },
];

/** What the member answered, in the table's terms. */
async function outcome(m: Member, protocol: Protocol, c: Case): Promise<Case["expected"]> {
  const clientCert = await c.cert?.(m);
  const review = c.path === WHOAMI;
  const res = await rawRequest(protocol, m.url, m.caPem, {
    method: review ? "POST" : "GET",
    path: c.path,
    headers: { accept: "application/json", ...(review ? { "content-type": "application/json" } : {}), ...c.headers?.(m) },
    ...(review ? { body: REVIEW } : {}),
    ...(clientCert === undefined ? {} : { clientCert }),
  });
  if (res.status === 401) {
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.json).toEqual(UNAUTHORIZED);
    return { status: 401 };
  }
  if (res.status !== 201) return { status: res.status as 200 };
  const userInfo = { ...(res.json as { status: { userInfo: { extra?: Record<string, string[]> } } }).status.userInfo };
  const extra = Object.fromEntries(Object.entries(userInfo.extra ?? {}).filter(([k]) => k !== CREDENTIAL_ID));
  delete userInfo.extra;
  return { status: 201, userInfo: Object.keys(extra).length > 0 ? { ...userInfo, extra } : userInfo };
}

for (const [server, start, enabled] of [
  ["the fake", startFake, true],
  ["a real kube-apiserver v1.32", startReal, realAvailable],
] as const) {
  describe.runIf(enabled)(`client certificates on ${server}`, () => {
    let member: Member;
    beforeAll(async () => {
      member = await start();
    });
    afterAll(() => member?.close());

    for (const protocol of ["HTTP/1.1", "HTTP/2"] as const) {
      it.each(CASES.map((c) => [c.name, c] as const))(`${protocol}: %s`, async (_name, c) => {
        expect(await outcome(member, protocol, c)).toEqual(c.expected);
      });
    }
  });
}
