/**
 * `kubegate proxy`, run as a person runs it (the built CLI, logged in with an API key),
 * driven by real curl: lists and watches reach two clusters through one proxy as the
 * user, refusals come back as Status objects, a foreign Host or Origin is refused before
 * anything is forwarded, an exec upgrade passes byte for byte, no response ever carries a
 * token, and SIGTERM ends it with exit 0. Then the token cache and host rules, as units.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createClusterAccess, targetFromKubeconfig, type MintedToken } from "../../src/local-proxy/cluster-tokens.ts";
import { DEFAULT_ACCEPT_HOSTS, hostAllowed, originAllowed, parseAcceptHosts } from "../../src/local-proxy/hosts.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

const CURL = "/usr/bin/curl";
const haveCurl = existsSync(CURL);
const inCI = process.env["CI"] === "true";
if (!haveCurl && !inCI) console.warn(`\n*** ${CURL} is missing: SKIPPING the kubegate proxy end-to-end tests (they run in CI) ***\n`);

/** A token as kubegate mints them (a JWS); none may ever reach the local client. */
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  json?: Record<string, unknown>;
}

describe.skipIf(!haveCurl && !inCI)("kubegate proxy", () => {
  let gw: TestGateway;
  let user: CliUser;
  let proxy: ChildProcess;
  let proxyOut = "";
  let proxyErr = "";
  let base: string;
  let port: number;
  const seen: string[] = [];

  function curl(path: string, args: string[] = []): Promise<CurlResult> {
    return new Promise((resolve, reject) => {
      execFile(CURL, ["-sS", "-i", "--max-time", "10", "--path-as-is", ...args, `${base}${path}`], (err, stdout, stderr) => {
        if (err) return reject(new Error(`curl ${path}: ${err.message}\n${stderr}`));
        seen.push(stdout);
        const end = stdout.indexOf("\r\n\r\n");
        const lines = stdout.slice(0, end).split("\r\n");
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(":");
          headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        const body = stdout.slice(end + 4);
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0), headers, body, ...(json === undefined ? {} : { json }) });
      });
    });
  }

  /** A long-running curl (a watch): its output so far, and a way to wait for some of it. */
  function curlStream(path: string) {
    const child = spawn(CURL, ["-sS", "-i", "-N", `${base}${path}`], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    const exited = once(child, "exit");
    return {
      child,
      output: () => out,
      async waitFor(re: RegExp, timeoutMs = 5000) {
        const deadline = Date.now() + timeoutMs;
        while (!re.test(out)) {
          if (Date.now() > deadline) throw new Error(`curl ${path} did not print ${re} in time; got:\n${out}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      },
      async stop() {
        seen.push(out);
        if (child.exitCode === null) child.kill("SIGTERM");
        await exited;
      },
      exited,
    };
  }

  const mints = () => gw.logs.filter((l) => l["audit"] === "token.mint" && l["subject"] === "alice").length;

  beforeAll(async () => {
    if (!haveCurl) throw new Error(`${CURL} is required in CI for the kubegate proxy tests`);
    gw = await startTestGateway();
    const data = gw.kubegate.data!;
    for (const name of ["member2", "member3"])
      await gw.admin.clusters.registerCluster({
        name,
        mode: { case: "direct", value: { serverUrl: gw.fake.url, caPem: gw.fake.caPem, credential: { kind: { case: "bearerToken", value: gw.fake.gatewayToken! } } } },
      });
    await gw.until(() => data.view.clusters.has("member2") && data.view.clusters.has("member3"));
    // A grant and an RBAC binding for kubegate:alice on member; member2 is the same fake, so the binding serves both.
    const alice = await gw.user("alice", { role: "edit" });
    const grant2 = (await gw.admin.grants.createGrant({ cluster: "member2", subject: { kind: SubjectKind.USER, name: "alice" }, role: Role.EDIT, namespaces: [] })).grant!;
    await gw.until(() => data.view.grants.has(grant2.id));

    const caFile = join(gw.dir, "kubegate-ca.pem");
    await writeFile(caFile, gw.caPem);
    user = await cliUser();
    const login = await user.login(gw.kubegate.control!.url, caFile, alice.key);
    expect(login.code, login.stderr).toBe(0);

    proxy = user.spawn(["proxy", "--port", "0"]);
    proxy.stdout!.on("data", (c: Buffer) => (proxyOut += c.toString("utf8")));
    proxy.stderr!.on("data", (c: Buffer) => (proxyErr += c.toString("utf8")));
    const deadline = Date.now() + 20_000;
    let m: RegExpMatchArray | null = null;
    while ((m = /^Starting to serve on 127\.0\.0\.1:(\d+)$/m.exec(proxyOut)) === null) {
      if (proxy.exitCode !== null || Date.now() > deadline) throw new Error(`kubegate proxy did not start:\n${proxyOut}\n${proxyErr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    port = Number(m[1]);
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    if (proxy !== undefined && proxy.exitCode === null && proxy.signalCode === null) proxy.kill("SIGKILL");
    await user?.cleanup();
    await gw?.close();
  });

  it("lists pods of two clusters through one proxy, as the user, with the gateway's credential", async () => {
    for (const cluster of ["member", "member2"]) {
      gw.fake.clearRequests();
      const res = await curl(`/clusters/${cluster}/api/v1/namespaces/default/pods`);
      expect(res.status, res.body).toBe(200);
      expect(res.headers["content-type"]).toContain("application/json");
      expect(res.json).toMatchObject({ kind: "PodList" });
      expect((res.json!["items"] as Array<{ metadata: { name: string } }>).map((p) => p.metadata.name)).toContain("fake-pod");
      const forwarded = gw.fake.requests.filter((r) => r.path === "/api/v1/namespaces/default/pods");
      expect(forwarded).toHaveLength(1);
      expect(forwarded[0]!.headers["authorization"]).toBe(`Bearer ${gw.fake.gatewayToken}`);
      expect(forwarded[0]!.headers["impersonate-user"]).toBe("kubegate:alice");
      expect(forwarded[0]!.impersonatedUser?.name).toBe("kubegate:alice");
    }
    // Both clusters' tokens were minted for alice, once each, and cached.
    const before = mints();
    expect(before).toBeGreaterThanOrEqual(2);
    expect((await curl("/clusters/member/api/v1/namespaces/default/pods")).status).toBe(200);
    expect(mints()).toBe(before);
  });

  it("carries writes: create, patch and delete through the proxy", async () => {
    const cms = "/clusters/member/api/v1/namespaces/default/configmaps";
    const json = ["-H", "content-type: application/json"];
    const created = await curl(cms, ["-X", "POST", ...json, "--data", JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "via-proxy" }, data: { v: "1" } })]);
    expect(created.status, created.body).toBe(201);
    const patched = await curl(`${cms}/via-proxy`, ["-X", "PATCH", "-H", "content-type: application/merge-patch+json", "--data", '{"data":{"v":"2"}}']);
    expect(patched.status, patched.body).toBe(200);
    expect((patched.json!["data"] as Record<string, string>)["v"]).toBe("2");
    expect((await curl(`${cms}/via-proxy`, ["-X", "DELETE"])).status).toBe(200);
    expect((await curl(`${cms}/via-proxy`)).status).toBe(404);
  });

  it("replaces whatever credentials and identity the local client sends", async () => {
    gw.fake.clearRequests();
    const res = await curl("/clusters/member/api/v1/namespaces/default/configmaps", [
      "-H", "Authorization: Bearer not-a-kubegate-token",
      "-H", "Impersonate-User: system:admin",
      "-H", "Impersonate-Group: system:masters",
      "-H", "X-Remote-User: root",
    ]);
    expect(res.status, res.body).toBe(200);
    const forwarded = gw.fake.requests.find((r) => r.path === "/api/v1/namespaces/default/configmaps")!;
    expect(forwarded.headers["impersonate-user"]).toBe("kubegate:alice");
    expect(JSON.stringify(forwarded.headers)).not.toMatch(/system:admin|system:masters|not-a-kubegate-token|root/);
  });

  it("streams a watch: an event caused while it is open arrives, and closing curl closes the member's watch", async () => {
    // The response head comes through at once, before any event (curl prints it only with the first body bytes).
    const head = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get(`${base}/clusters/member/api/v1/namespaces/default/configmaps?watch=1`, resolve).on("error", reject);
      setTimeout(() => req.destroy(new Error("no response head within 3 s")), 3000);
    });
    expect(head.statusCode).toBe(200);
    expect(head.headers["content-type"]).toContain("application/json");
    head.destroy();
    await gw.until(() => gw.fake.liveStreams().watch === 0, 3000);

    const w = curlStream("/clusters/member/api/v1/namespaces/default/configmaps?watch=1");
    try {
      await gw.until(() => gw.fake.liveStreams().watch === 1);
      expect(w.output()).not.toContain("watched-through-proxy");
      gw.fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "watched-through-proxy", namespace: "default" }, data: { v: "1" } });
      await w.waitFor(/"type":"ADDED".*"name":"watched-through-proxy"/);
      expect(w.child.exitCode).toBeNull(); // still open
    } finally {
      await w.stop();
    }
    await gw.until(() => gw.fake.liveStreams().watch === 0, 3000);
  });

  it("mints afresh when the data plane refuses a revoked token: a GET is retried, an OPTIONS answered 401", async () => {
    const pods = "/clusters/member/api/v1/namespaces/default/pods";
    const revokeLatest = async () => {
      const jti = String(gw.logs.filter((l) => l["audit"] === "token.mint" && l["subject"] === "alice" && l["cluster"] === "member").at(-1)!["jti"]);
      await gw.admin.tokens.revokeToken({ target: { case: "tokenId", value: jti } });
      await gw.until(() => gw.kubegate.data!.view.revokedTokens.has(jti));
    };
    expect((await curl(pods)).status).toBe(200);
    await revokeLatest();
    const before = mints();
    const retried = await curl(pods);
    expect(retried.status, retried.body).toBe(200);
    expect(mints()).toBe(before + 1);

    // Only GET and HEAD are replayed: any other 401 comes back as it is, and the next request carries a fresh token.
    await revokeLatest();
    const refused = await curl(pods, ["-X", "OPTIONS"]);
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ kind: "Status", code: 401 });
    expect((await curl(pods)).status).toBe(200);
    expect(mints()).toBe(before + 2);
  });

  it("refuses a foreign Host (DNS rebinding) or Origin with 403 before asking or forwarding anything", async () => {
    gw.fake.clearRequests();
    const mintsBefore = mints();
    const res = await curl("/clusters/member/api/v1/namespaces/default/pods", ["-H", "Host: evil.example.com"]);
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403 });
    expect(String(res.json!["message"])).toContain("host not allowed");
    const withPort = await curl("/clusters/member/api/v1/namespaces/default/pods", ["-H", "Host: evil.example.com:8001"]);
    expect(withPort.status).toBe(403);
    const origin = await curl("/clusters/member/api/v1/namespaces/default/pods", ["-H", "Origin: http://evil.example.com"]);
    expect(origin.status).toBe(403);
    expect(String(origin.json!["message"])).toContain("origin not allowed");
    expect(gw.fake.requests).toHaveLength(0);
    expect(mints()).toBe(mintsBefore);
    // Loopback names pass, with or without a port.
    for (const host of ["localhost", `localhost:${port}`, `127.0.0.1:${port}`, "[::1]"])
      expect((await curl("/clusters/member/api/v1/namespaces/default/pods", ["-H", `Host: ${host}`])).status, host).toBe(200);
  });

  it("answers with the control plane's refusal: 403 without a grant, 404 for an unknown cluster; bad paths get 400/404", async () => {
    const noGrant = await curl("/clusters/member3/api/v1/namespaces/default/pods");
    expect(noGrant.status).toBe(403);
    expect(noGrant.json).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403 });
    expect(String(noGrant.json!["message"])).toContain('you do not have access to cluster "member3"');
    const unknown = await curl("/clusters/nosuch/api/v1/namespaces/default/pods");
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ kind: "Status", reason: "NotFound", code: 404, message: 'cluster "nosuch" not found' });
    const dotdot = await curl("/clusters/member/api/v1/../../member3/api");
    expect(dotdot.status).toBe(400);
    expect(dotdot.json).toMatchObject({ kind: "Status", code: 400 });
    const elsewhere = await curl("/api/v1/pods");
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.json).toMatchObject({ kind: "Status", code: 404 });
  });

  it("passes a SPDY exec upgrade both ways, and refuses one from a foreign Host", async () => {
    const exec = "/clusters/member/api/v1/namespaces/default/pods/fake-pod/exec?command=echo&command=hi&stdout=true";
    gw.fake.clearRequests();
    const up = await rawUpgrade(port, exec, "127.0.0.1", SPDY, "POST");
    try {
      expect(up.head).toMatch(/^HTTP\/1\.1 101 /);
      expect(up.head.toLowerCase()).toContain("x-stream-protocol-version: v4.channel.k8s.io");
      up.socket.write("bytes through the proxy");
      expect((await up.read(23)).toString()).toBe("bytes through the proxy");
      const forwarded = gw.fake.requests.find((r) => r.upgrade !== undefined)!;
      expect(forwarded.headers["impersonate-user"]).toBe("kubegate:alice");
      expect(forwarded.headers["authorization"]).toBe(`Bearer ${gw.fake.gatewayToken}`);
      seen.push(up.head);
    } finally {
      up.socket.destroy();
    }
    await gw.until(() => gw.fake.liveStreams().spdy === 0, 3000);

    gw.fake.clearRequests();
    const evil = await rawUpgrade(port, exec, "evil.example.com", SPDY, "POST");
    expect(evil.head).toMatch(/^HTTP\/1\.1 403 /);
    seen.push(evil.head);
    evil.socket.destroy();
    expect(gw.fake.requests).toHaveLength(0);
  });

  it("passes a WebSocket exec (v5.channel.k8s.io) and drops a bearer token the client puts in its subprotocols", async () => {
    gw.fake.clearRequests();
    const ws = await rawUpgrade(port, "/clusters/member2/api/v1/namespaces/default/pods/fake-pod/exec?command=echo&command=hi&stdout=true", `localhost:${port}`, [
      ["Connection", "Upgrade"],
      ["Upgrade", "websocket"],
      ["Sec-WebSocket-Version", "13"],
      ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
      ["Sec-WebSocket-Protocol", "v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.bm90LWEtdG9rZW4"],
    ]);
    try {
      expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
      expect(ws.head).toMatch(/sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
      expect(ws.head).toMatch(/sec-websocket-protocol: v5\.channel\.k8s\.io/i);
      await ws.until((bytes) => bytes.includes("hi\n"));
      const forwarded = gw.fake.requests.find((r) => r.upgrade !== undefined)!;
      expect(forwarded.headers["sec-websocket-protocol"]).toBe("v5.channel.k8s.io");
      expect(forwarded.impersonatedUser?.name).toBe("kubegate:alice");
      seen.push(ws.head);
    } finally {
      ws.socket.destroy();
    }
  });

  it("never lets a token reach the local client, and stops on SIGTERM with exit 0 while a watch is open", async () => {
    expect(seen.length).toBeGreaterThan(10);
    for (const text of seen) expect(text).not.toMatch(JWT);
    expect(proxyOut + proxyErr).not.toMatch(JWT);

    const w = curlStream("/clusters/member2/api/v1/namespaces/default/configmaps?watch=1");
    await gw.until(() => gw.fake.liveStreams().watch === 1);
    const started = Date.now();
    proxy.kill("SIGTERM");
    const [code] = (await once(proxy, "exit")) as [number | null];
    expect(code, proxyErr).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    await w.exited;
    await w.stop();
    for (const text of seen) expect(text).not.toMatch(JWT);
    await gw.until(() => gw.fake.liveStreams().watch === 0, 3000);
  });
});

