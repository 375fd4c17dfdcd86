/**
 * Member faults (down, slow, dropping mid-stream, redirecting, refusing an upgrade, the
 * wrong certificate): each becomes the right Status naming the cluster, quickly, and the
 * gateway keeps serving every other request meanwhile and afterwards.
 */
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import https from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createCa } from "../../src/tls/pki.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, run } from "../support/programs.ts";
import { startTestGateway, type TestGateway, type TestUser } from "../support/gateway.ts";
import { http2Connect, http2Request, rawRequest, rawUpgrade, readBody, type Protocol, type RawResponse } from "../support/raw-client.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");
const PROTOCOLS: Protocol[] = ["HTTP/1.1", "HTTP/2"];
const MEMBER_PATH = "/api/v1/namespaces/default/configmaps";
const EXEC_PATH = "/api/v1/namespaces/default/pods/fake-pod/exec";

/** A port on 127.0.0.1 that nothing listens on (bound, noted, closed). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** How a watch ended for the client. */
interface WatchOutcome {
  status: number;
  firstEvent: string;
  /** "aborted": HTTP/1.1 body cut before its last chunk; "reset": HTTP/2 RST_STREAM or error; "end": a clean end. */
  ending: "aborted" | "reset" | "end";
  ms: number;
}

function watchHttp1(baseUrl: string, caPem: string, path: string, token: string): Promise<WatchOutcome> {
  const url = new URL(baseUrl);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = https.request({ host: url.hostname, port: url.port, path, ca: caPem, agent: false, headers: { authorization: `Bearer ${token}` } });
    req.on("error", reject);
    req.on("response", (res) => {
      let text = "";
      let settled = false;
      const done = (ending: WatchOutcome["ending"]) => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, firstEvent: text.split("\n")[0] ?? "", ending, ms: performance.now() - started });
      };
      res.on("data", (c: Buffer) => (text += c.toString("utf8")));
      res.on("aborted", () => done("aborted"));
      res.on("error", () => done("aborted"));
      res.on("end", () => done(res.complete ? "end" : "aborted"));
      res.on("close", () => done(res.complete ? "end" : "aborted"));
    });
    req.end();
  });
}

async function watchHttp2(session: http2.ClientHttp2Session, path: string, token: string): Promise<WatchOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const stream = session.request({ ":path": path, authorization: `Bearer ${token}` });
    let status = 0;
    let text = "";
    let ended = false;
    let settled = false;
    const done = (ending: WatchOutcome["ending"]) => {
      if (settled) return;
      settled = true;
      resolve({ status, firstEvent: text.split("\n")[0] ?? "", ending, ms: performance.now() - started });
    };
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (c: Buffer) => (text += c.toString("utf8")));
    stream.on("end", () => (ended = true));
    stream.on("error", () => done("reset"));
    stream.on("close", () => done(ended && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? "end" : "reset"));
  });
}

