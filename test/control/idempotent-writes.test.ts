/**
 * A client that retries a create after a lost answer (as it must) gets the first answer
 * again when it sends the same request_id: one grant, one cluster, one API key, and the
 * secrets shown once are shown again to that retry. The same request_id on a different
 * request, or a malformed one, is refused and changes nothing.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createKubegateClients } from "../../src/client/clients.ts";
import { createCa } from "../../src/tls/pki.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));

describe("idempotent creates", () => {
  let cp: TestControlPlane;
  let ca: string;
  beforeAll(async () => {
    cp = await startTestControlPlane();
    ca = (await createCa("member")).certPem;
    await cp.clients().clusters.registerCluster({ name: "prod", mode: { case: "direct", value: { serverUrl: "https://m:6443", caPem: ca, credential: { kind: { case: "bearerToken", value: "t" } } } } });
  });
  afterAll(() => cp.close());

  const grantReq = (requestId: string, name = "alice") => ({ cluster: "prod", subject: { kind: SubjectKind.USER, name }, role: Role.VIEW, namespaces: ["dev"], requestId });

  it("CreateGrant: a retry gets the same grant; ten at once make one", async () => {
    const { grants } = cp.clients();
    const first = await grants.createGrant(grantReq("retry-1"));
    const again = await grants.createGrant(grantReq("retry-1"));
    expect(again.grant?.id).toBe(first.grant?.id);
    const racing = await Promise.all(Array.from({ length: 10 }, () => grants.createGrant(grantReq("race-1", "bob"))));
    expect(new Set(racing.map((r) => r.grant?.id)).size).toBe(1);
    const all = await grants.listGrants({ cluster: "prod", pageSize: 100 });
    expect(all.grants.filter((g) => g.subject?.name === "alice")).toHaveLength(1);
    expect(all.grants.filter((g) => g.subject?.name === "bob")).toHaveLength(1);
    // Without a request_id every call creates.
    await grants.createGrant(grantReq(""));
    await grants.createGrant(grantReq(""));
    expect((await grants.listGrants({ cluster: "prod", pageSize: 100 })).grants.filter((g) => g.subject?.name === "alice")).toHaveLength(3);
  });

  it("RegisterCluster: a retry gets the same answer, the agent bootstrap token included", async () => {
    const { clusters } = cp.clients();
    const req = { name: "edge", mode: { case: "agent" as const, value: {} }, requestId: "reg-edge-1" };
    const first = await clusters.registerCluster(req);
    expect(first.agentBootstrapToken).toMatch(/^kgb_/);
    const again = await clusters.registerCluster(req);
    expect(again.agentBootstrapToken).toBe(first.agentBootstrapToken);
    expect(again.cluster?.name).toBe("edge");
    // The same name without the request id is what it always was: already exists.
    expect((await failure(clusters.registerCluster({ ...req, requestId: "" })))?.code).toBe(Code.AlreadyExists);
  });

  it("CreateApiKey: a retry gets the same key and secret, and the secret works", async () => {
    const { identity } = cp.clients();
    const req = { name: "ci", subject: "ci-bot", groups: ["ci"], requestId: "key-ci-1" };
    const first = await identity.createApiKey(req);
    const again = await identity.createApiKey(req);
    expect(again.apiKey?.id).toBe(first.apiKey?.id);
    expect(again.secret).toBe(first.secret);
    const me = await cp.clients(again.secret).identity.whoAmI({});
    expect(me.subject).toBe("ci-bot");
    const keys = await identity.listApiKeys({ pageSize: 100 });
    expect(keys.apiKeys.filter((k) => k.name === "ci")).toHaveLength(1);
  });

  it("refuses a request_id reused for a different request, or malformed, and creates nothing", async () => {
    const { grants } = cp.clients();
    await grants.createGrant(grantReq("reuse-1", "carol"));
    const reused = await failure(grants.createGrant(grantReq("reuse-1", "dave")));
    expect(reused?.code).toBe(Code.FailedPrecondition);
    expect(reused?.rawMessage).toContain('request_id "reuse-1" was already used for a different AccessGrants.CreateGrant request');
    for (const bad of ["has space", "x".repeat(129), "semi;colon", "ünïcode"]) {
      const err = await failure(grants.createGrant(grantReq(bad, "erin")));
      expect(err?.code).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toMatch(/^request_id: /);
    }
    const names = (await grants.listGrants({ cluster: "prod", pageSize: 100 })).grants.map((g) => g.subject?.name);
    expect(names).not.toContain("dave");
    expect(names).not.toContain("erin");
  });

  it("keeps one caller's request ids apart from another's", async () => {
    const other = await cp.apiKey("second-admin", ["kubegate:admins"]);
    const mine = await cp.clients().grants.createGrant(grantReq("shared-id", "frank"));
    const theirs = await createKubegateClients({ baseUrl: cp.url, caPem: cp.caPem, credential: other }).grants.createGrant(grantReq("shared-id", "frank"));
    expect(theirs.grant?.id).not.toBe(mine.grant?.id);
  });
});
