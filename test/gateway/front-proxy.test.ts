/**
 * Front-proxy identity mode on the fake member (which authenticates request headers as
 * kube-apiserver does), in direct mode and through an agent: real kubectl get, apply,
 * watch, exec and `auth whoami`; what reached the member (the front-proxy certificate and
 * X-Remote-* only: no bearer token, no Impersonate-*, the grant and token ids as extras);
 * a client's own X-Remote-* never counts; an agent without the certificate is refused.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toJsonString } from "@bufbuild/protobuf";
import { ClusterMode, ClusterSchema, CredentialKind, IdentityMode } from "../../gen/kubegate/v1/cluster_pb.ts";
import { createLogger } from "../../src/log.ts";
import { startAgent } from "../../src/tunnel/agent.ts";
import { startTestGateway, tokenIdOf, type TestGateway, type TestUser } from "../support/gateway.ts";
import { FRONT_PROXY_CLIENT } from "../support/kube-apiserver.ts";
import { KUBECTL, clientEnv, hasFile, kubectlWatchSeesPatch, requireProgram, run } from "../support/programs.ts";
import { http1Request, rawRequest } from "../support/raw-client.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");
const WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
const REVIEW = JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });

describe.runIf(enabled).each(["direct", "agent"] as const)("front-proxy identity mode on the fake member (%s mode)", (mode) => {
  let gw: TestGateway;
  let alice: TestUser;
  let kubeconfig: string;
  let home: string;
  const kubectl = (args: string[], input?: string) => run(KUBECTL, args, clientEnv(kubeconfig, home), input);

  beforeAll(async () => {
    gw = await startTestGateway({ mode, identity: "front-proxy" });
    alice = await gw.user("alice", { role: "edit", groups: ["dev"] });
    kubeconfig = await alice.kubeconfig({ namespace: "default" });
    home = await mkdtemp(join(tmpdir(), "kubegate-front-proxy-home-"));
  });
  afterAll(async () => {
    await gw?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("the cluster shows its identity mode, and no credential", async () => {
    const { cluster } = await gw.admin.clusters.getCluster({ name: "member" });
    expect(cluster?.identityMode).toBe(IdentityMode.FRONT_PROXY);
    expect(cluster?.mode).toBe(mode === "agent" ? ClusterMode.AGENT : ClusterMode.DIRECT);
    expect(cluster?.credentialKind).toBe(mode === "agent" ? CredentialKind.AGENT : CredentialKind.FRONT_PROXY_CERTIFICATE);
    const shown = toJsonString(ClusterSchema, cluster!);
    expect(shown).toContain('"identityMode":"IDENTITY_MODE_FRONT_PROXY"');
    expect(shown).not.toContain("PRIVATE KEY");
  });

  it("kubectl get, apply and auth whoami work; the member saw the front proxy's certificate and X-Remote-* only", async () => {
    const manifest = join(home, "cm.yaml");
    await writeFile(manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-front-proxy\ndata:\n  k: v\n");
    gw.fake.clearRequests();
    const applied = await kubectl(["apply", "-f", manifest]);
    expect(applied.stdout, applied.stderr).toContain("configmap/via-front-proxy created");
    expect((await kubectl(["get", "configmaps"])).stdout).toMatch(/via-front-proxy\s+1/);

    const who = await kubectl(["auth", "whoami", "-o", "json"]);
    expect(who.code, who.stderr).toBe(0);
    const userInfo = (JSON.parse(who.stdout) as { status: { userInfo: { username: string; groups: string[]; extra: Record<string, string[]> } } }).status.userInfo;
    expect(userInfo.username).toBe("kubegate:alice");
    expect(userInfo.groups).toEqual(["kubegate:dev", "system:authenticated"]);
    expect(userInfo.extra["kubegate.dev/grant"]).toEqual([alice.grantId]);
    const kubeconfigToken = /token: (\S+)/.exec(await readFile(kubeconfig, "utf8"))?.[1] ?? "";
    expect(userInfo.extra["kubegate.dev/token-id"]).toEqual([tokenIdOf(kubeconfigToken)]);

    const seen = gw.fake.requests.filter((r) => r.path.startsWith("/api/v1/namespaces/default/configmaps") || r.path === WHOAMI);
    expect(seen.length).toBeGreaterThan(2);
    for (const r of seen) {
      expect(r.authenticatedBy).toBe("requestheader");
      expect(r.clientCertificateCn).toBe(FRONT_PROXY_CLIENT);
      expect(r.headers["authorization"]).toBeUndefined();
      expect(Object.keys(r.headers).filter((h) => h.startsWith("impersonate-"))).toEqual([]);
      expect(r.headers["x-remote-user"]).toBe("kubegate:alice");
      expect(r.headers["x-remote-group"]).toBe("kubegate:dev");
      expect(r.headers["x-remote-extra-kubegate.dev%2fgrant"]).toBe(alice.grantId);
      expect(r.user?.name).toBe("kubegate:alice");
      expect(r.impersonatedUser).toBeUndefined();
    }
  });

  it("a watch streams changes, and exec round-trips bytes", async () => {
    await kubectl(["create", "configmap", "watched", "--from-literal=v=1"]);
    await kubectlWatchSeesPatch(clientEnv(kubeconfig, home), "watched");
    gw.fake.clearRequests();
    const cat = await kubectl(["exec", "-i", "fake-pod", "--", "cat"], "front proxy bytes\n");
    expect(cat.stdout).toBe("front proxy bytes\n");
    expect(cat.code).toBe(0);
    const exec = gw.fake.requests.find((r) => r.path.endsWith("/exec"));
    expect(exec).toMatchObject({ authenticatedBy: "requestheader", clientCertificateCn: FRONT_PROXY_CLIENT, status: 101 });
    expect(exec?.headers["authorization"]).toBeUndefined();
    expect(exec?.user?.name).toBe("kubegate:alice");
  });

  it("a client cannot assert its own X-Remote-* identity: mixed case, repeated, or named in Connection", async () => {
    const token = await alice.token();
    const whoami = async (send: typeof rawRequest | "h1", headers: Record<string, string | string[]>) => {
      const r = { method: "POST", path: `/clusters/member${WHOAMI}`, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers }, body: REVIEW };
      const res = send === "h1" ? await http1Request(gw.dataUrl, gw.caPem, r) : await send("HTTP/2", gw.dataUrl, gw.caPem, r);
      expect(res.status, res.body).toBe(201);
      return (JSON.parse(res.body) as { status: { userInfo: { username: string; groups: string[]; extra?: Record<string, string[]> } } }).status.userInfo;
    };
    const forged = { "X-Remote-User": "system:admin", "x-REMOTE-group": ["system:masters", "x"], "X-Remote-Extra-Scopes": "all", "X-Remote-Extra-kubegate.dev%2Fgrant": "gr-forged" };
    for (const who of [
      await whoami(rawRequest, forged),
      await whoami("h1", forged),
      await whoami("h1", { ...forged, connection: "keep-alive, X-Remote-User, X-Remote-Group, Authorization" }),
    ]) {
      expect(who.username).toBe("kubegate:alice");
      expect(who.groups).toEqual(["kubegate:dev", "system:authenticated"]);
      expect(who.extra).toEqual({ "kubegate.dev/grant": [alice.grantId], "kubegate.dev/token-id": [tokenIdOf(token)] });
    }
  });
});

describe("front-proxy mode through an agent without the front-proxy certificate", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ mode: "agent", identity: "front-proxy", startAgent: false });
  });
  afterAll(() => gw?.close());

  it("the data plane refuses its tunnel, saying why; requests get a 503 and never reach the member", async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } as unknown as NodeJS.WritableStream);
    const agent = await startAgent({
      gatewayUrl: gw.dataUrl,
      gatewayCaPem: gw.caPem,
      cluster: "member",
      stateDir: join(gw.dir, "plain-agent"),
      bootstrapToken: async () => gw.bootstrapToken,
      apiserver: { kubeconfig: await gw.member.gatewayKubeconfig() },
      version: "0.1.0-test",
      log,
      initialBackoffMs: 50,
      maxBackoffMs: 200,
    });
    try {
      const deadline = Date.now() + 5_000;
      while (!lines.some((l) => String(l["err"] ?? "").includes("front-proxy identity mode")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(lines.find((l) => String(l["err"] ?? "").includes("front-proxy"))?.["err"]).toContain("--front-proxy-cert-file");
      expect(agent.connected()).toBe(false);
      expect(gw.kubegate.data!.tunnels.count("member")).toBe(0);
      const bob = await gw.user("bob", { role: "view" });
      gw.fake.clearRequests();
      const res = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: "/clusters/member/api/v1/namespaces/default/configmaps", headers: { authorization: `Bearer ${await bob.token()}` } });
      expect(res.status).toBe(503);
      expect(gw.fake.requests.filter((r) => r.path.includes("configmaps"))).toEqual([]);
    } finally {
      await agent.stop();
    }
  });
});
