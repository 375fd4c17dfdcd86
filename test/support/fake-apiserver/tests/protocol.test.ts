/**
 * The fake at the protocol level: both HTTP versions, authentication, the
 * request log, impersonation headers, upgrades (SPDY echo, WebSocket exec),
 * watch framing and every test hook — what proxy tests will rely on.
 */
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeApiserver, IMPERSONATOR_ROLE, startFakeApiserver } from "../index.ts";
import { encodeFrame, decodeFrames } from "../websocket.ts";
import { connect2, rawTls, readUntil, request1, request2 } from "./http-client.ts";

let fake: FakeApiserver;

beforeAll(async () => {
  fake = await startFakeApiserver({ gateway: true, bookmarkIntervalMs: 100, logLineIntervalMs: 50, tokens: { "alice-token": { user: "alice" } } });
});
afterAll(() => fake?.close());

const json = (body: string) => JSON.parse(body) as Record<string, any>;

describe("transport and authentication", () => {
  it("serves HTTP/2 (ALPN h2) and HTTP/1.1 on the same port", async () => {
    const session = connect2(fake);
    try {
      const r2 = await request2(fake, session, { path: "/api/v1/namespaces/default/pods" });
      expect(r2.status).toBe(200);
      expect(json(r2.body)["items"][0].metadata.name).toBe("fake-pod");
      expect(fake.requests.at(-1)?.httpVersion).toBe("2.0");
    } finally {
      session.close();
    }
    const r1 = await request1(fake, { path: "/version" });
    expect(r1.httpVersion).toBe("1.1");
    expect(json(r1.body)["gitVersion"]).toBe("v1.32.0-fake");
  });

  it("answers anonymous requests 401 except health and version", async () => {
    for (const path of ["/healthz", "/livez", "/readyz"]) {
      const r = await request1(fake, { path, token: null });
      expect([r.status, r.body]).toEqual([200, "ok"]);
    }
    expect((await request1(fake, { path: "/version", token: null })).status).toBe(200);
    const denied = await request1(fake, { path: "/api/v1/namespaces", token: null });
    expect(denied.status).toBe(401);
    expect(json(denied.body)).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 });
    expect((await request1(fake, { path: "/version", token: "wrong" })).status).toBe(401);
  });

  it("authenticates client certificates over HTTP/2 and answers 401 to certificates it cannot verify, even on /version", async () => {
    const session = connect2(fake, fake.adminCert);
    try {
      const r = await request2(fake, session, { path: "/api/v1/namespaces", token: null });
      expect(r.status).toBe(200);
      expect(fake.requests.at(-1)?.user).toEqual({ name: "admin-cert", groups: ["system:masters", "system:authenticated"] });
    } finally {
      session.close();
    }
    const { createCa, issueClientCert } = await import("../../../../src/tls/pki.ts");
    const stranger = await issueClientCert(await createCa("other"), "mallory", ["system:masters"]);
    expect((await request1(fake, { path: "/api/v1/namespaces", token: null, cert: stranger })).status).toBe(401);
    const denied = await request1(fake, { path: "/version", token: null, cert: stranger });
    expect([denied.status, json(denied.body)["reason"]]).toEqual([401, "Unauthorized"]);
    // The request log says why, in kube-apiserver's words; the client only sees "Unauthorized".
    expect(fake.requests.at(-1)).toMatchObject({ clientCertificateCn: "mallory", status: 401, authenticationErrors: [expect.stringMatching(/^verifying certificate SN=\d+ failed: x509: certificate signed by unknown authority$/)] });
    const late = await issueClientCert(fake.clientCa, "late", [], { now: new Date(Date.now() - 3 * 86_400_000), days: 1 });
    expect((await request1(fake, { path: "/version", token: null, cert: late })).status).toBe(401);
    expect(fake.requests.at(-1)?.authenticationErrors).toEqual([expect.stringContaining("x509: certificate has expired or is not yet valid: current time")]);
    // A token still names a user when the certificate does not verify (the union tries each authenticator).
    expect((await request1(fake, { path: "/api/v1/namespaces", cert: stranger })).status).toBe(200);
    expect(fake.requests.at(-1)).toMatchObject({ authenticatedBy: "token", user: { name: "admin" } });
  });
});

