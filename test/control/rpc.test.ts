/**
 * Every RPC over the Connect, gRPC and gRPC-Web protocols against a real control plane.
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterMode, CredentialKind } from "../../gen/kubegate/v1/cluster_pb.ts";
import { GrantState, Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { KubeconfigMode } from "../../gen/kubegate/v1/token_pb.ts";
import type { Protocol } from "../../src/client/clients.ts";
import { createCa, issueServerCert } from "../../src/tls/pki.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";

async function code(p: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error("expected the call to fail");
}

const user = (name: string) => ({ kind: SubjectKind.USER, name });
const group = (name: string) => ({ kind: SubjectKind.GROUP, name });

describe.each<Protocol>(["connect", "grpc", "grpc-web"])("every RPC over %s", (protocol) => {
  let cp: TestControlPlane;
  let memberCa: string;
  beforeAll(async () => {
    cp = await startTestControlPlane();
    memberCa = (await createCa("member")).certPem;
  });
  afterAll(() => cp.close());

  it("registers, reads, lists, updates and deregisters clusters", async () => {
    const { clusters } = cp.clients(cp.adminKey, protocol);
    const direct = await clusters.registerCluster({
      name: "prod-eu",
      labels: { env: "prod", region: "eu" },
      mode: { case: "direct", value: { serverUrl: "https://10.0.0.1:6443/", caPem: memberCa, credential: { kind: { case: "bearerToken", value: "sa-token" } } } },
    });
    expect(direct.cluster?.mode).toBe(ClusterMode.DIRECT);
    expect(direct.cluster?.serverUrl).toBe("https://10.0.0.1:6443");
    expect(direct.cluster?.credentialKind).toBe(CredentialKind.BEARER_TOKEN);
    expect(direct.agentBootstrapToken).toBe("");
    expect(JSON.stringify(direct, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain("sa-token");

    const agent = await clusters.registerCluster({ name: "edge-1", labels: { env: "dev" }, mode: { case: "agent", value: {} } });
    expect(agent.agentBootstrapToken).toMatch(/^kgb_/);
    expect(agent.cluster?.credentialKind).toBe(CredentialKind.AGENT);
    await clusters.registerCluster({ name: "staging", labels: { env: "staging" }, mode: { case: "agent", value: {} } });

    const got = await clusters.getCluster({ name: "prod-eu" });
    expect(got.cluster?.labels).toEqual({ env: "prod", region: "eu" });

    const page1 = await clusters.listClusters({ pageSize: 2 });
    expect(page1.clusters.map((c) => c.name)).toEqual(["edge-1", "prod-eu"]);
    const page2 = await clusters.listClusters({ pageSize: 2, pageToken: page1.nextPageToken });
    expect(page2.clusters.map((c) => c.name)).toEqual(["staging"]);
    expect(page2.nextPageToken).toBe("");
    const sel = await clusters.listClusters({ labelSelector: "env in (prod,staging),!legacy" });
    expect(sel.clusters.map((c) => c.name)).toEqual(["prod-eu", "staging"]);

    const upd = await clusters.updateCluster({ name: "prod-eu", updateMask: { paths: ["labels", "display_name"] }, labels: { env: "prod" }, displayName: "Production EU" });
    expect(upd.cluster?.labels).toEqual({ env: "prod" });
    expect(upd.cluster?.displayName).toBe("Production EU");
    const rotated = await clusters.updateCluster({
      name: "prod-eu",
      updateMask: { paths: ["credential"] },
      credential: { kind: { case: "bearerToken", value: "rotated" } },
    });
    expect(rotated.cluster?.credentialKind).toBe(CredentialKind.BEARER_TOKEN);

    await clusters.deregisterCluster({ name: "staging" });
    expect((await code(clusters.getCluster({ name: "staging" }))).code).toBe(Code.NotFound);
  });

  it("grants, mints tokens and kubeconfigs, publishes keys, revokes", async () => {
    const admin = cp.clients(cp.adminKey, protocol);
    const aliceKey = await cp.apiKey("alice", ["dev"]);
    const alice = cp.clients(aliceKey, protocol);
    expect((await alice.identity.whoAmI({})).subject).toBe("alice");

    // Admins get no token without a grant, as Ankra does.
    expect((await code(admin.tokens.mintToken({ cluster: "prod-eu" }))).code).toBe(Code.PermissionDenied);
    const noGrant = await code(alice.tokens.mintToken({ cluster: "prod-eu" }));
    expect(noGrant).toEqual({ code: Code.PermissionDenied, message: 'you do not have access to cluster "prod-eu": ask an admin for a grant' });

    const g = await admin.grants.createGrant({ cluster: "prod-eu", subject: user("alice"), role: Role.VIEW, namespaces: ["team-a", "team-b"] });
    expect(g.grant?.state).toBe(GrantState.APPLIED);
    const gg = await admin.grants.createGrant({
      cluster: "edge-1",
      subject: group("dev"),
      role: Role.EDIT,
      expireTime: timestampFromDate(new Date(Date.now() + 3_600_000)),
    });
    expect(gg.grant?.id).toMatch(/^gr-/);

    // alice sees her grants and only the clusters she may use.
    expect((await alice.grants.listGrants({})).grants.map((x) => x.id).sort()).toEqual([g.grant!.id, gg.grant!.id].sort());
    expect((await alice.grants.getGrant({ id: g.grant!.id })).grant?.role).toBe(Role.VIEW);
    expect((await alice.clusters.listClusters({})).clusters.map((c) => c.name)).toEqual(["edge-1", "prod-eu"]);
    expect((await admin.grants.listGrants({ cluster: "prod-eu" })).grants).toHaveLength(1);
    expect((await admin.grants.listGrants({ subject: group("dev") })).grants).toHaveLength(1);

    const minted = await alice.tokens.mintToken({ cluster: "prod-eu", ttl: durationFromMs(60_000) });
    expect(minted.grantIds).toEqual([g.grant!.id]);
    const keys = await alice.tokens.getSigningKeys({});
    expect(keys.keys[0]?.alg).toBe("EdDSA");
    const jwks = createLocalJWKSet(JSON.parse(keys.jwksJson));
    const { payload } = await jwtVerify(minted.token, jwks, { issuer: "kubegate", audience: "prod-eu" });
    expect(payload.sub).toBe("alice");
    expect(payload["groups"]).toEqual(["dev"]);
    expect(payload.jti).toBe(minted.tokenId);
    expect(decodeProtectedHeader(minted.token).kid).toBe(keys.keys[0]?.kid);
    const ttl = timestampDate(minted.expireTime!).getTime() - Date.now();
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    const kcExec = await alice.tokens.mintKubeconfig({ allClusters: true, namespace: "team-a" });
    const doc = parse(kcExec.kubeconfig);
    expect(kcExec.clusters).toEqual(["edge-1", "prod-eu"]);
    expect(doc.contexts.map((c: { name: string }) => c.name)).toEqual(["kubegate-edge-1", "kubegate-prod-eu"]);
    expect(doc.clusters[1].cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/clusters\/prod-eu$/);
    expect(doc.users[1].user.exec).toMatchObject({ apiVersion: "client.authentication.k8s.io/v1", command: "kubegate", args: ["kube-token", "--cluster", "prod-eu"] });
    expect(doc.contexts[1].context.namespace).toBe("team-a");
    const kcTok = await alice.tokens.mintKubeconfig({ clusters: ["prod-eu"], mode: KubeconfigMode.EMBEDDED_TOKEN });
    const tokDoc = parse(kcTok.kubeconfig);
    await jwtVerify(tokDoc.users[0].user.token, jwks, { audience: "prod-eu" });
    expect(kcTok.expireTime).toBeDefined();

    // Revocations show up on the sync stream (checked in sync.test.ts); here: they are accepted.
    await alice.tokens.revokeToken({ target: { case: "token", value: minted.token } });
    await admin.tokens.revokeToken({ target: { case: "tokenId", value: "some-jti" } });
    expect((await code(alice.tokens.revokeToken({ target: { case: "tokenId", value: "x" } }))).code).toBe(Code.PermissionDenied);

    const revoked = await admin.grants.revokeGrant({ id: g.grant!.id, reason: "left the team" });
    expect(revoked.grant?.state).toBe(GrantState.REVOKED);
    expect(revoked.grant?.stateMessage).toBe("left the team");
    expect((await code(alice.tokens.mintToken({ cluster: "prod-eu" }))).code).toBe(Code.PermissionDenied);
    expect((await admin.grants.revokeSubject({ subject: group("dev") })).revokedGrants).toBe(1);
    expect((await admin.grants.getGrant({ id: gg.grant!.id })).grant?.state).toBe(GrantState.REVOKED);
    expect((await code(alice.tokens.mintToken({ cluster: "edge-1" }))).code).toBe(Code.PermissionDenied);
  });

  it("manages API keys", async () => {
    const { identity } = cp.clients(cp.adminKey, protocol);
    const created = await identity.createApiKey({ name: "ci", subject: "ci-bot", groups: ["ci"] });
    expect(created.secret).toMatch(/^kgk_/);
    expect((await identity.listApiKeys({})).apiKeys.map((k) => k.id)).toContain(created.apiKey!.id);
    const ci = cp.clients(created.secret, protocol);
    expect((await ci.identity.whoAmI({})).groups).toEqual(["ci"]);
    expect((await code(ci.identity.listApiKeys({}))).code).toBe(Code.PermissionDenied);
    await identity.revokeApiKey({ id: created.apiKey!.id });
    expect((await code(ci.identity.whoAmI({})))).toEqual({ code: Code.Unauthenticated, message: `API key ${created.apiKey!.id} has been revoked` });
    expect((await identity.listApiKeys({})).apiKeys.map((k) => k.id)).not.toContain(created.apiKey!.id);
    expect((await identity.listApiKeys({ includeRevoked: true })).apiKeys.map((k) => k.id)).toContain(created.apiKey!.id);
  });

  it("streams a snapshot then deltas to a data-plane credential only", async () => {
    const admin = cp.clients(cp.adminKey, protocol);
    const dpKey = await cp.apiKey("dp-1", ["kubegate:data-planes"]);
    const dp = cp.clients(dpKey, protocol);
    const abort = new AbortController();
    const stream = dp.sync.watchState({ replica: "test" }, { signal: abort.signal })[Symbol.asyncIterator]();
    const first = (await stream.next()).value;
    expect(first.snapshot).toBe(true);
    expect(first.clusters.map((c: { name: string }) => c.name)).toContain("prod-eu");
    const route = first.clusters.find((c: { name: string }) => c.name === "prod-eu");
    expect(route.credential.kind).toEqual({ case: "bearerToken", value: "rotated" });
    expect(first.signingKeys.length).toBeGreaterThan(0);

    const g = await admin.grants.createGrant({ cluster: "prod-eu", subject: user("bob"), role: Role.EDIT });
    let delta = (await stream.next()).value;
    while (delta.grants.length === 0) delta = (await stream.next()).value;
    expect(delta.snapshot).toBe(false);
    expect(delta.grants[0].id).toBe(g.grant!.id);
    expect(delta.revision).toBeGreaterThan(first.revision);
    await admin.grants.revokeGrant({ id: g.grant!.id });
    delta = (await stream.next()).value;
    while (delta.grants.length === 0) delta = (await stream.next()).value;
    expect(delta.grants[0].state).toBe(GrantState.REVOKED);
    abort.abort();

    // Resume from a revision: deltas only, no snapshot.
    const resumed = dp.sync.watchState({ fromRevision: first.revision })[Symbol.asyncIterator]();
    const r1 = (await resumed.next()).value;
    expect(r1.snapshot).toBe(false);
    expect(r1.grants.map((x: { id: string }) => x.id)).toContain(g.grant!.id);
    await resumed.return?.();

    const alice = cp.clients(await cp.apiKey("mallory"), protocol);
    const denied = await code((async () => {
      for await (const _ of alice.sync.watchState({})) break;
    })());
    expect(denied.code).toBe(Code.PermissionDenied);
    expect((await code(admin.sync.reportClusterStatus({ reports: [] }))).code).toBe(Code.PermissionDenied);
  });
});

describe("direct-mode credentials", () => {
  it("accepts a client certificate and rejects one whose key does not match", async () => {
    const cp = await startTestControlPlane();
    try {
      const ca = await createCa("member");
      const a = await issueServerCert(ca, ["a"]);
      const b = await issueServerCert(ca, ["b"]);
      const { clusters } = cp.clients();
      const ok = await clusters.registerCluster({
        name: "cert-cluster",
        mode: { case: "direct", value: { serverUrl: "https://m:6443", caPem: ca.certPem, credential: { kind: { case: "clientCertificate", value: { certPem: a.certPem, keyPem: a.keyPem } } } } },
      });
      expect(ok.cluster?.credentialKind).toBe(CredentialKind.CLIENT_CERTIFICATE);
      const bad = await code(
        clusters.registerCluster({
          name: "cert-bad",
          mode: { case: "direct", value: { serverUrl: "https://m:6443", caPem: ca.certPem, credential: { kind: { case: "clientCertificate", value: { certPem: a.certPem, keyPem: b.keyPem } } } } },
        }),
      );
      expect(bad).toEqual({ code: Code.InvalidArgument, message: "direct.credential.client_certificate: the private key does not match the certificate" });
      void create;
    } finally {
      await cp.close();
    }
  });
});