describe.runIf(enabled)("member faults", () => {
  let gw: TestGateway;
  let alice: TestUser;
  let token: string;
  let home: string;

  const req = (protocol: Protocol, path: string, t = token): Promise<RawResponse> =>
    rawRequest(protocol, gw.dataUrl, gw.caPem, { path, headers: { authorization: `Bearer ${t}` } });
  /** A plain request to the healthy member: the gateway still serves. */
  const memberWorks = async (protocol: Protocol = "HTTP/2") => {
    const res = await req(protocol, `/clusters/member${MEMBER_PATH}`);
    expect(res.status, res.body).toBe(200);
    expect(res.json?.["kind"]).toBe("ConfigMapList");
  };
  /** Registers a direct-mode cluster and grants alice edit on it; returns her token for it. */
  const addCluster = async (name: string, serverUrl: string, caPem: string): Promise<string> => {
    await gw.admin.clusters.registerCluster({
      name,
      mode: { case: "direct", value: { serverUrl, caPem, credential: { kind: { case: "bearerToken", value: gw.fake.gatewayToken! } } } },
    });
    const grant = (await gw.admin.grants.createGrant({ cluster: name, subject: { kind: SubjectKind.USER, name: "alice" }, role: Role.EDIT })).grant!;
    await gw.until(() => gw.kubegate.data!.view.clusters.has(name) && gw.kubegate.data!.view.grants.has(grant.id));
    return alice.token(name);
  };
  const expectStatus = (res: RawResponse, code: number, message: RegExp) => {
    expect(res.status, res.body).toBe(code);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.json).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", code });
    expect(String(res.json?.["message"])).toMatch(message);
  };

  beforeAll(async () => {
    gw = await startTestGateway({
      flags: { "upstream-response-timeout": "1s", "upstream-connect-timeout": "1s" },
      fake: {
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "one", namespace: "default" }, data: { n: "1" } },
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "two", namespace: "default" }, data: { n: "2" } },
        ],
      },
    });
    alice = await gw.user("alice", { role: "edit" });
    token = await alice.token();
    home = await mkdtemp(join(tmpdir(), "kubegate-faults-home-"));
  });
  afterAll(async () => {
    await gw?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("member down: 503 naming the cluster, and member still answers", async () => {
    const downToken = await addCluster("down", `https://127.0.0.1:${await deadPort()}`, gw.fake.caPem);
    for (const protocol of PROTOCOLS) {
      const started = performance.now();
      const res = await req(protocol, `/clusters/down${MEMBER_PATH}`, downToken);
      expectStatus(res, 503, /^cluster "down" /);
      expect(res.json?.["reason"]).toBe("ServiceUnavailable");
      expect(performance.now() - started).toBeLessThan(1500);
      await memberWorks(protocol);
    }
    // An upgrade to the down cluster is refused the same way, and its connection closes.
    const up = await rawUpgrade(gw.dataUrl, gw.caPem, {
      path: `/clusters/down${EXEC_PATH}?command=true&stdout=true`,
      headers: [["Authorization", `Bearer ${downToken}`], ["Connection", "Upgrade"], ["Upgrade", "SPDY/3.1"], ["X-Stream-Protocol-Version", "v4.channel.k8s.io"]],
    });
    try {
      expect(up.status).toBe(503);
      expect(JSON.parse(await readBody(up))).toMatchObject({ kind: "Status", code: 503, message: expect.stringMatching(/^cluster "down" /) as unknown });
      await up.closed;
    } finally {
      up.destroy();
    }
    expect(gw.logs.some((l) => l["audit"] === "request" && l["cluster"] === "down" && l["status"] === 503)).toBe(true);
  });

  it("member slow: 504 naming the cluster after the response timeout, while other requests flow", async () => {
    for (const protocol of PROTOCOLS) {
      const slowPath = `${MEMBER_PATH}/slow-${protocol === "HTTP/2" ? "h2" : "h1"}`;
      const hook = gw.fake.hooks.delay(3000, { path: slowPath });
      const started = performance.now();
      let fastDoneAt = 0;
      const [slow] = await Promise.all([
        req(protocol, `/clusters/member${slowPath}`).then((r) => ({ res: r, ms: performance.now() - started })),
        (async () => {
          await new Promise((r) => setTimeout(r, 100));
          await memberWorks(protocol);
          fastDoneAt = performance.now() - started;
        })(),
      ]);
      expect(hook.hits).toBe(1);
      expectStatus(slow.res, 504, /^cluster "member" did not answer in time/);
      expect(slow.res.json?.["reason"]).toBe("Timeout");
      expect(slow.ms).toBeGreaterThanOrEqual(900);
      expect(slow.ms).toBeLessThan(2000);
      expect(fastDoneAt).toBeLessThan(slow.ms);
    }
  });

  it("a slow upgrade: 504 naming the cluster and the connection closes", async () => {
    gw.fake.hooks.delay(3000, { path: EXEC_PATH });
    const started = performance.now();
    const up = await rawUpgrade(gw.dataUrl, gw.caPem, {
      path: `/clusters/member${EXEC_PATH}?command=true&stdout=true`,
      headers: [["Authorization", `Bearer ${token}`], ["Connection", "Upgrade"], ["Upgrade", "SPDY/3.1"], ["X-Stream-Protocol-Version", "v4.channel.k8s.io"]],
    });
    try {
      expect(up.status).toBe(504);
      expect(JSON.parse(await readBody(up))).toMatchObject({ kind: "Status", code: 504, message: expect.stringMatching(/^cluster "member" /) as unknown });
      expect(performance.now() - started).toBeLessThan(2000);
      await up.closed;
    } finally {
      up.destroy();
    }
    await memberWorks();
  });

  describe("member drops a watch mid-stream", () => {
    const watchPath = `/clusters/member${MEMBER_PATH}?watch=1`;

    it("HTTP/1.1: the body is cut short, then the next request works", async () => {
      const hook = gw.fake.hooks.drop({ afterWrites: 1 }, { path: MEMBER_PATH });
      const outcome = await watchHttp1(gw.dataUrl, gw.caPem, watchPath, token);
      expect(hook.hits).toBe(1);
      expect(outcome.status).toBe(200);
      expect(JSON.parse(outcome.firstEvent)).toMatchObject({ type: "ADDED", object: { kind: "ConfigMap" } });
      expect(outcome.ending).toBe("aborted");
      expect(outcome.ms).toBeLessThan(3000);
      await memberWorks("HTTP/1.1");
    });

    it("HTTP/2: the stream ends, the session lives on and serves the next request", async () => {
      const hook = gw.fake.hooks.drop({ afterWrites: 1 }, { path: MEMBER_PATH });
      const session = await http2Connect(gw.dataUrl, gw.caPem);
      try {
        const outcome = await watchHttp2(session, watchPath, token);
        expect(hook.hits).toBe(1);
        expect(outcome.status).toBe(200);
        expect(JSON.parse(outcome.firstEvent)).toMatchObject({ type: "ADDED", object: { kind: "ConfigMap" } });
        expect(outcome.ending).toBe("reset");
        expect(outcome.ms).toBeLessThan(3000);
        // The member's fault ends one stream, not the client's connection to the gateway.
        expect(session.destroyed).toBe(false);
        const next = await http2Request(gw.dataUrl, gw.caPem, { path: `/clusters/member${MEMBER_PATH}`, headers: { authorization: `Bearer ${token}` } }, session);
        expect(next.status).toBe(200);
      } finally {
        session.close();
      }
      await memberWorks("HTTP/2");
    });
  });

  it("member redirecting (301, 302, 303, 307, 308): 502, no Location, not followed", async () => {
    for (const protocol of PROTOCOLS) for (const code of [301, 302, 303, 307, 308]) {
      const path = `${MEMBER_PATH}/redirected-${code}`;
      const hook = gw.fake.hooks.redirect("https://evil.example/steal", { path }, code);
      const before = gw.fake.requests.length;
      const res = await req(protocol, `/clusters/member${path}`);
      expect(hook.hits).toBe(1);
      expectStatus(res, 502, new RegExp(`^cluster "member" answered with a redirect \\(${code}\\)`));
      expect(res.headers["location"]).toBeUndefined();
      expect(res.body).not.toContain("evil.example");
      // One request reached the member; the gateway made no second one anywhere.
      expect(gw.fake.requests.slice(before).map((r) => r.path)).toEqual([path]);
      await memberWorks(protocol);
    }
  });

  it("member redirecting an upgrade: 502, no Location", async () => {
    gw.fake.hooks.redirect("https://evil.example/steal", { path: EXEC_PATH });
    const up = await rawUpgrade(gw.dataUrl, gw.caPem, {
      path: `/clusters/member${EXEC_PATH}?command=true&stdout=true`,
      headers: [
        ["Authorization", `Bearer ${token}`],
        ["Connection", "Upgrade"],
        ["Upgrade", "SPDY/3.1"],
        ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
      ],
    });
    try {
      expect(up.status).toBe(502);
      expect(up.headers["location"]).toBeUndefined();
      expect(JSON.parse(await readBody(up))).toMatchObject({ kind: "Status", code: 502, message: expect.stringMatching(/^cluster "member" answered with a redirect/) as unknown });
      await up.closed;
    } finally {
      up.destroy();
    }
  });

  it("member refusing an upgrade: kubectl exec fails with 403 and the gateway keeps serving", async () => {
    const kubeconfig = await alice.kubeconfig({ namespace: "default" });
    const kubectl = (args: string[]) => run(KUBECTL, args, clientEnv(kubeconfig, home));
    // kubectl tries WebSocket first and falls back to SPDY: refuse both.
    const hook = gw.fake.hooks.rejectUpgrade(403, { path: EXEC_PATH, times: Infinity });
    try {
      const res = await kubectl(["exec", "fake-pod", "--", "echo", "hi"]);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/403|forbidden/i);
      expect(hook.hits).toBeGreaterThanOrEqual(1);
    } finally {
      hook.cancel();
    }
    const ok = await kubectl(["exec", "fake-pod", "--", "echo", "hi"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe("hi\n");
    await memberWorks();
  });

  it("member certificate not signed by the registered CA: 502 naming the cluster", async () => {
    const otherCa = await createCa("not-the-member-ca");
    const wrongToken = await addCluster("wrong-ca", gw.fake.url, otherCa.certPem);
    const before = gw.fake.requests.length;
    for (const protocol of PROTOCOLS) {
      const res = await req(protocol, `/clusters/wrong-ca${MEMBER_PATH}`, wrongToken);
      expectStatus(res, 502, /^cluster "wrong-ca" .*certificate/);
      await memberWorks(protocol);
    }
    // The TLS handshake failed, so no request (and no credential) went to the impostor.
    expect(gw.fake.requests.slice(before).every((r) => r.headers["authorization"] === `Bearer ${gw.fake.gatewayToken}` && !r.path.includes("wrong"))).toBe(true);
    expect(gw.fake.requests.slice(before)).toHaveLength(PROTOCOLS.length);
  });

  it("after all of that, the data plane is ready and kubectl works through member", async () => {
    const ready = await rawRequest("HTTP/1.1", gw.dataUrl, gw.caPem, { path: "/readyz" });
    expect(ready.status).toBe(200);
    const kubeconfig = await alice.kubeconfig({ namespace: "default" });
    const got = await run(KUBECTL, ["get", "configmaps", "-o", "name"], clientEnv(kubeconfig, home));
    expect(got.stderr).toBe("");
    expect(got.stdout).toContain("configmap/one");
    expect(got.stdout).toContain("configmap/two");
  });
});