describe("request log and impersonation", () => {
  it("records every header (repeated ones as arrays) and both identities", async () => {
    const session = connect2(fake);
    try {
      const r = await request2(fake, session, {
        path: "/api/v1/namespaces/default/configmaps?labelSelector=a%3Db",
        token: fake.gatewayToken!,
        headers: { "impersonate-user": "alice", "impersonate-group": ["devs", "ops"], "impersonate-extra-acme.com%2fproject": "p1", "x-custom": "1" },
      });
      expect(r.status).toBe(403); // alice has no rights here, and the 403 names alice, not the gateway
      expect(json(r.body)["message"]).toBe('configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default"');
    } finally {
      session.close();
    }
    const rec = fake.requests.at(-1)!;
    expect(rec.headers["impersonate-group"]).toEqual(["devs", "ops"]);
    expect(rec.headers["x-custom"]).toBe("1");
    expect(rec.query).toEqual({ labelSelector: ["a=b"] });
    expect(rec.user?.name).toBe("kubegate-gateway");
    expect(rec.impersonatedUser).toEqual({ name: "alice", groups: ["devs", "ops", "system:authenticated"], extra: { "acme.com/project": ["p1"] } });
    expect(rec.status).toBe(403);
  });

  it("refuses impersonation without the impersonate verb, worded like kube-apiserver", async () => {
    const r = await request1(fake, { path: "/api/v1/namespaces", token: "alice-token", headers: { "impersonate-user": "bob" } });
    expect(r.status).toBe(403);
    expect(json(r.body)).toMatchObject({ reason: "Forbidden", message: 'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope', details: { name: "bob", kind: "users" } });
    const g = await request1(fake, { path: "/api/v1/namespaces", token: "alice-token", headers: { "impersonate-user": "alice", "impersonate-group": "system:masters" } });
    expect(json(g.body)["message"]).toContain('User "alice" cannot impersonate resource "users"');
    expect(fake.getObject("rbac.authorization.k8s.io/v1", "ClusterRole", undefined, IMPERSONATOR_ROLE)).toBeDefined();
  });
});

