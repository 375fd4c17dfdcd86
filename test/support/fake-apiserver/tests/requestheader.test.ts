/**
 * The fake's request-header authentication against kube-apiserver's rules: X-Remote-*
 * counts only on a client certificate of the requestheader CA whose CN is allowed; an
 * empty allowed list lets any CN of that CA assert anyone; without that certificate the
 * headers are ignored; header names are configurable; extra keys are lowercased and
 * percent-decoded. The member says whom it saw with a SelfSubjectReview.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createCa, issueClientCert } from "../../../../src/tls/pki.ts";
import { startFakeApiserver, type FakeApiserver, type FakeApiserverOptions } from "../index.ts";
import { request1 } from "./http-client.ts";

const WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
const REVIEW = JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });

let fake: FakeApiserver | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(requestHeader: FakeApiserverOptions["requestHeader"]): Promise<FakeApiserver> {
  fake = await startFakeApiserver({ requestHeader, seedPod: false });
  return fake;
}

type Who = { status: number; username?: string; groups?: string[]; extra?: Record<string, string[]> };
async function whoami(f: FakeApiserver, cert: { certPem: string; keyPem: string } | undefined, headers: Record<string, string>, token: string | null = null): Promise<Who> {
  const res = await request1(f, { method: "POST", path: WHOAMI, token, headers: { "content-type": "application/json", ...headers }, body: REVIEW, ...(cert === undefined ? {} : { cert }) });
  if (res.status !== 201) return { status: res.status };
  const info = (JSON.parse(res.body) as { status: { userInfo: Omit<Who, "status"> } }).status.userInfo;
  return { status: res.status, ...info };
}

const ASSERTED = {
  "X-Remote-User": "kubegate:alice",
  "X-Remote-Group": "kubegate:dev",
  "X-Remote-Extra-Kubegate.dev%2FGrant": "gr-1",
  "x-remote-extra-kubegate.dev%2ftoken-id": "tok-1",
};

describe("request-header authentication in the fake, as kube-apiserver does it", () => {
  it("an allowed front proxy's certificate makes X-Remote-* the identity; extra keys are lowercased, then decoded", async () => {
    const f = await start({ allowedNames: ["front-proxy-client"] });
    const proxy = await f.issueFrontProxyCert("front-proxy-client");
    const who = await whoami(f, proxy, ASSERTED);
    expect(who).toEqual({
      status: 201,
      username: "kubegate:alice",
      groups: ["kubegate:dev", "system:authenticated"],
      extra: { "kubegate.dev/grant": ["gr-1"], "kubegate.dev/token-id": ["tok-1"] },
    });
    expect(f.requests.at(-1)).toMatchObject({ authenticatedBy: "requestheader", clientCertificateCn: "front-proxy-client" });
  });

  it("a CN not in the allowed names is refused, even with X-Remote-User", async () => {
    const f = await start({ allowedNames: ["front-proxy-client"] });
    const other = await f.issueFrontProxyCert("someone-else");
    expect((await whoami(f, other, ASSERTED)).status).toBe(401);
  });

  it("an empty allowed list accepts any CN the requestheader CA signed (the audit's pitfall)", async () => {
    const f = await start({ allowedNames: [] });
    const anyone = await f.issueFrontProxyCert("any-workload");
    expect((await whoami(f, anyone, { "X-Remote-User": "system:admin", "X-Remote-Group": "system:masters" })).username).toBe("system:admin");
  });

  it("a shared client and requestheader CA with no allowed names lets any user with a client certificate become anyone", async () => {
    const f = await start({ ca: "client", allowedNames: [] });
    const bob = await f.issueClientCert("bob");
    expect((await whoami(f, bob, {})).username).toBe("bob");
    expect((await whoami(f, bob, { "X-Remote-User": "system:admin", "X-Remote-Group": "system:masters" })).groups).toContain("system:masters");
    // Naming the front proxy's CN closes it: bob's headers are ignored, he stays bob (the
    // client-certificate authenticator still accepts him after the request-header one refused).
    await f.close();
    const g = await start({ ca: "client", allowedNames: ["front-proxy-client"] });
    const bob2 = await g.issueClientCert("bob");
    expect(await whoami(g, bob2, { "X-Remote-User": "system:admin", "X-Remote-Group": "system:masters" })).toMatchObject({ username: "bob", groups: ["system:authenticated"] });
  });

  it("ignores X-Remote-* without the requestheader certificate: a token, a client certificate or nothing", async () => {
    const f = await start({ allowedNames: ["front-proxy-client"] });
    expect((await whoami(f, undefined, ASSERTED, f.adminToken)).username).toBe("admin");
    const carol = await f.issueClientCert("carol");
    expect((await whoami(f, carol, ASSERTED)).username).toBe("carol");
    expect((await whoami(f, undefined, ASSERTED)).status).toBe(401);
    // A certificate with the allowed CN from another CA is no front proxy either.
    const elsewhere = await issueClientCert(await createCa("another CA"), "front-proxy-client");
    expect((await whoami(f, elsewhere, ASSERTED)).status).toBe(401);
    // Without the option, the fake has no requestheader authenticator at all.
    await f.close();
    const plain = await start(undefined);
    expect((await whoami(plain, undefined, ASSERTED, plain.adminToken)).username).toBe("admin");
  });

  it("takes the header names from its flags", async () => {
    const f = await start({ allowedNames: [], usernameHeaders: ["X-Proxy-User"], groupHeaders: ["X-Proxy-Group"], extraHeaderPrefixes: ["X-Proxy-Extra-"] });
    const proxy = await f.issueFrontProxyCert("front-proxy-client");
    expect(await whoami(f, proxy, { "X-Proxy-User": "dana", "X-Proxy-Group": "ops", "X-Proxy-Extra-Scope": "a", "X-Remote-User": "ignored" })).toEqual({
      status: 201,
      username: "dana",
      groups: ["ops", "system:authenticated"],
      extra: { scope: ["a"] },
    });
    // With only the default names sent, no user is asserted: the certificate alone is no user.
    expect((await whoami(f, proxy, { "X-Remote-User": "ignored" })).status).toBe(401);
  });
});
