/**
 * Front-proxy identity mode against a real kube-apiserver v1.32 (its --requestheader-*
 * flags: the harness's front-proxy CA, allowed name front-proxy-client, X-Remote-*), in
 * direct mode (the gateway holds only the front-proxy certificate: no token, no
 * impersonate permission) and through an agent that presents it from its own files:
 * kubectl get, apply, watch and `auth whoami` (user, groups, and the grant and token ids
 * as extras); a client's own X-Remote-User, in any case or named in Connection, never
 * reaches the API server — the API server itself says whom it saw (SelfSubjectReview).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { startRealGateway, tokenIdOf, type RealGateway, type TestUser } from "../support/gateway.ts";
import { realApiserverAvailable, startKubeApiserver, type KubeApiserver } from "../support/kube-apiserver.ts";
import { KUBECTL, clientEnv, hasFile, kubectlWatchSeesPatch, requireProgram, run } from "../support/programs.ts";
import { http1Request, rawRequest } from "../support/raw-client.ts";

const enabled = realApiserverAvailable() && requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");
const REVIEW = JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });
type UserInfo = { username: string; groups: string[]; extra?: Record<string, string[]> };

let apiserver: KubeApiserver;
let home: string;
beforeAll(async () => {
  if (!enabled) return;
  apiserver = await startKubeApiserver();
  home = await mkdtemp(join(tmpdir(), "kubegate-real-front-proxy-"));
});
afterAll(async () => {
  await apiserver?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe.runIf(enabled).each(["direct", "agent"] as const)("front-proxy identity mode on a real kube-apiserver (%s mode)", (mode) => {
  const cluster = `fp-${mode}`;
  const ns = `fp-${mode}`;
  let gw: RealGateway;
  let sam: TestUser;
  let kubeconfig: string;
  const kubectl = (args: string[]) => run(KUBECTL, args, clientEnv(kubeconfig, home));

  beforeAll(async () => {
    await apiserver.namespace(ns);
    gw = await startRealGateway(apiserver, { mode, clusterName: cluster, identity: "front-proxy" });
    sam = await gw.user("sam", { role: "edit", namespaces: [ns], groups: ["dev"] });
    kubeconfig = await sam.kubeconfig({ namespace: ns });
  });
  afterAll(() => gw?.close());

  it("the cluster is READY with the API server's version: the direct probe asserts nobody, which may read /version", async () => {
    const own = (await apiserver.api("GET", "/version")).json<{ gitVersion: string }>().gitVersion;
    const status = async () => (await gw.admin.clusters.getCluster({ name: cluster })).cluster!.status!;
    await expect.poll(async () => (await status()).phase, { timeout: 10_000 }).toBe(ClusterPhase.READY);
    expect((await status()).kubernetesVersion).toBe(own);
  });

  it("kubectl auth whoami shows the user, the groups, and the grant and token ids as extras", async () => {
    const who = await kubectl(["auth", "whoami", "-o", "json"]);
    expect(who.code, who.stderr).toBe(0);
    const info = (JSON.parse(who.stdout) as { status: { userInfo: UserInfo } }).status.userInfo;
    const token = /token: (\S+)/.exec(await readFile(kubeconfig, "utf8"))?.[1] ?? "";
    expect(info.username).toBe("kubegate:sam");
    expect(info.groups).toEqual(["kubegate:dev", "system:authenticated"]);
    expect(info.extra).toEqual({ "kubegate.dev/grant": [sam.grantId], "kubegate.dev/token-id": [tokenIdOf(token)] });
    // The table a person reads names them too.
    const table = await kubectl(["auth", "whoami"]);
    expect(table.stdout).toMatch(/Username\s+kubegate:sam/);
    expect(table.stdout).toContain(`Extra: kubegate.dev/grant`);
    expect(table.stdout).toContain(sam.grantId);
  });

  it("kubectl apply, get and a watch work as the user; the real authorizer still decides", async () => {
    const manifest = join(home, `${mode}-cm.yaml`);
    await writeFile(manifest, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fp-cm\n  namespace: ${ns}\ndata:\n  v: "1"\n`);
    const applied = await kubectl(["apply", "-f", manifest]);
    expect(applied.stdout, applied.stderr).toContain("configmap/fp-cm created");
    expect((await kubectl(["get", "configmaps"])).stdout).toMatch(/fp-cm\s+1/);

    await kubectlWatchSeesPatch(clientEnv(kubeconfig, home), "fp-cm");
    // Outside the grant's namespace the real RBAC says no, naming sam.
    const other = await kubectl(["get", "configmaps", "-n", "default"]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain("kubegate:sam");
  });

  it("a client's own X-Remote-* never reaches the API server: mixed case, both protocols, named in Connection", async () => {
    const token = await sam.token();
    const path = `/clusters/${cluster}/apis/authentication.k8s.io/v1/selfsubjectreviews`;
    const base = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const forged = { "X-Remote-User": "system:admin", "x-REMOTE-group": "system:masters", "X-Remote-Extra-Scopes": "all", "x-remote-extra-kubegate.dev%2Fgrant": "gr-forged" };
    const seen: UserInfo[] = [];
    for (const protocol of ["HTTP/2", "HTTP/1.1"] as const) {
      const res = await rawRequest(protocol, gw.dataUrl, gw.caPem, { method: "POST", path, headers: { ...base, ...forged }, body: REVIEW });
      expect(res.status, res.body).toBe(201);
      seen.push((JSON.parse(res.body) as { status: { userInfo: UserInfo } }).status.userInfo);
    }
    const trick = await http1Request(gw.dataUrl, gw.caPem, {
      method: "POST",
      path,
      headers: { ...base, ...forged, connection: "keep-alive, X-Remote-User, x-remote-group, Authorization" },
      body: REVIEW,
    });
    expect(trick.status, trick.body).toBe(201);
    seen.push((JSON.parse(trick.body) as { status: { userInfo: UserInfo } }).status.userInfo);
    for (const who of seen) {
      expect(who.username).toBe("kubegate:sam");
      expect(who.groups).toEqual(["kubegate:dev", "system:authenticated"]);
      expect(who.extra).toEqual({ "kubegate.dev/grant": [sam.grantId], "kubegate.dev/token-id": [tokenIdOf(token)] });
    }
  });
});

describe.runIf(enabled)("the front-proxy certificate on a real kube-apiserver", () => {
  it("is all the gateway holds in direct mode: it asserts users only with X-Remote-User, and is no user by itself", async () => {
    const cert = apiserver.frontProxy.client;
    const https = await import("node:https");
    const ask = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(apiserver.url);
        const req = https.request(
          { hostname: url.hostname, port: url.port, method: "POST", path: "/apis/authentication.k8s.io/v1/selfsubjectreviews", ca: apiserver.caPem, cert: cert.certPem, key: cert.keyPem, agent: false, headers: { "content-type": "application/json", ...headers } },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString("utf8")));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end(REVIEW);
      });
    const asserted = await ask({ "X-Remote-User": "kubegate:probe", "X-Remote-Group": "kubegate:dev" });
    expect(asserted.status).toBe(201);
    expect((JSON.parse(asserted.body) as { status: { userInfo: UserInfo } }).status.userInfo.username).toBe("kubegate:probe");
    // Without the header the certificate authenticates no one (its CA is not the client CA):
    // anonymous, which may not even ask who it is.
    const bare = await ask({});
    expect([401, 403]).toContain(bare.status);
  });
});