const SPDY: Array<[string, string]> = [
  ["Connection", "Upgrade"],
  ["Upgrade", "SPDY/3.1"],
  ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
];

/** A hand-written HTTP/1.1 upgrade request to the proxy over plain TCP; returns the response head and readers for what follows. */
async function rawUpgrade(port: number, path: string, host: string, headers: Array<[string, string]>, method = "GET") {
  const socket = net.connect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  let buffer = Buffer.alloc(0);
  let closed = false;
  socket.on("data", (c: Buffer) => (buffer = Buffer.concat([buffer, c])));
  socket.on("close", () => (closed = true));
  socket.on("error", () => (closed = true));
  socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`);
  const waitFor = async <T,>(check: () => T | undefined, what: string): Promise<T> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (closed || Date.now() > deadline) throw new Error(`no ${what} (had ${JSON.stringify(buffer.toString("latin1"))})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const end = await waitFor(() => (buffer.indexOf("\r\n\r\n") === -1 ? undefined : buffer.indexOf("\r\n\r\n")), "response head");
  const head = buffer.subarray(0, end).toString("latin1");
  buffer = buffer.subarray(end + 4);
  return {
    socket,
    head,
    read: (n: number) =>
      waitFor(() => {
        if (buffer.length < n) return undefined;
        const out = buffer.subarray(0, n);
        buffer = buffer.subarray(n);
        return out;
      }, `${n} bytes`),
    until: (check: (bytes: string) => boolean) => waitFor(() => (check(buffer.toString("latin1")) ? true : undefined), "the expected bytes"),
  };
}