describe("objects", () => {
  const cmPath = "/api/v1/namespaces/default/configmaps";
  const post = (body: unknown, path = cmPath) => request1(fake, { method: "POST", path, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  it("creates, conflicts, patches (4 types), validates and deletes with kube-apiserver's Status bodies", async () => {
    const created = json((await post({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "p1", labels: { tier: "a" } }, data: { x: "1" } })).body);
    expect(created["metadata"]).toMatchObject({ name: "p1", namespace: "default", resourceVersion: expect.stringMatching(/^\d+$/), uid: expect.any(String), creationTimestamp: expect.any(String) });
    const dup = await post({ metadata: { name: "p1" } });
    expect([dup.status, json(dup.body)["message"], json(dup.body)["reason"]]).toEqual([409, 'configmaps "p1" already exists', "AlreadyExists"]);
    const stale = await request1(fake, { method: "PUT", path: `${cmPath}/p1`, headers: { "content-type": "application/json" }, body: JSON.stringify({ metadata: { name: "p1", resourceVersion: "1" }, data: {} }) });
    expect([stale.status, json(stale.body)["reason"]]).toEqual([409, "Conflict"]);
    expect(json(stale.body)["message"]).toContain('Operation cannot be fulfilled on configmaps "p1": the object has been modified');
    const patch = (type: string, body: unknown) => request1(fake, { method: "PATCH", path: `${cmPath}/p1`, headers: { "content-type": type }, body: JSON.stringify(body) });
    expect(json((await patch("application/merge-patch+json", { data: { y: "2" } })).body)["data"]).toEqual({ x: "1", y: "2" });
    expect(json((await patch("application/json-patch+json", [{ op: "remove", path: "/data/x" }])).body)["data"]).toEqual({ y: "2" });
    expect(json((await patch("application/strategic-merge-patch+json", { data: { y: null, z: "3" } })).body)["data"]).toEqual({ z: "3" });
    const applied = await request1(fake, { method: "PATCH", path: `${cmPath}/p1?fieldManager=test&force=true`, headers: { "content-type": "application/apply-patch+yaml" }, body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p1\ndata:\n  w: '4'\n" });
    expect(json(applied.body)["data"]).toEqual({ z: "3", w: "4" });
    const dry = await post({ metadata: { name: "dry" } }, `${cmPath}?dryRun=All`);
    expect(dry.status).toBe(201);
    expect(fake.getObject("v1", "ConfigMap", "default", "dry")).toBeUndefined();
    const bad = await post({ metadata: { name: "Bad_Name" } });
    expect([bad.status, json(bad.body)["reason"]]).toEqual([422, "Invalid"]);
    expect(json(bad.body)["message"]).toMatch(/^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    const noNs = await post({ metadata: { name: "x" } }, "/api/v1/namespaces/missing/configmaps");
    expect([noNs.status, json(noNs.body)["message"]]).toEqual([404, 'namespaces "missing" not found']);
    expect((await request1(fake, { method: "DELETE", path: `${cmPath}/p1` })).status).toBe(200);
    const gone = await request1(fake, { path: `${cmPath}/p1` });
    expect(json(gone.body)).toMatchObject({ code: 404, reason: "NotFound", message: 'configmaps "p1" not found', details: { name: "p1", kind: "configmaps" } });
  });

  it("filters by label and field selectors and pages with limit/continue", async () => {
    fake.seed(
      ...["s1", "s2", "s3", "s4"].map((name, i) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "kube-system", labels: { env: i % 2 ? "prod" : "dev", ...(i === 3 ? { canary: "yes" } : {}) } } })),
    );
    const names = async (q: string) => (json((await request1(fake, { path: `/api/v1/namespaces/kube-system/configmaps?${q}` })).body)["items"] as any[]).map((o) => o.metadata.name);
    expect(await names("labelSelector=env%3Dprod")).toEqual(["s2", "s4"]);
    expect(await names("labelSelector=env%20in%20(dev,prod),!canary")).toEqual(["s1", "s2", "s3"]);
    expect(await names("labelSelector=env!%3Ddev,canary")).toEqual(["s4"]);
    expect(await names("labelSelector=env%20notin%20(dev)")).toEqual(["s2", "s4"]);
    expect(await names("fieldSelector=metadata.name%3Ds3")).toEqual(["s3"]);
    expect(await names("fieldSelector=metadata.namespace!%3Dkube-system")).toEqual([]);
    const page1 = json((await request1(fake, { path: "/api/v1/namespaces/kube-system/configmaps?limit=3" })).body);
    expect(page1["items"].length).toBe(3);
    expect(page1["metadata"]["remainingItemCount"]).toBe(1);
    const page2 = json((await request1(fake, { path: `/api/v1/namespaces/kube-system/configmaps?limit=3&continue=${page1["metadata"]["continue"]}` })).body);
    expect(page2["items"].map((o: any) => o.metadata.name)).toEqual(["s4"]);
    expect(page2["metadata"]["continue"]).toBeUndefined();
  });

  it("prints Tables for kubectl's Accept header", async () => {
    const r = await request1(fake, { path: "/api/v1/namespaces/default/pods", headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" } });
    expect(r.headers["content-type"]).toBe("application/json;as=Table;v=v1;g=meta.k8s.io");
    const t = json(r.body);
    expect(t["kind"]).toBe("Table");
    expect(t["columnDefinitions"].map((c: any) => c.name)).toEqual(["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]);
    expect(t["rows"][0].cells.slice(0, 4)).toEqual(["fake-pod", "1/1", "Running", 0]);
    expect(t["rows"][0].object.kind).toBe("PartialObjectMetadata");
  });

  it("serves aggregated discovery when asked and classic otherwise", async () => {
    const accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    const agg = await request1(fake, { path: "/apis", headers: { accept } });
    expect(agg.headers["content-type"]).toBe("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    expect(json(agg.body)["items"].map((g: any) => g.metadata.name)).toEqual(["apps", "authentication.k8s.io", "authorization.k8s.io", "rbac.authorization.k8s.io"]);
    const classic = json((await request1(fake, { path: "/api/v1" })).body);
    expect(classic["resources"].find((r: any) => r.name === "pods/exec")).toMatchObject({ kind: "PodExecOptions", verbs: ["create", "get"] });
  });
});

describe("watch", () => {
  /** Opens a watch over HTTP/2 and collects its events as they arrive. */
  function watch(path: string, headers: Record<string, string> = {}) {
    const session = connect2(fake);
    const stream = session.request({ ":path": path, authorization: `Bearer ${fake.adminToken}`, ...headers });
    const events: any[] = [];
    let buf = "";
    let ended = false;
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        events.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    stream.on("end", () => (ended = true));
    stream.on("error", () => (ended = true));
    return { events, isEnded: () => ended, close: () => session.close() };
  }

  it("replays from a resourceVersion, follows selectors, bookmarks and honours timeoutSeconds", async () => {
    const [first] = fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "w1", namespace: "default", labels: { watch: "me" } } });
    const rv = first!.metadata!.resourceVersion!;
    fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "w1", namespace: "default", labels: { watch: "me" } }, data: { n: "2" } });
    const w = watch(`/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&labelSelector=watch%3Dme&allowWatchBookmarks=true&timeoutSeconds=2`);
    try {
      await expect.poll(() => w.events.length).toBeGreaterThanOrEqual(1);
      expect(w.events[0]).toMatchObject({ type: "MODIFIED", object: { metadata: { name: "w1" }, data: { n: "2" } } });
      fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "w1", namespace: "default", labels: { watch: "no" } } });
      await expect.poll(() => w.events.some((e) => e.type === "DELETED")).toBe(true);
      await expect.poll(() => w.events.some((e) => e.type === "BOOKMARK")).toBe(true);
      expect(fake.liveStreams().watch).toBe(1);
      await expect.poll(() => w.isEnded(), { timeout: 4000 }).toBe(true);
      await expect.poll(() => fake.liveStreams().watch).toBe(0);
    } finally {
      w.close();
    }
  });

  it("starts with synthetic ADDED events without a resourceVersion, and sends Tables when asked", async () => {
    const w = watch("/api/v1/namespaces/default/pods?watch=true");
    try {
      await expect.poll(() => w.events.length).toBe(1);
      expect(w.events[0]).toMatchObject({ type: "ADDED", object: { kind: "Pod", metadata: { name: "fake-pod" } } });
    } finally {
      w.close();
    }
    const t = watch("/api/v1/namespaces/default/pods?watch=1", { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" });
    try {
      await expect.poll(() => t.events.length).toBe(1);
      expect(t.events[0]).toMatchObject({ type: "ADDED", object: { kind: "Table", rows: [{ cells: ["fake-pod", "1/1", "Running", 0, expect.any(String), expect.any(String), "fake-node"] }] } });
    } finally {
      t.close();
    }
  });
});

