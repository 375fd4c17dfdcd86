/**
 * The admin commands as a person runs them: login, whoami, cluster register (from a
 * kubeconfig, from files, in agent mode), list/get/update/remove, grants and API keys,
 * table output for people and -o json|yaml for scripts; bad input gets a clear error.
 */
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { createCa, issueClientCert } from "../../src/tls/pki.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

describe("kubegate admin commands", () => {
  let gw: TestGateway;
  let admin: CliUser;
  let caFile: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    admin = await cliUser();
    caFile = join(admin.home, "ca.crt");
    await writeFile(caFile, gw.caPem);
  });
  afterAll(async () => {
    await gw.close();
    await admin.cleanup();
  });

  it("logs in with the key on stdin, stores it 0600, and says who we are", async () => {
    const adminKey = gw.kubegate.control!.bootstrapAdminKey!;
    const res = await admin.login(gw.kubegate.control!.url, caFile, adminKey);
    expect(res.stderr).toBe("");
    expect(res.stdout).toMatch(/^logged in to https:\/\/127\.0\.0\.1:\d+ as admin \(admin\)/);
    const file = join(admin.home, ".config", "kubegate", "session.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const who = await admin.run(["whoami"]);
    expect(who.stdout).toMatch(/^SUBJECT\s+GROUPS\s+ADMIN\s+SERVER\nadmin\s+kubegate:admins\s+true\s+https:/);
    const bad = await cliUser();
    try {
      const refused = await bad.login(gw.kubegate.control!.url, caFile, "kgk_not-a-key");
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe("error: unknown API key: run `kubegate login` with a valid API key\n");
      expect((await bad.run(["whoami"])).stderr).toBe("error: not logged in: run `kubegate login --server <control-plane URL>`\n");
      expect((await bad.run(["login", "--server", "http://x"], "k")).code).toBe(2);
    } finally {
      await bad.cleanup();
    }
  });

  it("registers clusters three ways and manages them", async () => {
    const fakeKubeconfig = await gw.fake.kubeconfig({ token: gw.fake.gatewayToken! });
    const fromKc = await admin.run(["cluster", "register", "from-kc", "--from-kubeconfig", fakeKubeconfig, "--label", "env=prod"]);
    expect(fromKc.stderr).toBe("");
    expect(fromKc.stdout).toBe("cluster from-kc registered (direct mode)\n");

    await writeFile(join(admin.home, "member-ca.crt"), gw.fake.caPem);
    await writeFile(join(admin.home, "token"), `${gw.fake.gatewayToken}\n`);
    const fromFiles = await admin.run([
      "cluster", "register", "from-files", "--server", gw.fake.url, "--ca-file", join(admin.home, "member-ca.crt"), "--token-file", join(admin.home, "token"),
    ]);
    expect(fromFiles.stdout).toBe("cluster from-files registered (direct mode)\n");

    const agent = await admin.run(["cluster", "register", "edge", "--agent", "--label", "env=dev"]);
    expect(agent.stdout).toMatch(/One-time agent bootstrap token \(shown once\):\n  kgb_\S+\n/);
    expect(agent.stdout).toContain("kubegate agent --gateway https://");

    // Front-proxy identity: the certificate and key from files, no token; in agent mode the agent's own files.
    const fp = await issueClientCert(await createCa("front-proxy"), "front-proxy-client");
    await writeFile(join(admin.home, "fp.crt"), fp.certPem);
    await writeFile(join(admin.home, "fp.key"), fp.keyPem);
    const fpFlags = ["--front-proxy-cert-file", join(admin.home, "fp.crt"), "--front-proxy-key-file", join(admin.home, "fp.key")];
    const frontProxy = await admin.run(["cluster", "register", "fp-direct", "--server", gw.fake.url, "--ca-file", join(admin.home, "member-ca.crt"), "--identity", "front-proxy", ...fpFlags]);
    expect(frontProxy.stderr).toBe("");
    expect(frontProxy.stdout).toBe("cluster fp-direct registered (direct mode, front-proxy identity)\n");
    const fpAgent = await admin.run(["cluster", "register", "fp-edge", "--agent", "--identity", "front-proxy"]);
    expect(fpAgent.stdout).toContain("cluster fp-edge registered (agent mode, front-proxy identity)\n");
    expect(fpAgent.stdout).toContain("--front-proxy-cert-file front-proxy.crt --front-proxy-key-file front-proxy.key");
    const refused = await admin.run(["cluster", "register", "fp-bad", "--server", gw.fake.url, "--ca-file", join(admin.home, "member-ca.crt"), "--identity", "front-proxy", "--token-file", join(admin.home, "token")]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--identity front-proxy needs --front-proxy-cert-file and --front-proxy-key-file");
    expect((await admin.run(["cluster", "register", "fp-bad", "--agent", "--identity", "sideways"])).stderr).toContain("--identity must be impersonate or front-proxy");
    expect(JSON.parse((await admin.run(["cluster", "get", "fp-direct", "-o", "json"])).stdout)).toMatchObject({ identityMode: "IDENTITY_MODE_FRONT_PROXY", credentialKind: "CREDENTIAL_KIND_FRONT_PROXY_CERTIFICATE" });

    // A direct cluster's status comes from the data plane's probe of the member; an agent
    // cluster's from its agent, and none is running here.
    await expect.poll(async () => (await gw.admin.clusters.getCluster({ name: "from-kc" })).cluster?.status?.phase, { timeout: 5_000 }).toBe(ClusterPhase.READY);
    const list = await admin.run(["cluster", "list"]);
    expect(list.stdout).toMatch(/^NAME\s+MODE\s+IDENTITY\s+STATUS\s+VERSION\s+LABELS\s+AGE\n/);
    expect(list.stdout).toMatch(/\nedge\s+agent\s+impersonate\s+Unknown\s+-\s+env=dev\s+\d+s\n/);
    expect(list.stdout).toMatch(/\nfrom-kc\s+direct\s+impersonate\s+Ready\s+v1\.32\.0-fake\s+env=prod/);
    expect(list.stdout).toMatch(/\nfp-direct\s+direct\s+front-proxy\s/);
    expect(list.stdout).toMatch(/\nfp-edge\s+agent\s+front-proxy\s+Unknown/);
    expect(list.stdout + frontProxy.stdout).not.toContain(fp.keyPem.split("\n")[1]!);
    for (const name of ["fp-direct", "fp-edge"]) await admin.run(["cluster", "remove", name]);
    const json = JSON.parse((await admin.run(["cluster", "list", "-l", "env=prod", "-o", "json"])).stdout);
    expect(json.map((c: { name: string }) => c.name)).toEqual(["from-kc"]);
    const yaml = parse((await admin.run(["cluster", "get", "edge", "-o", "yaml"])).stdout);
    expect(yaml).toMatchObject({ name: "edge", mode: "CLUSTER_MODE_AGENT" });

    expect((await admin.run(["cluster", "update", "edge", "--label", "env=staging"])).stdout).toBe("cluster edge updated (labels)\n");
    expect(JSON.parse((await admin.run(["cluster", "get", "edge", "-o", "json"])).stdout).labels).toEqual({ env: "staging" });
    expect((await admin.run(["cluster", "remove", "edge"])).stdout).toBe("cluster edge removed\n");
    const gone = await admin.run(["cluster", "get", "edge"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('error: cluster "edge" not found\n');
  });

  it("refuses bad cluster input clearly", async () => {
    const cases: [string[], number, RegExp][] = [
      [["cluster", "register", "x"], 2, /give exactly one of --from-kubeconfig, --server, --agent/],
      [["cluster", "register", "x", "--server", "https://m:6443"], 2, /--server needs --ca-file/],
      [["cluster", "register", "Bad_Name", "--agent"], 1, /^error: name: "Bad_Name" must be a DNS-1123 label/],
      [["cluster", "register", "x", "--from-kubeconfig", "/nonexistent"], 1, /cannot read --from-kubeconfig \/nonexistent/],
      [["cluster", "frobnicate"], 2, /unknown subcommand "frobnicate"/],
      [["cluster", "list", "-o", "xml"], 2, /-o must be json or yaml/],
    ];
    for (const [args, code, message] of cases) {
      const res = await admin.run(args);
      expect(res.code, args.join(" ")).toBe(code);
      expect(res.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("creates, lists and revokes grants and API keys", async () => {
    const key = await admin.run(["apikey", "create", "--name", "bob laptop", "--subject", "bob", "--group", "dev"]);
    expect(key.stdout).toMatch(/^API key ak-\w+ for bob \(shown once, store it now\):\nkgk_\S+\n$/);
    const secret = key.stdout.trim().split("\n")[1]!;
    const keys = await admin.run(["apikey", "list"]);
    expect(keys.stdout).toMatch(/\nak-\w+\s+bob laptop\s+bob\s+dev\s+never/);

    const created = await admin.run(["grant", "create", "--cluster", "from-kc", "--user", "bob", "--role", "view", "--namespace", "team-a", "--expires-in", "8h"]);
    expect(created.stdout).toMatch(/^grant gr-\w+ created: from-kc user:bob view team-a APPLIED\n$/);
    const id = /grant (gr-\w+)/.exec(created.stdout)![1]!;
    await admin.run(["grant", "create", "--cluster", "from-files", "--group", "dev", "--role", "edit"]);
    const list = await admin.run(["grant", "list", "--cluster", "from-kc"]);
    expect(list.stdout).toMatch(new RegExp(`\\n${id}\\s+from-kc\\s+user:bob\\s+view\\s+team-a\\s+APPLIED\\s+20\\d\\d-`));

    // bob logs in and sees only his own.
    const bob = await cliUser();
    try {
      await bob.login(gw.kubegate.control!.url, caFile, secret);
      const mine = JSON.parse((await bob.run(["grant", "list", "-o", "json"])).stdout);
      expect(mine.map((g: { cluster: string }) => g.cluster).sort()).toEqual(["from-files", "from-kc"]);
      const denied = await bob.run(["cluster", "register", "y", "--agent"]);
      expect(denied.stderr).toBe("error: only kubegate admins may register clusters\n");
    } finally {
      await bob.cleanup();
    }

    expect((await admin.run(["grant", "revoke", id, "--reason", "done"])).stdout).toBe(`grant ${id} revoked\n`);
    expect((await admin.run(["grant", "revoke", "--group", "dev"])).stdout).toBe("revoked 1 grant(s) and every token of group dev\n");
    expect((await admin.run(["grant", "create", "--cluster", "from-kc", "--user", "x", "--role", "root"])).stderr).toMatch(/--role must be view, edit, admin or cluster-admin/);

    const keyId = /API key (ak-\w+)/.exec(key.stdout)![1]!;
    expect((await admin.run(["apikey", "revoke", keyId])).stdout).toBe(`API key ${keyId} revoked\n`);
    expect((await admin.run(["apikey", "list"])).stdout).not.toContain(keyId);
    expect((await admin.run(["apikey", "list", "--all"])).stdout).toMatch(new RegExp(`${keyId}.*revoked`));
  });
});
