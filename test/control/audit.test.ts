/**
 * The recent audit (AuditLog, `kubegate audit`) end to end: kubectl through the data plane
 * (a write, a refusal, reads counted together, an exec session), the control plane's own
 * events, paging, who may read it, the CLI, and retention.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../gen/kubegate/v1/audit_pb.ts";
import type { KubegateClients } from "../../src/client/clients.ts";
import { ConfigError, resolveServeConfig } from "../../src/config/serve-config.ts";
import { SQLITE_FILE } from "../../src/store/open.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { failure } from "../support/connect-errors.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";
import { startTestGateway, type TestGateway, type TestUser } from "../support/gateway.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, run } from "../support/programs.ts";
import { rawRequest } from "../support/raw-client.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");

/** Every page of ListAuditEvents for the filter. */
async function listAll(clients: KubegateClients, req: { cluster?: string; subject?: string; pageSize?: number }): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let pageToken = "";
  do {
    const page = await clients.audit.listAuditEvents({ ...req, pageToken });
    out.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return out;
}

const ms = (e: AuditEvent) => timestampDate(e.time!).getTime();

describe.runIf(enabled)("the recent audit of a cluster", () => {
  let gw: TestGateway;
  let alice: TestUser;
  let bob: TestUser;
  let home: string;
  let aliceConfig: string;
  let bobConfig: string;
  const kubectl = (kubeconfig: string, args: string[], input?: string) => run(KUBECTL, args, clientEnv(kubeconfig, home), input);
  /** The data plane's buffered events, sent now rather than at its next tick. */
  const flush = () => gw.kubegate.data!.flushAudit();
  const gets = 4;

  beforeAll(async () => {
    // Sent only when the test flushes, so what is counted together is up to the test.
    gw = await startTestGateway({ flags: { "audit-flush-interval": "1h" } });
    alice = await gw.user("alice", { role: "edit" });
    bob = await gw.user("bob", { role: "view" });
    home = await mkdtemp(join(tmpdir(), "kubegate-audit-home-"));
    aliceConfig = await alice.kubeconfig({ namespace: "default" });
    bobConfig = await bob.kubeconfig({ namespace: "default" });

    expect((await kubectl(aliceConfig, ["create", "configmap", "audited", "--from-literal=a=1"])).stdout).toContain("configmap/audited created");
    expect((await kubectl(aliceConfig, ["label", "configmap", "audited", "audit=yes"])).stdout).toContain("configmap/audited labeled");
    const refused = await kubectl(bobConfig, ["delete", "configmap", "audited"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('configmaps "audited" is forbidden');
    for (let i = 0; i < gets; i++) expect((await kubectl(bobConfig, ["get", "configmap", "audited", "-o", "name"])).stdout).toBe("configmap/audited\n");
    await flush();
  });
  afterAll(async () => {
    await gw?.close();
    await rm(home, { recursive: true, force: true });
  });

  it("shows the create, the refusal with kubegate's reason, and the gets counted in one event", async () => {
    const events = await listAll(gw.admin, { cluster: "member" });
    const create = events.filter((e) => e.kind === "request" && e.verb === "create" && e.resource === "configmaps");
    expect(create).toHaveLength(1);
    // A create names its object in the body, which the data plane does not read: no name.
    expect(create[0]).toMatchObject({ cluster: "member", actor: "alice", namespace: "default", name: "", statusCode: 201, grantId: alice.grantId, count: 1n });
    expect(create[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(create[0]!.source).toMatch(/:\d+$/); // the replica, hostname:pid
    const label = events.filter((e) => e.kind === "request" && e.verb === "patch");
    expect(label).toHaveLength(1);
    expect(label[0]).toMatchObject({ actor: "alice", resource: "configmaps", namespace: "default", name: "audited", statusCode: 200, grantId: alice.grantId });

    const refusal = events.filter((e) => e.kind === "request" && e.verb === "delete");
    expect(refusal).toHaveLength(1);
    expect(refusal[0]).toMatchObject({ actor: "bob", resource: "configmaps", namespace: "default", name: "audited", statusCode: 403, count: 1n });
    expect(refusal[0]!.message).toContain(`grant ${bob.grantId} (view) is read-only`);

    const reads = events.filter((e) => e.actor === "bob" && e.verb === "get" && e.resource === "configmaps");
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ namespace: "default", name: "audited", statusCode: 200, grantId: bob.grantId, requestId: "" });
    expect(Number(reads[0]!.count)).toBeGreaterThanOrEqual(gets);
    expect(timestampDate(reads[0]!.firstTime!).getTime()).toBeLessThan(ms(reads[0]!));
    // kubectl's discovery is counted too, never one event a request.
    expect(events.filter((e) => e.actor === "bob" && e.kind === "request").length).toBeLessThan(gets + 5);
    // Newest first.
    expect(events.map(ms)).toEqual(events.map(ms).sort((a, b) => b - a));
    // The log lines are as complete as before.
    expect(gw.logs.filter((l) => l["audit"] === "request" && l["user"] === "bob" && l["verb"] === "get" && l["resource"] === "configmaps")).toHaveLength(gets);
  });

  it("shows the control plane's events on the cluster: register, grants and tokens", async () => {
    const events = await listAll(gw.admin, { cluster: "member" });
    const control = events.filter((e) => e.source === "control-plane");
    expect(control.find((e) => e.kind === "cluster.register")).toMatchObject({ actor: "admin", statusCode: 0 });
    expect(control.find((e) => e.kind === "grant.create" && e.grantId === alice.grantId)).toMatchObject({ actor: "admin", targetSubject: "user:alice" });
    expect(control.find((e) => e.kind === "grant.create" && e.grantId === bob.grantId)?.message).toBe("grant created: role=view");
    const mints = control.filter((e) => e.kind === "token.mint");
    expect(mints.map((e) => e.actor).sort()).toEqual(["alice", "bob"]);
    expect(mints[0]!.message).toMatch(/^token minted: jti=\S+ expiresAt=\d{4}-/);
    // Events of no cluster are listed without a filter.
    const all = await listAll(gw.admin, {});
    expect(all.filter((e) => e.kind === "apikey.create").map((e) => e.targetSubject).sort()).toEqual(["alice", "bob"]);
    expect(all.find((e) => e.kind === "apikey.create")?.cluster).toBe("");
  });

  it("pages by two through every event once, and filters by the acting subject", async () => {
    const whole = await listAll(gw.admin, { cluster: "member", pageSize: 500 });
    const paged = await listAll(gw.admin, { cluster: "member", pageSize: 2 });
    expect(whole.length).toBeGreaterThan(6);
    expect(paged.map((e) => e.id)).toEqual(whole.map((e) => e.id));
    expect(new Set(paged.map((e) => e.id)).size).toBe(paged.length);
    const first = await gw.admin.audit.listAuditEvents({ cluster: "member", pageSize: 2 });
    expect(first.events).toHaveLength(2);
    expect(first.nextPageToken).not.toBe("");

    const bobs = await listAll(gw.admin, { subject: "bob" });
    expect(bobs.length).toBeGreaterThan(2);
    expect(new Set(bobs.map((e) => e.actor))).toEqual(new Set(["bob"]));
    expect(await listAll(gw.admin, { cluster: "never-registered" })).toEqual([]);
  });

  it("refuses non-admins, bad page tokens, page sizes and cluster names", async () => {
    const denied = await failure(alice.clients.audit.listAuditEvents({ cluster: "member" }));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(denied.rawMessage).toBe("only kubegate admins may read the audit log");
    const bogus = await failure(gw.admin.audit.listAuditEvents({ cluster: "member", pageToken: "bogus" }));
    expect(bogus.code).toBe(Code.InvalidArgument);
    expect(bogus.rawMessage).toBe("page_token: is not a page token from this query; start again without it");
    // A token from another query is refused too, not silently applied to this one.
    const { nextPageToken } = await gw.admin.audit.listAuditEvents({ cluster: "member", pageSize: 1 });
    expect((await failure(gw.admin.audit.listAuditEvents({ subject: "bob", pageToken: nextPageToken }))).code).toBe(Code.InvalidArgument);
    expect((await failure(gw.admin.audit.listAuditEvents({ pageSize: 501 }))).rawMessage).toBe("page_size: must be between 0 and 500");
    expect((await failure(gw.admin.audit.listAuditEvents({ cluster: "Not_A_Name" }))).code).toBe(Code.InvalidArgument);
  });

  it("records an exec session's start and end, with its bytes", async () => {
    const input = "audited bytes\n".repeat(100);
    const cat = await kubectl(aliceConfig, ["exec", "-i", "fake-pod", "--", "cat"], input);
    expect(cat.stdout).toBe(input);
    // The session ends on the data plane as kubectl exits; its event then reaches the control
    // plane with the reporter's next flush.
    let events: AuditEvent[] = [];
    for (const deadline = Date.now() + 15_000; !events.some((e) => e.kind === "session.end"); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error("no session.end event");
      await flush();
      events = await listAll(gw.admin, { cluster: "member", subject: "alice" });
    }
    const start = events.find((e) => e.kind === "session.start");
    const end = events.find((e) => e.kind === "session.end");
    // kubectl 1.32 execs over WebSocket: a GET.
    expect(start).toMatchObject({ verb: "get", resource: "pods/exec", namespace: "default", name: "fake-pod", statusCode: 101, grantId: alice.grantId });
    expect(end).toMatchObject({ requestId: start!.requestId, resource: "pods/exec", name: "fake-pod" });
    expect(Number(end!.bytesIn)).toBeGreaterThanOrEqual(input.length);
    expect(Number(end!.bytesOut)).toBeGreaterThanOrEqual(input.length);
    expect(ms(end!)).toBeGreaterThanOrEqual(ms(start!));
    // The session events stand for the upgrade: no request event repeats it.
    expect(events.filter((e) => e.kind === "request" && e.resource === "pods/exec")).toEqual([]);
  });

  it("records a request to an unknown cluster without the name", async () => {
    const res = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: "/clusters/made-up-name/api/v1/pods", headers: { authorization: `Bearer ${await alice.token()}` } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    await flush();
    const events = await listAll(gw.admin, {});
    expect(events.some((e) => e.cluster === "made-up-name")).toBe(false);
    expect(events.find((e) => e.kind === "request" && e.cluster === "" && e.statusCode === res.status)?.message).toContain("made-up-name");
  });

  it("kubegate audit prints a table, and the events with -o json", async () => {
    const admin: CliUser = await cliUser();
    try {
      const caFile = join(admin.home, "ca.crt");
      await writeFile(caFile, gw.caPem);
      await admin.login(gw.kubegate.control!.url, caFile, gw.kubegate.control!.bootstrapAdminKey!);
      const table = await admin.run(["audit", "--cluster", "member", "--user", "bob"]);
      expect(table.stderr).toBe("");
      const lines = table.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^TIME\s+CLUSTER\s+USER\s+WHAT\s+STATUS\s+COUNT$/);
      expect(lines.some((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+member\s+bob\s+delete configmaps default\/audited\s+403\s+1$/.test(l))).toBe(true);
      const counted = lines.find((l) => /\sbob\s+get configmaps default\/audited\s+200\s+\d+$/.test(l));
      expect(Number(counted?.split(/\s+/).at(-1))).toBeGreaterThanOrEqual(gets);
      expect(lines.some((l) => /\sbob\s+token\.mint\s+-\s+1$/.test(l))).toBe(true);

      const json = await admin.run(["audit", "--cluster", "member", "--limit", "3", "-o", "json"]);
      const events = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
      expect(events).toHaveLength(3);
      for (const e of events) expect(e).toMatchObject({ id: expect.any(String), cluster: "member", kind: expect.any(String) });
      expect((await admin.run(["audit", "--limit", "0"])).code).toBe(2);
      expect((await admin.run(["--help"])).stdout).toContain("audit [--cluster NAME]");
    } finally {
      await admin.cleanup();
    }
  });
});

describe("audit retention", () => {
  let cp: TestControlPlane;
  let offsetMs = 0;
  beforeAll(async () => {
    cp = await startTestControlPlane({ "audit-retention": "2d" }, { clock: () => new Date(Date.now() + offsetMs) });
  });
  afterAll(() => cp.close());

  it("prunes events older than --audit-retention in the hourly maintenance", async () => {
    const admin = cp.clients();
    await admin.clusters.registerCluster({ name: "old", mode: { case: "agent", value: {} } });
    expect((await listAll(admin, { cluster: "old" })).map((e) => e.kind)).toEqual(["cluster.register"]);

    offsetMs = 3 * 86_400_000;
    await admin.clusters.registerCluster({ name: "new", mode: { case: "agent", value: {} } });
    const deadline = Date.now() + 10_000;
    while ((await listAll(admin, { cluster: "old" })).length > 0) {
      if (Date.now() > deadline) throw new Error("the old event was not pruned");
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await listAll(admin, {})).map((e) => e.cluster)).toEqual(["new"]);
    expect(cp.logs.some((l) => l["msg"] === "audit events past --audit-retention or the per-cluster cap deleted" && l["aged"] === 1)).toBe(true);
  });

  it("refuses a retention that is not longer than 0", () => {
    expect(() => resolveServeConfig({ "audit-retention": "0s" }, {})).toThrow(new ConfigError("--audit-retention (KUBEGATE_AUDIT_RETENTION): must be longer than 0 (e.g. 7d, 36h)"));
    expect(() => resolveServeConfig({}, { KUBEGATE_AUDIT_RETENTION: "-1d" })).toThrow(/--audit-retention \(KUBEGATE_AUDIT_RETENTION\): "-1d" is not a duration/);
    expect(resolveServeConfig({}, {}).auditRetentionMs).toBe(7 * 86_400_000);
  });

  it("a store that cannot keep the event does not fail the call; the log line stands", async () => {
    const db = new DatabaseSync(join(cp.dataDir, SQLITE_FILE));
    try {
      db.exec("drop table audit_events");
    } finally {
      db.close();
    }
    const created = await cp.clients().identity.createApiKey({ name: "after", subject: "carol" });
    expect(created.secret).not.toBe("");
    expect(cp.logs.find((l) => l["audit"] === "apikey.create" && l["subject"] === "carol")).toMatchObject({ by: "admin", apiKey: created.apiKey!.id });
    expect(cp.logs.some((l) => l["level"] === 40 && l["msg"] === "could not store the audit event for AuditLog; the log line stands" && l["audit"] === "apikey.create")).toBe(true);
  });
});