describe("proxy host rules", () => {
  const accept = parseAcceptHosts(DEFAULT_ACCEPT_HOSTS);
  it.each([
    ["localhost", true],
    ["localhost:8001", true],
    ["LOCALHOST:8001", true],
    ["127.0.0.1:8001", true],
    ["[::1]:8001", true],
    ["[::1]", true],
    ["evil.example.com", false],
    ["evil.example.com:8001", false],
    ["localhost.evil.example.com", false],
    ["127.0.0.1.nip.io:8001", false],
    ["127.0.0.2", false],
    ["", false],
    [undefined, false],
  ])("Host %j → %s", (host, allowed) => {
    expect(hostAllowed(host, accept)).toBe(allowed);
  });
  it.each([
    [undefined, true],
    ["http://localhost:8001", true],
    ["http://[::1]:8001", true],
    ["http://evil.example.com", false],
    ["null", false],
    ["file://", false],
  ])("Origin %j → %s", (origin, allowed) => {
    expect(originAllowed(origin, accept)).toBe(allowed);
  });
  it("refuses a bad --accept-hosts", () => {
    expect(() => parseAcceptHosts("^(unclosed$")).toThrow(/not a regular expression/);
    expect(() => parseAcceptHosts(" , ")).toThrow(/at least one/);
  });
});

