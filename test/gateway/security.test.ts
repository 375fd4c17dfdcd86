/**
 * The data path rules (DESIGN, "Data path rules"), each attacked through the real gateway:
 * header hygiene, the second fence (role and namespace scope), one cluster per token,
 * every way a token can be forged or mangled, path traversal to another cluster, tokens
 * smuggled in the query or a WebSocket subprotocol, upgrades, and Status errors. The fake
 * member's request log is the witness of what got through.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KUBECTL, clientEnv, hasFile, requireProgram, run, type RunResult } from "../support/programs.ts";
import { startTestGateway, tokenIdOf, type TestGateway, type TestUser } from "../support/gateway.ts";
import { http2Connect, rawRequest, rawUpgrade, readBody, type Protocol, type RawResponse } from "../support/raw-client.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");
const PROTOCOLS: Protocol[] = ["HTTP/1.1", "HTTP/2"];
const OTHER = "other";
const CONFIGMAPS = "/clusters/member/api/v1/namespaces/default/configmaps";
const EXEC_PATH = "/clusters/member/api/v1/namespaces/default/pods/fake-pod/exec";

const b64url = (s: string | Uint8Array) => Buffer.from(s).toString("base64url");

/** The Status kubegate answers every refused credential with, whatever the reason. */
const UNAUTHORIZED = { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Unauthorized", code: 401 };

describe.runIf(enabled)("data path rules under attack", () => {
  let gw: TestGateway;
  let alice: TestUser; // edit on member, groups dev and ops
  let viewer: TestUser; // view on member
  let scoped: TestUser; // edit on member, namespace team-a only
  let bob: TestUser; // edit on "other" only
  let aliceToken: string;
  let home: string;
  /** Every credential minted in this file, for the final scan of what the member received. */
  const secrets: string[] = [];
  let expiring: { token: string; exp: number };

  const req = (protocol: Protocol, path: string, headers: Record<string, string | string[]> = {}): Promise<RawResponse> =>
    rawRequest(protocol, gw.dataUrl, gw.caPem, { path, headers });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const kubectl = async (user: TestUser, args: string[], namespace = "default") => {
    const kubeconfig = await user.kubeconfig({ namespace });
    secrets.push(...[...(await readFile(kubeconfig, "utf8")).matchAll(/token: (\S+)/g)].map((m) => m[1]!));
    return run(KUBECTL, args, clientEnv(kubeconfig, home));
  };
  /** kubectl failed, and its -v=6 log shows the gateway answered `method path` with 403. */
  const expectForbidden = (res: RunResult, method: string, path: string) => {
    expect(res.code).not.toBe(0);
    const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    expect(res.stderr).toMatch(new RegExp(`${method} https://[^/]+${escaped}(\\?\\S*)? 403 Forbidden`));
  };
  /** Runs `f` and returns how many requests the member received meanwhile. */
  const memberRequestsDuring = async (f: () => Promise<void>): Promise<number> => {
    const before = gw.fake.requests.length;
    await f();
    // Give a request that slipped through time to land in the log.
    await new Promise((r) => setTimeout(r, 50));
    return gw.fake.requests.length - before;
  };
  const mint = async (user: TestUser, cluster?: string, ttlMs?: number) => {
    const t = await user.token(cluster, ttlMs);
    secrets.push(t);
    return t;
  };

  beforeAll(async () => {
    gw = await startTestGateway({
      fake: {
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a1", namespace: "team-a" }, data: { k: "a" } },
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "b1", namespace: "team-b" }, data: { k: "b" } },
        ],
      },
    });
    await gw.admin.clusters.registerCluster({
      name: OTHER,
      mode: { case: "direct", value: { serverUrl: gw.fake.url, caPem: gw.fake.caPem, credential: { kind: { case: "bearerToken", value: gw.fake.gatewayToken! } } } },
    });
    await gw.until(() => gw.kubegate.data!.view.clusters.has(OTHER));
    [alice, viewer, scoped, bob] = await Promise.all([
      gw.user("alice", { role: "edit", groups: ["dev", "ops"] }),
      gw.user("viewer", { role: "view" }),
      gw.user("scoped", { role: "edit", namespaces: ["team-a"] }),
      gw.user("bob", { role: "edit", cluster: OTHER }),
    ]);
    aliceToken = await mint(alice);
    // Expires in 1 s; the verifier's 5 s leeway has passed by the time the last tests run.
    const t = await mint(alice, undefined, 1000);
    expiring = { token: t, exp: decodeJwt(t).exp! };
    home = await mkdtemp(join(tmpdir(), "kubegate-security-home-"));
  });
  afterAll(async () => {
    await gw?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  describe("header hygiene", () => {
    for (const protocol of PROTOCOLS) {
      it(`strips client identity and credentials, sets the gateway's (${protocol})`, async () => {
        const marker = `hygiene-${protocol === "HTTP/2" ? "h2" : "h1"}`;
        const headers: Record<string, string | string[]> = {
          ...bearer(aliceToken),
          "impersonate-user": "admin",
          "impersonate-group": ["system:masters", "system:nodes"],
          "impersonate-uid": "0",
          "impersonate-extra-scopes": "everything",
          "x-remote-user": "admin",
          "x-remote-group": "system:masters",
          "x-remote-extra-foo": "bar",
          "proxy-authorization": `Bearer ${aliceToken}`,
          cookie: `session=${aliceToken}`,
          "x-test-marker": marker,
        };
        // HTTP/2 has no connection-specific headers at all (RFC 9113 §8.2.2).
        if (protocol === "HTTP/1.1") Object.assign(headers, { connection: "keep-alive, X-Secret-Hop", "x-secret-hop": "1" });
        const res = await req(protocol, CONFIGMAPS, headers);
        expect(res.status).toBe(200);
        expect(res.json?.["kind"]).toBe("ConfigMapList");

        const seen = gw.fake.requests.filter((r) => r.headers["x-test-marker"] === marker);
        expect(seen).toHaveLength(1);
        const h = seen[0]!.headers;
        expect(h["authorization"]).toBe(`Bearer ${gw.fake.gatewayToken}`);
        expect(h["impersonate-user"]).toBe("kubegate:alice");
        expect(h["impersonate-group"]).toEqual(["kubegate:dev", "kubegate:ops"]);
        // The grant and token ids, for the member's audit log (user.extra).
        expect(h["impersonate-extra-kubegate.dev%2fgrant"]).toBe(alice.grantId);
        expect(h["impersonate-extra-kubegate.dev%2ftoken-id"]).toBe(tokenIdOf(aliceToken));
        for (const name of ["impersonate-uid", "impersonate-extra-scopes", "proxy-authorization", "cookie", "x-secret-hop"]) expect(h[name], name).toBeUndefined();
        expect(Object.keys(h).filter((n) => n.startsWith("x-remote-"))).toEqual([]);
        expect(Object.keys(h).filter((n) => n.startsWith("impersonate-")).sort()).toEqual([
          "impersonate-extra-kubegate.dev%2fgrant",
          "impersonate-extra-kubegate.dev%2ftoken-id",
          "impersonate-group",
          "impersonate-user",
        ]);
        expect(JSON.stringify(h)).not.toContain(aliceToken);
        // The member acted as the impersonated user, not as anyone the client named.
        expect(seen[0]!.impersonatedUser?.name).toBe("kubegate:alice");
        expect(seen[0]!.impersonatedUser?.extra).toEqual({ "kubegate.dev/grant": [alice.grantId], "kubegate.dev/token-id": [tokenIdOf(aliceToken)] });
      });
    }
  });

  describe("the second fence", () => {
    it("a view grant cannot create, and the member never sees the attempt", async () => {
      const posts = () => gw.fake.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/namespaces/default/configmaps").length;
      const before = posts();
      const res = await kubectl(viewer, ["create", "configmap", "x", "--from-literal=k=v", "-v=6"]);
      expectForbidden(res, "POST", "/clusters/member/api/v1/namespaces/default/configmaps");
      expect(res.stderr).toContain("(view) is read-only: it does not allow create on configmaps");
      expect(posts()).toBe(before);
      // Reading is what view is for.
      expect((await kubectl(viewer, ["get", "configmaps", "-o", "name"])).code).toBe(0);
    });

    it("a namespace-scoped grant reads its namespace only and writes nothing cluster-scoped", async () => {
      const inA = await kubectl(scoped, ["get", "configmaps", "-o", "name"], "team-a");
      expect(inA.stderr).toBe("");
      expect(inA.stdout).toContain("configmap/a1");

      const count = (prefix: string) => gw.fake.requests.filter((r) => r.path.startsWith(prefix)).length;
      const beforeB = count("/api/v1/namespaces/team-b");
      const inB = await kubectl(scoped, ["get", "configmaps", "-n", "team-b", "-v=6"], "team-a");
      expectForbidden(inB, "GET", "/clusters/member/api/v1/namespaces/team-b/configmaps");
      expect(inB.stderr).toContain("allows namespaces team-a only; this request is in namespace team-b");
      expect(count("/api/v1/namespaces/team-b")).toBe(beforeB);

      const beforeAll = count("/api/v1/configmaps");
      const all = await kubectl(scoped, ["get", "configmaps", "-A", "-v=6"], "team-a");
      expectForbidden(all, "GET", "/clusters/member/api/v1/configmaps");
      expect(all.stderr).toContain("allows namespaces team-a only; this request is cluster-wide");
      expect(count("/api/v1/configmaps")).toBe(beforeAll);

      const clusterWrites = () => gw.fake.requests.filter((r) => r.method === "POST" && (r.path === "/api/v1/namespaces" || r.path.startsWith("/apis/rbac.authorization.k8s.io/v1/cluster"))).length;
      const beforeWrites = clusterWrites();
      const ns = await kubectl(scoped, ["create", "namespace", "evil", "-v=6"], "team-a");
      expectForbidden(ns, "POST", "/clusters/member/api/v1/namespaces");
      const crb = await kubectl(scoped, ["create", "clusterrolebinding", "evil", "--clusterrole=cluster-admin", "--user=kubegate:scoped", "-v=6"], "team-a");
      expectForbidden(crb, "POST", "/clusters/member/apis/rbac.authorization.k8s.io/v1/clusterrolebindings");
      expect(crb.stderr).toContain("this request is cluster-wide");
      expect(clusterWrites()).toBe(beforeWrites);
    });
  });

  describe("the second fence reads the path as the member will", () => {
    for (const protocol of PROTOCOLS) {
      it(`percent-encoded and legacy spellings are judged decoded (${protocol})`, async () => {
        const viewToken = await mint(viewer);
        const scopedToken = await mint(scoped);
        const cases: Array<[string, string, string]> = [
          [viewToken, "/clusters/member/api/v1/namespaces/default/secret%73", "does not allow reading secrets"],
          [viewToken, "/clusters/member/%61pi/v1/namespaces/default/secrets", "does not allow reading secrets"],
          [viewToken, "/clusters/member/api/v1/namespaces/default/pods/fake-pod/ex%65c?command=id&stdout=true", "does not allow"],
          [scopedToken, "/clusters/member/api/v1/namespaces/team%2Db/configmaps", "this request is in namespace team-b"],
          [scopedToken, "/clusters/member/api/v1/watch/namespaces/team-b/configmaps", "this request is in namespace team-b"],
          [scopedToken, "/clusters/member/api/v1/namespaces/team-b", "this request is for namespace team-b"],
          [scopedToken, "/clusters/member/api/v1/secrets", "this request is cluster-wide"],
        ];
        const seen = await memberRequestsDuring(async () => {
          for (const [token, path, message] of cases) {
            const res = await req(protocol, path, bearer(token));
            expect(res.status, path).toBe(403);
            expect(res.json, path).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403 });
            expect(String(res.json?.["message"]), path).toContain(message);
          }
        });
        expect(seen).toBe(0);
        // The same user, the same request spelled plainly in its own namespace, passes.
        expect((await req(protocol, "/clusters/member/api/v1/namespaces/team-a/configmaps", bearer(scopedToken))).status).toBe(200);
      });
    }
  });

  describe("one token, one cluster", () => {
    it("a token for member is refused on other, and the reverse", async () => {
      const bobToken = await mint(bob, OTHER);
      for (const protocol of PROTOCOLS) {
        const seen = await memberRequestsDuring(async () => {
          const aliceOnOther = await req(protocol, "/clusters/other/api/v1/namespaces", bearer(aliceToken));
          expect(aliceOnOther.status).toBe(401);
          expect(aliceOnOther.json).toMatchObject(UNAUTHORIZED);
          const bobOnMember = await req(protocol, "/clusters/member/api/v1/namespaces", bearer(bobToken));
          expect(bobOnMember.status).toBe(401);
          expect(bobOnMember.json).toMatchObject(UNAUTHORIZED);
        });
        expect(seen).toBe(0);
      }
      // Each token works where it belongs.
      expect((await req("HTTP/2", "/clusters/other/api/v1/namespaces/default/configmaps", bearer(bobToken))).status).toBe(200);
      expect((await req("HTTP/2", CONFIGMAPS, bearer(aliceToken))).status).toBe(200);
    });
  });

  describe("forged and mangled credentials", () => {
    /** Each case: the Authorization header value. */
    async function forgeries(): Promise<Array<[string, string]>> {
      const [h, p, s] = aliceToken.split(".") as [string, string, string];
      const realHeader = decodeProtectedHeader(aliceToken);
      const claims = decodeJwt(aliceToken);
      const foreign = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      const signWith = (key: Parameters<SignJWT["sign"]>[0], alg: string, kid: string | undefined, body = claims) =>
        new SignJWT(body).setProtectedHeader({ alg, typ: "JWT", ...(kid === undefined ? {} : { kid }) }).sign(key);
      const { keys } = await alice.clients.tokens.getSigningKeys({});
      const publicX = keys.find((k) => k.kid === realHeader.kid)!.x;
      const reencode = (o: object) => b64url(JSON.stringify(o));
      return [
        ["signed by another Ed25519 key under the real kid", `Bearer ${await signWith(foreign.privateKey, "EdDSA", realHeader.kid)}`],
        ["payload with another sub, signature kept", `Bearer ${h}.${reencode({ ...claims, sub: "admin" })}.${s}`],
        ["payload with another aud, signature kept", `Bearer ${h}.${reencode({ ...claims, aud: OTHER })}.${s}`],
        ["payload with more groups, signature kept", `Bearer ${h}.${reencode({ ...claims, groups: ["system:masters"] })}.${s}`],
        ["header with an unknown kid", `Bearer ${reencode({ ...realHeader, kid: "nope" })}.${p}.${s}`],
        ["alg none, unsigned", `Bearer ${reencode({ alg: "none", typ: "JWT" })}.${p}.`],
        ["alg none, kid kept", `Bearer ${reencode({ alg: "none", typ: "JWT", kid: realHeader.kid })}.${p}.`],
        ["HS256 keyed with the public key bytes", `Bearer ${await signWith(Buffer.from(publicX, "base64url"), "HS256", realHeader.kid)}`],
        ["HS256 keyed with the public key's base64url text", `Bearer ${await signWith(Buffer.from(publicX), "HS256", realHeader.kid)}`],
        ["signature of another token", `Bearer ${h}.${p}.${(await mint(alice)).split(".")[2]}`],
        ["garbage", "Bearer garbage"],
        ["three dots of garbage", "Bearer a.b.c"],
        ["empty bearer", "Bearer "],
        ["bearer without a token", "Bearer"],
        ["Basic auth carrying the token", `Basic ${Buffer.from(`alice:${aliceToken}`).toString("base64")}`],
        ["token without a scheme", aliceToken],
        ["two tokens", `Bearer ${aliceToken} ${aliceToken}`],
      ];
    }

    it("each is a 401 Status and nothing reaches the member", async () => {
      const cases = await forgeries();
      for (const protocol of PROTOCOLS) {
        const seen = await memberRequestsDuring(async () => {
          for (const [what, authorization] of cases) {
            const res = await req(protocol, CONFIGMAPS, { authorization });
            expect(res.status, `${protocol} ${what}`).toBe(401);
            expect(res.json, `${protocol} ${what}`).toMatchObject(UNAUTHORIZED);
            expect(res.headers["www-authenticate"], what).toMatch(/^Bearer /);
          }
          const none = await req(protocol, CONFIGMAPS);
          expect(none.status).toBe(401);
          expect(none.json).toMatchObject(UNAUTHORIZED);
        });
        expect(seen, protocol).toBe(0);
      }
    });
  });

  describe("path traversal", () => {
    const PATHS = [
      "/clusters/member/../other/api/v1/namespaces",
      "/clusters/member/%2e%2e/other/api",
      "/clusters/member/%2E%2E/other/api",
      "/clusters/member%2fother/api",
      "/clusters/member/api/v1/namespaces/default/%2e%2e/%2e%2e/%2e%2e/%2e%2e/clusters/other",
      "/clusters/member/api/v1/namespaces/default/../../../../clusters/other",
      "//clusters/member/api",
      "/clusters//member/api",
      "/clusters/member//api/v1/pods",
      "/clusters/./member/api",
      "/clusters/member/./api",
      "/clusters/MEMBER/api",
      "/clusters/member\\..\\other/api",
      "/clusters/member%5c..%5cother/api",
      "/clusters/%6dember/api",
      "/clusters/member/api/v1/namespaces/default/configmaps%2f..%2f..%2fsecrets",
      "/clusters/member/api/v1/namespaces/default/configmaps/%00",
    ];
    for (const protocol of PROTOCOLS) {
      it(`every spelling is refused with a Status and reaches no member (${protocol})`, async () => {
        const token = aliceToken;
        const seen = await memberRequestsDuring(async () => {
          for (const path of PATHS) {
            const res = await req(protocol, path, bearer(token));
            expect([400, 404], `${protocol} ${path}: ${res.status} ${res.body}`).toContain(res.status);
            expect(res.json, path).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", code: res.status });
          }
        });
        expect(seen).toBe(0);
      });
    }
  });

  describe("the token never travels on", () => {
    for (const protocol of PROTOCOLS) {
      it(`a token in the query string is refused (${protocol})`, async () => {
        const seen = await memberRequestsDuring(async () => {
          for (const query of [`access_token=${aliceToken}`, `x=1&access_token=${encodeURIComponent(aliceToken)}`, `t=${encodeURIComponent(encodeURIComponent(aliceToken))}`]) {
            const res = await req(protocol, `${CONFIGMAPS}?${query}`, bearer(aliceToken));
            expect(res.status, query).toBe(400);
            expect(res.json).toMatchObject({ kind: "Status", code: 400, reason: "BadRequest" });
          }
          // Without a header the query token is no credential at all.
          const alone = await req(protocol, `${CONFIGMAPS}?access_token=${aliceToken}`);
          expect(alone.status).toBe(401);
        });
        expect(seen).toBe(0);
      });
    }

    it("a token in Sec-WebSocket-Protocol authenticates and is removed before the member", async () => {
      const before = gw.fake.requests.length;
      const ws = await rawUpgrade(gw.dataUrl, gw.caPem, {
        path: `${EXEC_PATH}?command=echo&command=hi&stdout=true`,
        headers: [
          ["Connection", "Upgrade"],
          ["Upgrade", "websocket"],
          ["Sec-WebSocket-Version", "13"],
          ["Sec-WebSocket-Key", randomBytes(16).toString("base64")],
          ["Sec-WebSocket-Protocol", `v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.${b64url(aliceToken).replace(/=+$/, "")}`],
        ],
      });
      try {
        expect(ws.status).toBe(101);
        expect(ws.headers["sec-websocket-protocol"]).toBe("v5.channel.k8s.io");
      } finally {
        ws.destroy();
      }
      const upgrades = gw.fake.requests.slice(before).filter((r) => r.upgrade !== undefined);
      expect(upgrades).toHaveLength(1);
      const h = upgrades[0]!.headers;
      expect(h["sec-websocket-protocol"]).toBe("v5.channel.k8s.io");
      expect(h["authorization"]).toBe(`Bearer ${gw.fake.gatewayToken}`);
      expect(h["impersonate-user"]).toBe("kubegate:alice");
      expect(JSON.stringify(h)).not.toContain(b64url(aliceToken).slice(0, 40));
    });
  });

  describe("upgrades", () => {
    const upgradeHeaders = (protocol: string, token = aliceToken): Array<[string, string]> => [
      ["Authorization", `Bearer ${token}`],
      ["Connection", "Upgrade"],
      ["Upgrade", protocol],
    ];

    for (const protocol of ["h2c", "foo"]) {
      it(`Upgrade: ${protocol} is a 400 Status and the connection closes`, async () => {
        const seen = await memberRequestsDuring(async () => {
          const up = await rawUpgrade(gw.dataUrl, gw.caPem, {
            path: `${EXEC_PATH}?command=true&stdout=true`,
            headers: [...upgradeHeaders(protocol), ...(protocol === "h2c" ? ([["HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"]] as Array<[string, string]>) : [])],
          });
          try {
            expect(up.status).toBe(400);
            expect(JSON.parse(await readBody(up))).toMatchObject({ kind: "Status", code: 400, reason: "BadRequest" });
            await up.closed;
          } finally {
            up.destroy();
          }
        });
        expect(seen).toBe(0);
      });
    }

    it("an upgrade with a bad credential is a 401 Status on the socket, which then closes", async () => {
      const bobToken = await mint(bob, OTHER);
      const wsBearer = (t: string) => `v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.${b64url(t)}`;
      const attempts: Array<[string, Array<[string, string]>]> = [
        ["forged bearer", [["Authorization", "Bearer a.b.c"], ["Connection", "Upgrade"], ["Upgrade", "SPDY/3.1"]]],
        ["no credential", [["Connection", "Upgrade"], ["Upgrade", "SPDY/3.1"]]],
        ["another cluster's token", upgradeHeaders("SPDY/3.1", bobToken)],
        ["another cluster's token in the subprotocol", [["Connection", "Upgrade"], ["Upgrade", "websocket"], ["Sec-WebSocket-Version", "13"], ["Sec-WebSocket-Key", randomBytes(16).toString("base64")], ["Sec-WebSocket-Protocol", wsBearer(bobToken)]]],
      ];
      const seen = await memberRequestsDuring(async () => {
        for (const [what, headers] of attempts) {
          const up = await rawUpgrade(gw.dataUrl, gw.caPem, { path: `${EXEC_PATH}?command=true&stdout=true`, headers });
          try {
            expect(up.status, what).toBe(401);
            expect(JSON.parse(await readBody(up)), what).toMatchObject(UNAUTHORIZED);
            await up.closed;
          } finally {
            up.destroy();
          }
        }
      });
      expect(seen).toBe(0);
      // The subprotocol carries a token only on an upgrade: on a plain request it is no credential.
      for (const protocol of PROTOCOLS) {
        const plain = await req(protocol, CONFIGMAPS, { "sec-websocket-protocol": wsBearer(aliceToken) });
        expect(plain.status).toBe(401);
      }
    });

    it("SPDY/3.1 is answered 101 and carries bytes unchanged both ways", async () => {
      const before = gw.fake.requests.length;
      const up = await rawUpgrade(gw.dataUrl, gw.caPem, {
        path: `${EXEC_PATH}?command=cat&stdin=true&stdout=true`,
        headers: [
          ...upgradeHeaders("SPDY/3.1"),
          ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
          ["Impersonate-User", "admin"],
          ["Impersonate-Group", "system:masters"],
          ["X-Remote-User", "admin"],
        ],
      });
      try {
        expect(up.status).toBe(101);
        // The upgrade request got the same hygiene as any other.
        const [seen] = gw.fake.requests.slice(before);
        expect(seen?.upgrade).toBe("SPDY/3.1");
        expect(seen?.headers["impersonate-user"]).toBe("kubegate:alice");
        expect(seen?.headers["impersonate-group"]).toEqual(["kubegate:dev", "kubegate:ops"]);
        expect(seen?.headers["x-remote-user"]).toBeUndefined();
        expect(seen?.headers["authorization"]).toBe(`Bearer ${gw.fake.gatewayToken}`);
        expect(up.headers["upgrade"]?.toLowerCase()).toBe("spdy/3.1");
        expect(up.headers["x-stream-protocol-version"]).toBe("v4.channel.k8s.io");
        const sent = randomBytes(64 * 1024);
        up.socket.write(sent);
        const back = await up.read(sent.length);
        expect(back.equals(sent)).toBe(true);
        // And again, in small pieces, to be sure nothing is buffered or reordered.
        const pieces = Array.from({ length: 32 }, () => randomBytes(97));
        for (const p of pieces) up.socket.write(p);
        expect((await up.read(32 * 97)).equals(Buffer.concat(pieces))).toBe(true);
      } finally {
        up.destroy();
      }
    });

    it("a refused upgrade is relayed and the connection closes", async () => {
      gw.fake.hooks.rejectUpgrade(403, { path: "/api/v1/namespaces/default/pods/fake-pod/exec" });
      const up = await rawUpgrade(gw.dataUrl, gw.caPem, {
        path: `${EXEC_PATH}?command=cat&stdin=true&stdout=true`,
        headers: [...upgradeHeaders("SPDY/3.1"), ["X-Stream-Protocol-Version", "v4.channel.k8s.io"]],
      });
      try {
        expect(up.status).toBe(403);
        expect(up.headers["connection"]?.toLowerCase()).toBe("close");
        const body = await readBody(up);
        expect(JSON.parse(body)).toMatchObject({ kind: "Status", code: 403 });
        await Promise.race([up.closed, new Promise((_, reject) => setTimeout(() => reject(new Error("the gateway kept the connection open")), 3000))]);
        expect(up.isClosed()).toBe(true);
        // Nothing more can ride on it: a second request gets no answer.
        const more = up.rest().length;
        if (!up.socket.destroyed) up.socket.write(`GET ${CONFIGMAPS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${aliceToken}\r\n\r\n`);
        await new Promise((r) => setTimeout(r, 100));
        expect(up.rest().length).toBe(more);
      } finally {
        up.destroy();
      }
    });
  });

  describe("not a general proxy", () => {
    it("absolute-form targets and CONNECT are refused (HTTP/1.1)", async () => {
      const seen = await memberRequestsDuring(async () => {
        const absolute = await rawUpgrade(gw.dataUrl, gw.caPem, {
          path: `${gw.fake.url}/api/v1/namespaces`,
          headers: [["Authorization", `Bearer ${aliceToken}`], ["Connection", "close"]],
        });
        expect(absolute.status).toBe(400);
        expect(JSON.parse(await readBody(absolute))).toMatchObject({ kind: "Status", code: 400 });
        absolute.destroy();
        const connect = await rawUpgrade(gw.dataUrl, gw.caPem, {
          method: "CONNECT",
          path: new URL(gw.fake.url).host,
          headers: [["Authorization", `Bearer ${aliceToken}`]],
        }).catch((err: Error) => err);
        if (!(connect instanceof Error)) {
          expect(connect.status).toBeGreaterThanOrEqual(400);
          connect.destroy();
        }
      });
      expect(seen).toBe(0);
    });

    it("CONNECT is refused (HTTP/2)", async () => {
      const seen = await memberRequestsDuring(async () => {
        const session = await http2Connect(gw.dataUrl, gw.caPem);
        try {
          const outcome = await new Promise<number | Error>((resolve) => {
            const stream = session.request({ ":method": "CONNECT", ":authority": new URL(gw.fake.url).host, ...bearer(aliceToken) }, { endStream: false });
            stream.on("response", (h) => {
              resolve(Number(h[":status"]));
              stream.close();
            });
            stream.on("error", resolve);
            stream.on("close", () => resolve(new Error(`closed ${stream.rstCode}`)));
          });
          if (typeof outcome === "number") expect(outcome).toBeGreaterThanOrEqual(400);
        } finally {
          session.close();
        }
      });
      expect(seen).toBe(0);
    });

    it("unauthenticated callers cannot tell which clusters exist", async () => {
      for (const protocol of PROTOCOLS) {
        const known = await req(protocol, "/clusters/member/api/v1/namespaces");
        const unknown = await req(protocol, "/clusters/nope/api/v1/namespaces");
        const forgedUnknown = await req(protocol, "/clusters/nope/api/v1/namespaces", { authorization: "Bearer a.b.c" });
        for (const res of [known, unknown, forgedUnknown]) {
          expect(res.status).toBe(401);
          expect(res.json).toMatchObject(UNAUTHORIZED);
        }
        expect(unknown.body).toBe(known.body);
      }
    });
  });

  describe("errors are Status JSON", () => {
    for (const protocol of PROTOCOLS) {
      it(`unknown cluster and paths outside /clusters/ are 404 (${protocol})`, async () => {
        const seen = await memberRequestsDuring(async () => {
          const nope = await req(protocol, "/clusters/nope/api/v1/namespaces", bearer(aliceToken));
          expect(nope.status).toBe(404);
          expect(nope.headers["content-type"]).toBe("application/json");
          expect(nope.json).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: 'cluster "nope" not found' });
          for (const path of ["/api/v1/namespaces", "/", "/cluster/member/api", "/clustersmember/api"]) {
            const outside = await req(protocol, path, bearer(aliceToken));
            expect(outside.status, path).toBe(404);
            expect(outside.json, path).toMatchObject({ kind: "Status", reason: "NotFound", code: 404 });
          }
        });
        expect(seen).toBe(0);
      });
    }
  });

  it("an expired token is a 401 Status and reaches no member", async () => {
    // The verifier allows 5 s of clock skew past exp.
    const wait = (expiring.exp + 5) * 1000 + 200 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (const protocol of PROTOCOLS) {
      const seen = await memberRequestsDuring(async () => {
        const res = await req(protocol, CONFIGMAPS, bearer(expiring.token));
        expect(res.status).toBe(401);
        expect(res.json).toMatchObject(UNAUTHORIZED);
      });
      expect(seen).toBe(0);
    }
  });

  it("no token minted in this file reached the member (any header or query) or the log", () => {
    expect(gw.fake.requests.length).toBeGreaterThan(10);
    const leaks: string[] = [];
    for (const r of gw.fake.requests) {
      const text = `${r.rawQuery}\n${Object.values(r.headers).flat().join("\n")}`;
      for (const secret of new Set(secrets)) {
        if (text.includes(secret) || text.includes(b64url(secret).slice(0, 40))) leaks.push(`${r.method} ${r.path}`);
      }
      expect(r.headers["authorization"], `${r.method} ${r.path}`).toBe(`Bearer ${gw.fake.gatewayToken}`);
    }
    expect(leaks).toEqual([]);
    // Nor any log line (audit or otherwise).
    const logText = JSON.stringify(gw.logs);
    expect(new Set(secrets).size).toBeGreaterThan(5);
    for (const secret of new Set(secrets)) expect(logText.includes(secret)).toBe(false);
  });
});
