/**
 * `kubegate agent` as an admin runs it: register with --agent, follow the printed command
 * (plus --kubeconfig, since the member is our fake), see the cluster Ready with versions,
 * and reach it with kubectl; a second agent with the spent bootstrap token exits with an
 * error that says why; SIGTERM stops the agent cleanly.
 */
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliUser, type CliUser } from "../support/cli.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, run } from "../support/programs.ts";

describe("kubegate agent", () => {
  let gw: TestGateway;
  let admin: CliUser;
  let printed: string;
  let token: string;
  let memberKubeconfig: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    admin = await cliUser();
    const caFile = join(admin.home, "ca.crt");
    await writeFile(caFile, gw.caPem);
    expect((await admin.login(gw.kubegate.control!.url, caFile, gw.kubegate.control!.bootstrapAdminKey!)).code).toBe(0);
    const registered = await admin.run(["cluster", "register", "edge", "--agent"]);
    token = /bootstrap token \(shown once\):\n {2}(kgb_\S+)\n/.exec(registered.stdout)![1]!;
    printed = /\n {2}(kubegate agent [^\n]+)\n/.exec(registered.stdout)![1]!;
    await writeFile(join(admin.home, "bootstrap.token"), `${token}\n`);
    memberKubeconfig = await gw.fake.kubeconfig({ token: gw.fake.gatewayToken! });
  });
  afterAll(async () => {
    await gw.close();
    await admin.cleanup();
  });

  /** The printed command's flags, with files relative to the admin's home. */
  const printedArgs = () =>
    printed
      .split(" ")
      .slice(1)
      .map((a) => (a === "ca.crt" || a === "bootstrap.token" ? join(admin.home, a) : a));

  it("prints a command that names the data plane, and that command connects the cluster", async () => {
    expect(printed).toContain(`--gateway ${gw.dataUrl} --cluster edge`);
    const agent = admin.spawn([...printedArgs(), "--state-dir", join(admin.home, "state"), "--kubeconfig", memberKubeconfig]);
    let stderr = "";
    agent.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    try {
      const deadline = Date.now() + 10_000;
      let list = "";
      while (Date.now() < deadline) {
        list = (await admin.run(["cluster", "list"])).stdout;
        if (/\nedge\s+agent\s+impersonate\s+Ready\s+v1\.32/.test(list)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(list, stderr).toMatch(/\nedge\s+agent\s+impersonate\s+Ready\s+v1\.32\S*\s/);
      const got = JSON.parse((await admin.run(["cluster", "get", "edge", "-o", "json"])).stdout);
      expect(got.status).toMatchObject({ phase: "CLUSTER_PHASE_READY", agentVersion: "0.1.0" });
      expect(stderr).toContain('"msg":"tunnel up"');
      expect(stderr).not.toContain(token);

      if (requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)")) {
        const alice = await gw.user("alice", { role: "view", cluster: "edge" });
        const kubeconfig = await alice.kubeconfig({ clusters: ["edge"] });
        const pods = await run(KUBECTL, ["get", "pods", "-o", "name"], clientEnv(kubeconfig, admin.home));
        expect(pods.stderr).toBe("");
        expect(pods.stdout).toContain("pod/fake-pod");
      }

      // A second agent holding the spent bootstrap token is refused, and says so.
      const second = await admin.run([...printedArgs(), "--state-dir", join(admin.home, "state-2"), "--kubeconfig", memberKubeconfig]);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/^error: the gateway refused the agent's secret: the bootstrap token is unknown or was already used/m);
    } finally {
      agent.kill("SIGTERM");
      const [code] = await once(agent, "exit");
      expect(code).toBe(0);
    }
  });

  it("explains missing or wrong flags", async () => {
    const bare = await admin.run(["agent"]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("--gateway and --gateway-ca-file are required");
    const plain = await admin.run(["agent", "--gateway", "http://127.0.0.1:1", "--gateway-ca-file", join(admin.home, "ca.crt"), "--kubeconfig", memberKubeconfig]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("--gateway must be an https URL");
    const noCa = await admin.run(["agent", "--gateway", gw.dataUrl, "--gateway-ca-file", join(admin.home, "missing.crt")]);
    expect(noCa.code).toBe(1);
    expect(noCa.stderr).toContain("cannot read --gateway-ca-file");
    const noCluster = await admin.run(["agent", "--gateway", gw.dataUrl, "--gateway-ca-file", join(admin.home, "ca.crt")], undefined, { KUBERNETES_SERVICE_HOST: "" });
    expect(noCluster.code).toBe(1);
    expect(noCluster.stderr).toContain("pass --kubeconfig");
    const base = ["agent", "--gateway", gw.dataUrl, "--gateway-ca-file", join(admin.home, "ca.crt"), "--kubeconfig", memberKubeconfig];
    const halfFrontProxy = await admin.run([...base, "--front-proxy-cert-file", join(admin.home, "ca.crt")]);
    expect(halfFrontProxy.code).toBe(2);
    expect(halfFrontProxy.stderr).toContain("--front-proxy-cert-file and --front-proxy-key-file go together");
    const wrongKey = await admin.run([...base, "--front-proxy-cert-file", join(admin.home, "ca.crt"), "--front-proxy-key-file", join(admin.home, "missing.key")]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain("cannot read the front-proxy key");
  });
});
