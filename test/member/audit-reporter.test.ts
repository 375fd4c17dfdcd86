/**
 * The data plane's audit reporter: reads counted together per window, everything else kept
 * whole, sent on its tick or once a batch is full, bounded while the control plane is away
 * (with one event that says how many were dropped), retried with the same ids, and flushed
 * once on close. The request path's cost is measured and printed.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditEvent, AuditedRequest } from "../../src/audit-event.ts";
import { createLogger } from "../../src/log.ts";
import { createAuditReporter, type AuditReporter, type AuditReporterOptions } from "../../src/member/audit-reporter.ts";

const log = createLogger({ level: "silent" });

function request(verb: string, status: number, o: { user?: string; name?: string; namespace?: string; grant?: string; reason?: string; resource?: string; subresource?: string } = {}): AuditedRequest {
  return {
    requestId: `req-${Math.random().toString(16).slice(2)}`,
    facts: {
      claims: { sub: o.user ?? "alice" },
      info: {
        isResourceRequest: true,
        verb,
        apiGroup: "",
        namespace: o.namespace ?? "default",
        resource: o.resource ?? "configmaps",
        subresource: o.subresource ?? "",
        name: o.name ?? "cm",
        path: "/api/v1/namespaces/default/configmaps/cm",
      },
    },
    grant: o.grant ?? "gr-1",
    status,
    bytesIn: 10,
    bytesOut: 20,
    durationMs: 3,
    reason: o.reason,
  };
}

describe("audit reporter", () => {
  const reporters: AuditReporter[] = [];
  const start = (o: Partial<AuditReporterOptions> & Pick<AuditReporterOptions, "send">) => {
    const r = createAuditReporter({ log, flushMs: 3_600_000, ...o });
    reporters.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(reporters.splice(0).map((r) => r.close(10)));
  });

  it("counts successful reads together and keeps writes, refusals, failures and sessions whole", async () => {
    const sent: AuditEvent[] = [];
    let now = 1_000;
    const r = start({ send: async (events) => void sent.push(...events), clock: () => now });
    for (let i = 0; i < 50; i++) {
      now += 10;
      r.request("prod", request("get", 200));
    }
    r.request("prod", request("list", 200, { name: "" }));
    r.request("prod", request("list", 200, { name: "" }));
    r.request("prod", request("get", 200, { name: "a" }));
    r.request("prod", request("get", 200, { name: "b", namespace: "kube-system" }));
    r.request("prod", request("get", 200, { name: "c", namespace: "kube-system", grant: "gr-2" }));
    r.request("prod", request("get", 200, { user: "bob" }));
    r.request("prod", request("get", 404, { name: "missing" }));
    r.request("prod", request("create", 201, { name: "" }));
    r.request("prod", request("delete", 403, { user: "bob", reason: "grant gr-9 (view) is read-only" }));
    r.request("", request("get", 401, { user: "" }));
    r.request("prod", request("get", 101, { resource: "pods", subresource: "exec", name: "p" }));
    r.session("prod", { event: "start", requestId: "up-1", facts: request("get", 101, { resource: "pods", subresource: "exec", name: "p" }).facts, grant: "gr-1" });
    r.session("prod", { event: "end", requestId: "up-1", facts: request("get", 101, { resource: "pods", subresource: "exec", name: "p" }).facts, grant: "gr-1", bytesIn: 7, bytesOut: 9, durationMs: 1234, reason: "client closed" });
    await r.flush();

    const reads = sent.filter((e) => e.status === 200);
    const key = (e: AuditEvent) => `${e.actor} ${e.verb} ${e.namespace}/${e.name} ${e.grantId} x${e.count}`;
    expect(reads.map(key).sort()).toEqual(["alice get default/ gr-1 x51", "alice get kube-system/  x2", "alice list default/ gr-1 x2", "bob get default/cm gr-1 x1"]);
    const counted = reads.find((e) => e.count === 51)!;
    expect(counted).toMatchObject({ kind: "request", cluster: "prod", resource: "configmaps", requestId: "", source: "" });
    expect([counted.firstAt.getTime(), counted.at.getTime()]).toEqual([1_010, 1_500]);

    const whole = sent.filter((e) => e.status !== 200 && e.kind === "request").map((e) => [e.cluster, e.actor, e.verb, e.name, e.status, e.message, e.count]);
    expect(whole).toEqual([
      ["prod", "alice", "get", "missing", 404, "", 1],
      ["prod", "alice", "create", "", 201, "", 1],
      ["prod", "bob", "delete", "cm", 403, "grant gr-9 (view) is read-only", 1],
      ["", "", "get", "cm", 401, "", 1],
    ]);
    expect(sent.find((e) => e.status === 201)).toMatchObject({ durationMs: 3, bytesIn: 10, bytesOut: 20, grantId: "gr-1", requestId: expect.stringMatching(/^req-/) });
    const sessions = sent.filter((e) => e.kind.startsWith("session."));
    expect(sessions.map((e) => [e.kind, e.resource, e.name, e.status, e.requestId, e.bytesIn, e.durationMs, e.message])).toEqual([
      ["session.start", "pods/exec", "p", 101, "up-1", 0, 0, ""],
      ["session.end", "pods/exec", "p", 101, "up-1", 7, 1234, "client closed"],
    ]);
    // Unique ids, within one reporter and against another's.
    expect(new Set(sent.map((e) => e.id)).size).toBe(sent.length);
    const other = start({ send: async (events) => void sent.push(...events) });
    other.request("prod", request("create", 201));
    await other.flush();
    expect(new Set(sent.map((e) => e.id)).size).toBe(sent.length);
    for (const e of sent) expect(e.id).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
  });

  it("sends on its tick, and before the tick once a batch is full", async () => {
    const calls: number[] = [];
    const ticking = start({ flushMs: 50, send: async (events) => void calls.push(events.length) });
    ticking.request("prod", request("create", 201));
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toEqual([1]);

    const batches: number[] = [];
    const full = start({ batchSize: 5, send: async (events) => void batches.push(events.length) });
    for (let i = 0; i < 5; i++) full.request("prod", request("create", 201));
    await new Promise((r) => setTimeout(r, 20));
    expect(batches).toEqual([5]);
  });

  it("sends at most 1000 events a call", async () => {
    const batches: number[] = [];
    const r = start({ batchSize: 5_000, send: async (events) => void batches.push(events.length) });
    for (let i = 0; i < 2_500; i++) r.request("prod", request("patch", 200, { name: `cm-${i}` }));
    await r.flush();
    expect(batches).toEqual([1000, 1000, 500]);
  });

  it("keeps what failed to send, within its bound, retries it with the same ids and says how many it dropped", async () => {
    let up = false;
    const attempts: AuditEvent[][] = [];
    const r = start({
      maxBuffered: 10,
      batchSize: 1_000,
      send: async (events) => {
        attempts.push(events);
        if (!up) throw new ConnectError("control plane unreachable", Code.Unavailable);
      },
    });
    for (let i = 0; i < 6; i++) r.request("prod", request("create", 201, { name: `a${i}` }));
    await r.flush();
    expect(attempts).toHaveLength(1);
    // 6 kept for the retry; 4 more fit; the rest are counted.
    for (let i = 0; i < 9; i++) r.request("prod", request("create", 201, { name: `b${i}` }));
    for (let i = 0; i < 3; i++) r.request("prod", request("get", 200, { name: "x" }));
    up = true;
    await r.flush();
    const delivered = attempts.at(-1)!;
    expect(delivered.slice(0, 6).map((e) => e.id)).toEqual(attempts[0]!.map((e) => e.id));
    expect(delivered.filter((e) => e.kind === "request").map((e) => e.name)).toEqual(["a0", "a1", "a2", "a3", "a4", "a5", "b0", "b1", "b2", "b3"]);
    const dropped = delivered.at(-1)!;
    expect(dropped).toMatchObject({ kind: "audit.dropped", cluster: "", count: 5 + 3 });
    expect(dropped.message).toBe("8 audit event(s) dropped: more than 10 were waiting to be sent to the control plane");
    await r.flush();
    expect(attempts).toHaveLength(2);
  });

  it("drops a batch the control plane refuses as invalid instead of retrying it for ever", async () => {
    const attempts: number[] = [];
    const r = start({
      send: async (events) => {
        attempts.push(events.length);
        throw new ConnectError("events[0].kind: must be one of …", Code.InvalidArgument);
      },
    });
    r.request("prod", request("create", 201));
    await r.flush();
    await r.flush();
    expect(attempts).toEqual([1]);
  });

  it("flushes once on close, waiting no longer than its timeout", async () => {
    const sent: AuditEvent[] = [];
    const r = start({ send: async (events) => void sent.push(...events) });
    r.request("prod", request("update", 200));
    await r.close();
    expect(sent.map((e) => e.verb)).toEqual(["update"]);
    r.request("prod", request("update", 200));
    await r.flush();
    expect(sent).toHaveLength(1);

    const stuck = start({ send: () => new Promise(() => undefined) });
    stuck.request("prod", request("update", 200));
    const started = Date.now();
    await stuck.close(100);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("costs the request path about a microsecond a request (measured)", async () => {
    const r = start({ maxBuffered: 1_000_000, batchSize: 1_000_000, send: async () => undefined });
    const reads = Array.from({ length: 16 }, (_, i) => request("get", 200, { user: `user-${i % 4}`, namespace: `ns-${i % 8}` }));
    const writes = Array.from({ length: 16 }, (_, i) => request("patch", 200, { name: `cm-${i}` }));
    const n = 200_000;
    const time = (record: (i: number) => void) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) record(i);
      return ((performance.now() - t0) * 1_000) / n;
    };
    time((i) => r.request("prod", reads[i % 16]!)); // warm up
    const readUs = time((i) => r.request("prod", reads[i % 16]!));
    const writeUs = time((i) => r.request("prod", writes[i % 16]!));
    console.log(`audit reporter on the request path: ${readUs.toFixed(3)} µs a read (Map increment), ${writeUs.toFixed(3)} µs a write (array push)`);
    // Generous bounds (a shared CI machine): the data path itself costs tens of microseconds.
    expect(readUs).toBeLessThan(5);
    expect(writeUs).toBeLessThan(5);
  });
});