describe("proxy token cache", () => {
  const kubeconfig = (cluster: string) =>
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `  - name: kubegate-${cluster}`,
      "    cluster:",
      `      server: https://127.0.0.1:9443/clusters/${cluster}`,
      `      certificate-authority-data: ${Buffer.from("PEM").toString("base64")}`,
    ].join("\n");

  /** An access cache over a fake control plane whose MintToken waits until `open()`. */
  function fixture(lifeMs: number) {
    let now = 1_000_000;
    let n = 0;
    const calls: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const access = createClusterAccess(
      {
        kubeconfig: async (cluster) => kubeconfig(cluster),
        mintToken: async (cluster): Promise<MintedToken> => {
          calls.push(cluster);
          await gate;
          return { token: `${cluster}-${++n}`, expiresAt: new Date(now + lifeMs) };
        },
      },
      () => now,
    );
    return { access, calls, open, advance: (ms: number) => (now += ms) };
  }

  it("reads the data plane's address and CA from the kubeconfig", () => {
    expect(targetFromKubeconfig(kubeconfig("member2"), "member2")).toEqual({
      cluster: "member2",
      hostname: "127.0.0.1",
      port: 9443,
      basePath: "/clusters/member2",
      caPem: "PEM",
    });
    expect(() => targetFromKubeconfig("clusters: []", "x")).toThrow(/no server/);
    expect(() => targetFromKubeconfig(kubeconfig("x").replace("https:", "http:"), "x")).toThrow(/https/);
  });

  it("mints once for concurrent requests, per cluster, and renews 30 s before expiry", async () => {
    const f = fixture(15 * 60_000);
    const pending = Promise.all([f.access.token("a"), f.access.token("a"), f.access.token("b")]);
    await new Promise((r) => setTimeout(r, 0));
    f.open();
    expect(await pending).toEqual(["a-1", "a-1", "b-2"]);
    expect(f.calls).toEqual(["a", "b"]);
    f.advance(15 * 60_000 - 31_000);
    expect(await f.access.token("a")).toBe("a-1");
    f.advance(2000);
    expect(await f.access.token("a")).toBe("a-3");
  });

  it("renews a short-lived token a third of its life early, and forgets a refused one", async () => {
    const f = fixture(30_000);
    f.open();
    expect(await f.access.token("a")).toBe("a-1");
    f.advance(19_000);
    expect(await f.access.token("a")).toBe("a-1");
    f.advance(2000);
    expect(await f.access.token("a")).toBe("a-2");
    f.access.invalidate("a", "a-1"); // an old token: no effect
    expect(await f.access.token("a")).toBe("a-2");
    f.access.invalidate("a", "a-2");
    expect(await f.access.token("a")).toBe("a-3");
  });
});
