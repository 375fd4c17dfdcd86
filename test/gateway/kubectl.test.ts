/**
 * Plain kubectl 1.32 through the data plane with a kubeconfig from MintKubeconfig
 * (embedded-token mode): the everyday verbs, streams and exec all work, as the user, in
 * direct mode and through an agent's tunnel.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KUBECTL, clientEnv, hasFile, kubectlWatchSeesPatch, requireProgram, stream } from "../support/programs.ts";
import { kubectlAsAlice } from "../support/gateway.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");

// The same scenario for a member the gateway dials and for one reached through its agent's tunnel.
describe.runIf(enabled).each(["direct", "agent"] as const)("kubectl 1.32 through kubegate (%s mode)", (mode) => {
  const s = kubectlAsAlice(mode);
  const { kubectl } = s;

  it("gets, applies, describes and deletes", async () => {
    const manifest = join(s.home, "cm.yaml");
    await writeFile(manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-gateway\ndata:\n  greeting: hello\n");
    const applied = await kubectl(["apply", "-f", manifest]);
    expect(applied.stderr).toBe("");
    expect(applied.stdout).toContain("configmap/via-gateway created");
    const got = await kubectl(["get", "configmaps"]);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/NAME\s+DATA\s+AGE/);
    expect(got.stdout).toMatch(/via-gateway\s+1/);
    const described = await kubectl(["describe", "configmap", "via-gateway"]);
    expect(described.stdout).toContain("greeting");
    const pods = await kubectl(["get", "pods", "-o", "name"]);
    expect(pods.stdout).toContain("pod/fake-pod");
    expect((await kubectl(["delete", "configmap", "via-gateway"])).stdout).toContain('configmap "via-gateway" deleted');
    const gone = await kubectl(["get", "configmap", "via-gateway"]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('configmaps "via-gateway" not found');

    // The member saw the user, impersonated, and never alice's token.
    const seen = s.gw.fake.requests.filter((r) => r.path.startsWith("/api/v1/namespaces/default/configmaps"));
    expect(seen.length).toBeGreaterThan(0);
    for (const r of seen) {
      expect(r.impersonatedUser?.name).toBe("kubegate:alice");
      expect(r.headers["authorization"]).toBe(`Bearer ${s.gw.fake.gatewayToken}`);
    }
  });

  it("api-resources and auth can-i", async () => {
    const res = await kubectl(["api-resources"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/configmaps\s+cm\s+v1\s+true\s+ConfigMap/);
    expect((await kubectl(["auth", "can-i", "create", "configmaps"])).stdout.trim()).toBe("yes");
    const no = await kubectl(["auth", "can-i", "create", "clusterroles"]);
    expect(no.stdout.trim()).toBe("no");
  });

  it("get -w sees an update as it happens", async () => {
    await kubectl(["create", "configmap", "watched", "--from-literal=v=1"]);
    await kubectlWatchSeesPatch(clientEnv(s.kubeconfig, s.home), "watched");
  });

  it("logs -f streams lines as they are written", async () => {
    const logs = stream(KUBECTL, ["logs", "-f", "fake-pod"], clientEnv(s.kubeconfig, s.home));
    try {
      const first = await logs.waitFor((lines) => lines.length >= 2);
      const later = await logs.waitFor((lines) => lines.length >= first.length + 3);
      expect(later.length).toBeGreaterThan(first.length);
    } finally {
      await logs.stop();
    }
  });

  it("exec -i round-trips bytes and reports the exit code", async () => {
    const input = "line one\nline two: äöü\n".repeat(200);
    const cat = await kubectl(["exec", "-i", "fake-pod", "--", "cat"], input);
    expect(cat.code).toBe(0);
    expect(cat.stdout).toBe(input);
    const exit3 = await kubectl(["exec", "fake-pod", "--", "sh", "-c", "exit 3"]);
    expect(exit3.code).toBe(3);
  });

  it("audits each request with user, cluster, grant and verb", async () => {
    const lines = s.gw.logs.filter((l) => l["audit"] === "request" && l["user"] === "alice");
    expect(lines.length).toBeGreaterThan(5);
    const create = lines.find((l) => l["verb"] === "create" && l["resource"] === "configmaps");
    expect(create).toMatchObject({ cluster: "member", grant: s.alice.grantId, namespace: "default", status: 201 });
    expect(typeof create?.["durationMs"]).toBe("number");
    expect(s.gw.logs.some((l) => l["audit"] === "session.start" && l["verb"] === "watch")).toBe(true);
    expect(JSON.stringify(s.gw.logs)).not.toContain(s.gw.fake.gatewayToken!);
  });
});
