/**
 * The whole user path: `kubegate login`, `kubegate kubeconfig add` (exec mode), then plain
 * kubectl 1.32 through the data plane — get, apply, -w, logs, exec — while 4-second tokens
 * keep expiring and the plugin keeps minting; a revoked grant stops the next call cleanly.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliUser, type CliUser } from "../support/cli.ts";
import { KUBECTL, hasFile, requireProgram, run, stream } from "../support/programs.ts";
import { startTestGateway, type TestGateway, type TestUser } from "../support/gateway.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");

describe.runIf(enabled)("kubectl with kubegate's exec credential plugin", () => {
  let gw: TestGateway;
  let user: TestUser;
  let alice: CliUser;
  const kubectl = (args: string[], input?: string) => run(KUBECTL, args, alice.env, input);

  beforeAll(async () => {
    gw = await startTestGateway({
      flags: { "token-ttl": "4s" },
      fake: { objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "seed", namespace: "default" }, data: { a: "1" } }] },
    });
    user = await gw.user("alice", { role: "edit" });
    alice = await cliUser();
    const caFile = join(alice.home, "ca.crt");
    await writeFile(caFile, gw.caPem);
    expect((await alice.login(gw.kubegate.control!.url, caFile, user.key)).code).toBe(0);
    const added = await alice.run(["kubeconfig", "add", "--cluster", "member", "--use", "--namespace", "default"]);
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
  });
  afterAll(async () => {
    await gw.close();
    await alice.cleanup();
  });

  it("runs the everyday verbs while short tokens expire underneath", async () => {
    const manifest = join(alice.home, "cm.yaml");
    await writeFile(manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  v: one\n");
    expect((await kubectl(["apply", "-f", manifest])).stdout).toContain("configmap/app created");
    const watch = stream(KUBECTL, ["get", "configmaps", "-w", "--no-headers", "-o", "custom-columns=N:.metadata.name,V:.data.v"], alice.env);
    const logs = stream(KUBECTL, ["logs", "-f", "fake-pod"], alice.env);
    try {
      await watch.waitFor((l) => l.some((x) => /^app\s+one$/.test(x)));
      // Outlive two token lifetimes: every call needs a fresh token from the plugin.
      for (let i = 0; i < 5; i++) {
        const got = await kubectl(["get", "configmap", "app", "-o", "jsonpath={.data.v}"]);
        expect(got.stderr).toBe("");
        expect(got.stdout).toBe(i === 0 ? "one" : `v${i}`);
        expect((await kubectl(["patch", "configmap", "app", "-p", JSON.stringify({ data: { v: `v${i + 1}` } })])).code).toBe(0);
        await new Promise((r) => setTimeout(r, 2000));
      }
      await watch.waitFor((l) => l.some((x) => /^app\s+v5$/.test(x)));
      expect(logs.lines.length).toBeGreaterThan(10);
      const cat = await kubectl(["exec", "-i", "fake-pod", "--", "cat"], "through the plugin\n");
      expect(cat.stdout).toBe("through the plugin\n");
      expect((await kubectl(["exec", "fake-pod", "--", "sh", "-c", "exit 3"])).code).toBe(3);
      // The member saw several distinct tokens' worth of requests, all as alice.
      const mints = gw.logs.filter((l) => l["audit"] === "token.mint" && l["subject"] === "alice").length;
      expect(mints).toBeGreaterThanOrEqual(3);
    } finally {
      await watch.stop();
      await logs.stop();
    }
  }, 60_000);

  it("a revoked grant: the next kubectl call fails with a clear message", async () => {
    await gw.admin.grants.revokeGrant({ id: user.grantId });
    const res = await kubectl(["get", "pods"]);
    expect(res.code).not.toBe(0);
    // Either the data plane refuses the cached token, or the plugin cannot mint a new one.
    expect(res.stderr).toMatch(/has been revoked|you do not have access to cluster "member": ask an admin for a grant/);
  });
});