describe("upgrades", () => {
  const execPath = "/api/v1/namespaces/default/pods/fake-pod/exec";
  const upgradeRequest = (path: string, extra: string) => `GET ${path} HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer ${fake.adminToken}\r\nConnection: Upgrade\r\n${extra}\r\n`;

  it("accepts SPDY/3.1 with 101 and echoes bytes both ways", async () => {
    const s = await rawTls(fake);
    try {
      s.write(upgradeRequest(`${execPath}?command=sh&stdin=true`, "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: v3.channel.k8s.io\r\n"));
      const head = (await readUntil(s, (b) => b.includes("\r\n\r\n"))).toString("latin1");
      expect(head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      expect(head).toContain("Upgrade: SPDY/3.1");
      expect(head).toContain("X-Stream-Protocol-Version: v4.channel.k8s.io");
      const payload = randomBytes(200_000);
      s.write(payload);
      const echoed = await readUntil(s, (b) => b.length >= payload.length);
      expect(echoed.equals(payload)).toBe(true);
      expect(fake.liveStreams().spdy).toBe(1);
      expect(fake.requests.at(-1)).toMatchObject({ upgrade: "SPDY/3.1", status: 101 });
    } finally {
      s.destroy();
    }
  });

  it("refuses an upgrade on a certificate it cannot verify with 401 before switching protocols", async () => {
    const { createCa, issueClientCert } = await import("../../../../src/tls/pki.ts");
    const stranger = await issueClientCert(await createCa("other"), "mallory", ["system:masters"]);
    const s = await rawTls(fake, stranger);
    try {
      s.write(`GET ${execPath}?command=sh&stdin=true HTTP/1.1\r\nHost: fake\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`);
      const head = (await readUntil(s, (b) => b.includes("\r\n\r\n"))).toString("latin1");
      expect(head).toMatch(/^HTTP\/1\.1 401 /);
      // Refused for the certificate, not as an anonymous request: the log has the authenticator's error.
      expect(fake.requests.at(-1)).toMatchObject({ upgrade: "SPDY/3.1", status: 401, clientCertificateCn: "mallory", authenticationErrors: [expect.stringContaining("certificate signed by unknown authority")] });
    } finally {
      s.destroy();
    }
  });

  it("runs exec over WebSocket v5 with stdin close and exit status, and v4 too", async () => {
    for (const protocol of ["v5.channel.k8s.io", "v4.channel.k8s.io"]) {
      const s = await rawTls(fake);
      try {
        const command = protocol.startsWith("v5") ? "command=cat&stdin=true&stdout=true" : "command=sh&command=-c&command=echo%20hi%3B%20exit%207&stdout=true&stderr=true";
        s.write(upgradeRequest(`${execPath}?${command}`, `Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Protocol: ${protocol}\r\n`));
        const head = await readUntil(s, (b) => b.includes("\r\n\r\n"));
        expect(head.toString("latin1")).toContain(`Sec-WebSocket-Protocol: ${protocol}`);
        const mask = randomBytes(4);
        if (protocol.startsWith("v5")) {
          s.write(encodeFrame(2, Buffer.concat([Buffer.from([0]), Buffer.from("ping-pong")]), mask));
          s.write(encodeFrame(2, Buffer.from([255, 0]), mask));
        }
        const rest = head.subarray(head.indexOf("\r\n\r\n") + 4);
        const all = Buffer.concat([rest, await readUntil(s, (b) => decodeFrames(Buffer.concat([rest, b])).frames.some((f) => f.opcode === 8))]);
        const frames = decodeFrames(all).frames.filter((f) => f.opcode === 2);
        const byChannel = (c: number) => Buffer.concat(frames.filter((f) => f.payload[0] === c).map((f) => f.payload.subarray(1))).toString();
        if (protocol.startsWith("v5")) {
          expect(byChannel(1)).toBe("ping-pong");
          expect(JSON.parse(byChannel(3))).toEqual({ metadata: {}, status: "Success" });
        } else {
          expect(byChannel(1)).toBe("hi\n");
          expect(JSON.parse(byChannel(3))).toMatchObject({ status: "Failure", reason: "NonZeroExitCode", details: { causes: [{ reason: "ExitCode", message: "7" }] } });
        }
      } finally {
        s.destroy();
      }
    }
  });
});

describe("hooks", () => {
  it("delays the next matching response", async () => {
    const hook = fake.hooks.delay(300, { path: "/version" });
    const t0 = Date.now();
    await request1(fake, { path: "/version" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(hook.hits).toBe(1);
    const t1 = Date.now();
    await request1(fake, { path: "/version" });
    expect(Date.now() - t1).toBeLessThan(250);
  });

  it("fails the next N matching requests with a Status", async () => {
    const hook = fake.hooks.fail(503, { path: /\/configmaps$/, times: 2 });
    const path = "/api/v1/namespaces/default/configmaps";
    const a = await request1(fake, { path });
    const b = await request1(fake, { path });
    const c = await request1(fake, { path });
    expect([a.status, b.status, c.status]).toEqual([503, 503, 200]);
    expect(json(a.body)).toMatchObject({ kind: "Status", code: 503 });
    expect(hook.hits).toBe(2);
  });

  it("redirects", async () => {
    fake.hooks.redirect("https://elsewhere.example/api", { path: "/api" });
    const r = await request1(fake, { path: "/api" });
    expect([r.status, r.headers["location"]]).toEqual([302, "https://elsewhere.example/api"]);
  });

  it("drops the connection mid-body and mid-watch", async () => {
    fake.hooks.drop({ afterBytes: 20 }, { path: "/api/v1/namespaces" });
    await expect(request1(fake, { path: "/api/v1/namespaces" })).rejects.toThrow();
    expect(fake.requests.at(-1)?.path).toBe("/api/v1/namespaces");

    fake.seed(...["d1", "d2", "d3"].map((name) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "kube-system" } })));
    fake.hooks.drop({ afterWrites: 2 }, { path: "/api/v1/namespaces/kube-system/configmaps" });
    const session = connect2(fake);
    try {
      const lines: string[] = [];
      const outcome = await new Promise<string>((resolve) => {
        const st = session.request({ ":path": "/api/v1/namespaces/kube-system/configmaps?watch=1", authorization: `Bearer ${fake.adminToken}` });
        st.setEncoding("utf8");
        st.on("data", (d: string) => lines.push(...d.split("\n").filter(Boolean)));
        st.on("error", () => resolve("error"));
        st.on("close", () => resolve("closed"));
      });
      expect(outcome).toMatch(/error|closed/);
      expect(lines.length).toBe(2);
    } finally {
      session.destroy();
    }
  });

  it("refuses an upgrade with a non-101 status", async () => {
    fake.hooks.rejectUpgrade(403);
    const s = await rawTls(fake);
    try {
      s.write(`GET /api/v1/namespaces/default/pods/fake-pod/portforward HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer ${fake.adminToken}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n`);
      const res = (await readUntil(s, (b) => b.includes("}"))).toString();
      expect(res).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(JSON.parse(res.slice(res.indexOf("{")))).toMatchObject({ kind: "Status", code: 403 });
    } finally {
      s.destroy();
    }
  });
});

describe("lifecycle", () => {
  it("close() ends live streams and connections", async () => {
    const other = await startFakeApiserver({ logLineIntervalMs: 20 });
    const session = connect2(other);
    const st = session.request({ ":path": "/api/v1/namespaces/default/pods/fake-pod/log?follow=true", authorization: `Bearer ${other.adminToken}` });
    st.on("data", () => {});
    const ended = new Promise((r) => st.on("close", r));
    await expect.poll(() => other.liveStreams().log).toBe(1);
    await other.close();
    await ended;
    expect(other.openConnections()).toBe(0);
    session.destroy();
  });

  it("runs as a child process via main.ts and reports its URL as JSON", async () => {
    const child = spawn(process.execPath, [new URL("../main.ts", import.meta.url).pathname], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve));
      const info = JSON.parse(line) as { url: string; caFile: string; kubeconfig: string; adminToken: string };
      expect(info.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const { readFile } = await import("node:fs/promises");
      expect(await readFile(info.caFile, "utf8")).toContain("BEGIN CERTIFICATE");
    } finally {
      const exited = new Promise((r) => child.on("exit", r));
      child.stdin!.end();
      await exited;
    }
  });
});
