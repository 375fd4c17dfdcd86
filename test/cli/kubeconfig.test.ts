/**
 * `kubegate kubeconfig add|remove|list` as a person runs it: entries that real kubectl
 * accepts (exec mode and embedded tokens), changes that leave everyone else's entries byte
 * for byte, concurrent adds that both land, and bad input that changes nothing on disk.
 */
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, run } from "../support/programs.ts";
import { startTestGateway, type TestGateway, type TestUser } from "../support/gateway.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");
const REPO = join(import.meta.dirname, "..", "..");

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string; "certificate-authority-data": string } }[];
  users: { name: string; user: { token?: string; exec?: { apiVersion: string; command: string; args: string[]; installHint: string; interactiveMode: string } } }[];
  contexts: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
  "current-context": string;
}
const read = async (file: string) => parse(await readFile(file, "utf8")) as Kubeconfig;
const named = <T extends { name: string }>(list: T[], name: string) => list.find((e) => e.name === name);

describe.runIf(enabled)("kubegate kubeconfig", () => {
  let gw: TestGateway;
  let alice: TestUser;
  let cli: CliUser;
  let n = 0;
  /** A fresh kubeconfig path for one test. */
  const fresh = () => join(cli.home, "configs", `config-${++n}`);
  const kubectl = (kubeconfig: string, args: string[]) => run(KUBECTL, args, clientEnv(kubeconfig, cli.home));

  beforeAll(async () => {
    gw = await startTestGateway();
    // A second cluster (the same fake member behind it) so alice can hold two grants.
    await gw.admin.clusters.registerCluster({
      name: "member2",
      mode: { case: "direct", value: { serverUrl: gw.fake.url, caPem: gw.fake.caPem, credential: { kind: { case: "bearerToken", value: gw.fake.gatewayToken! } } } },
    });
    // A cluster alice holds no grant on.
    await gw.admin.clusters.registerCluster({
      name: "other",
      mode: { case: "direct", value: { serverUrl: gw.fake.url, caPem: gw.fake.caPem, credential: { kind: { case: "bearerToken", value: gw.fake.gatewayToken! } } } },
    });
    alice = await gw.user("alice", { role: "edit" });
    const second = await gw.admin.grants.createGrant({ cluster: "member2", subject: { kind: SubjectKind.USER, name: "alice" }, role: Role.EDIT, namespaces: [] });
    await gw.until(() => gw.kubegate.data!.view.grants.has(second.grant!.id));
    cli = await cliUser();
    const caFile = join(cli.home, "ca.crt");
    await writeFile(caFile, gw.caPem);
    expect((await cli.login(gw.kubegate.control!.url, caFile, alice.key)).code).toBe(0);
  });
  afterAll(async () => {
    await gw?.close();
    await cli?.cleanup();
  });

  it("adds an exec-mode entry to $KUBECONFIG that kubectl accepts", async () => {
    const res = await cli.run(["kubeconfig", "add", "--cluster", "member"]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`added kubegate-member to ${cli.kubeconfig} (exec: kubegate kube-token)\n`);
    expect((await stat(cli.kubeconfig)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(cli.kubeconfig))).mode & 0o777).toBe(0o700);

    const config = await read(cli.kubeconfig);
    expect(named(config.clusters, "kubegate-member")!.cluster.server).toBe(`${gw.dataUrl}/clusters/member`);
    const embedded = parse(await readFile(await alice.kubeconfig(), "utf8")) as Kubeconfig;
    expect(named(config.clusters, "kubegate-member")!.cluster["certificate-authority-data"]).toBe(embedded.clusters[0]!.cluster["certificate-authority-data"]);
    const exec = named(config.users, "kubegate-member")!.user.exec!;
    expect(exec).toMatchObject({ apiVersion: "client.authentication.k8s.io/v1", interactiveMode: "IfAvailable" });
    // An absolute command that works from any shell: this Node and kubegate's entry script.
    expect(exec.command).toBe(process.execPath);
    expect(exec.args).toEqual([join(REPO, "bin", "kubegate.js"), "kube-token", "--cluster", "member"]);
    expect(exec.installHint).toContain("kubegate");
    expect(named(config.contexts, "kubegate-member")!.context).toEqual({ cluster: "kubegate-member", user: "kubegate-member" });
    expect(config["current-context"]).toBe("");

    const view = await kubectl(cli.kubeconfig, ["config", "view", "-o", "jsonpath={.users[0].user.exec.command} {.contexts[0].name}"]);
    expect(view.stderr).toBe("");
    expect(view.stdout).toBe(`${process.execPath} kubegate-member`);
    const contexts = await kubectl(cli.kubeconfig, ["config", "get-contexts", "-o", "name"]);
    expect(contexts.stdout).toBe("kubegate-member\n");

    const custom = fresh();
    expect((await cli.run(["kubeconfig", "add", "--cluster", "member", "--exec-command", "/opt/kubegate/bin/kubegate", "--kubeconfig", custom])).code).toBe(0);
    expect(named((await read(custom)).users, "kubegate-member")!.user.exec).toMatchObject({
      command: "/opt/kubegate/bin/kubegate",
      args: ["kube-token", "--cluster", "member"],
    });
  });

  it("--embed-token writes a token kubectl uses through the data plane, and says when it expires", async () => {
    const file = fresh();
    const res = await cli.run(["kubeconfig", "add", "--cluster", "member", "--embed-token", "--kubeconfig", file]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^added kubegate-member to ${file} \\(token expires at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z \\(in 15m\\)\\)\\n$`));
    const expires = Date.parse(/expires at (\S+)/.exec(res.stdout)![1]!);
    expect(expires - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(named((await read(file)).users, "kubegate-member")!.user.token).toMatch(/^ey/);
    const pods = await kubectl(file, ["--context", "kubegate-member", "get", "pods", "-n", "default", "-o", "name"]);
    expect(pods.stderr).toBe("");
    expect(pods.stdout).toContain("pod/fake-pod");
    expect(gw.fake.requests.some((r) => r.impersonatedUser?.name === "kubegate:alice" && r.path.startsWith("/api/v1/namespaces/default/pods"))).toBe(true);
  });

  it("--all adds every cluster alice may use; --namespace, --use and list", async () => {
    const file = fresh();
    const res = await cli.run(["kubeconfig", "add", "--all", "--namespace", "team-a", "--use", "--kubeconfig", file]);
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe(
      [
        `added kubegate-member to ${file} (exec: kubegate kube-token)`,
        `added kubegate-member2 to ${file} (exec: kubegate kube-token)`,
        "current context is now kubegate-member",
        "",
      ].join("\n"),
    );
    const config = await read(file);
    expect(config.contexts.map((c) => c.name)).toEqual(["kubegate-member", "kubegate-member2"]);
    expect(config.contexts.map((c) => c.context.namespace)).toEqual(["team-a", "team-a"]);
    expect((await kubectl(file, ["config", "current-context"])).stdout).toBe("kubegate-member\n");
    expect((await kubectl(file, ["config", "view", "--minify", "-o", "jsonpath={..namespace}"])).stdout).toBe("team-a");

    // Re-adding without --namespace keeps the namespace; with it, changes it.
    await cli.run(["kubeconfig", "add", "--cluster", "member", "--kubeconfig", file]);
    await cli.run(["kubeconfig", "add", "--cluster", "member2", "--namespace", "team-b", "--kubeconfig", file]);
    expect((await read(file)).contexts.map((c) => [c.name, c.context.namespace])).toEqual([
      ["kubegate-member", "team-a"],
      ["kubegate-member2", "team-b"],
    ]);

    const table = await cli.run(["kubeconfig", "list", "--kubeconfig", file]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^CONTEXT\s+CLUSTER\s+SERVER\s+NAMESPACE\s+AUTH\s+CURRENT$/);
    expect(lines[1]).toMatch(new RegExp(`^kubegate-member\\s+member\\s+${gw.dataUrl}/clusters/member\\s+team-a\\s+exec\\s+\\*$`));
    expect(lines[2]).toMatch(new RegExp(`^kubegate-member2\\s+member2\\s+${gw.dataUrl}/clusters/member2\\s+team-b\\s+exec$`));
    const json = JSON.parse((await cli.run(["kubeconfig", "list", "-o", "json", "--kubeconfig", file])).stdout) as unknown[];
    expect(json).toEqual([
      { context: "kubegate-member", cluster: "member", server: `${gw.dataUrl}/clusters/member`, namespace: "team-a", auth: "exec", current: true },
      { context: "kubegate-member2", cluster: "member2", server: `${gw.dataUrl}/clusters/member2`, namespace: "team-b", auth: "exec", current: false },
    ]);
    expect((await cli.run(["kubeconfig", "list", "--kubeconfig", fresh()])).stdout).toBe("No resources found.\n");
  });

  it("--print prints a kubeconfig for just those clusters and writes nothing", async () => {
    const file = fresh();
    await cli.run(["kubeconfig", "add", "--cluster", "member", "--kubeconfig", file]);
    const before = await readFile(file);
    const res = await cli.run(["kubeconfig", "add", "--cluster", "member2", "--namespace", "ns", "--print", "--kubeconfig", file]);
    expect(res.code).toBe(0);
    // Written as kubectl writes (lists not indented), and kubectl reads it.
    expect(res.stdout).toMatch(/^clusters:\n- cluster:\n/m);
    const printed = parse(res.stdout) as Kubeconfig;
    const copy = join(cli.home, "printed.yaml");
    await writeFile(copy, res.stdout);
    expect((await kubectl(copy, ["config", "get-contexts", "-o", "name"])).stdout).toBe("kubegate-member2\n");
    expect(printed.contexts).toEqual([{ name: "kubegate-member2", context: { cluster: "kubegate-member2", user: "kubegate-member2", namespace: "ns" } }]);
    expect(printed["current-context"]).toBe("kubegate-member2");
    expect(printed.users[0]!.user.exec!.args.slice(-3)).toEqual(["kube-token", "--cluster", "member2"]);
    expect(await readFile(file)).toEqual(before);
    const nowhere = fresh();
    expect((await cli.run(["kubeconfig", "add", "--cluster", "member", "--print", "--kubeconfig", nowhere])).code).toBe(0);
    await expect(stat(nowhere)).rejects.toThrow(/ENOENT/);
    // Removing from a kubeconfig that does not exist creates nothing either.
    const none = join(cli.home, "no-such-dir", "config");
    expect((await cli.run(["kubeconfig", "remove", "--all", "--kubeconfig", none])).stdout).toBe(`no kubegate entries in ${none}\n`);
    await expect(stat(dirname(none))).rejects.toThrow(/ENOENT/);
  });

  it("add then remove leaves a kubectl-made kubeconfig with other entries byte-identical", async () => {
    const file = fresh();
    await mkdir(dirname(file), { recursive: true });
    const ca = join(cli.home, "other-ca.crt");
    await writeFile(ca, "-----BEGIN CERTIFICATE-----\nMIIBnot-a-real-cert\n-----END CERTIFICATE-----\n");
    for (const args of [
      ["set-cluster", "prod", "--server=https://10.0.0.1:6443", `--certificate-authority=${ca}`, "--embed-certs"],
      ["set-cluster", "staging", "--server=https://10.0.0.2:6443", "--insecure-skip-tls-verify"],
      ["set-credentials", "bob", "--token=bobs-token"],
      ["set-credentials", "carol", "--exec-api-version=client.authentication.k8s.io/v1", "--exec-command=/usr/local/bin/carol-login", "--exec-arg=--profile", "--exec-arg=x y"],
      ["set-context", "prod", "--cluster=prod", "--user=bob", "--namespace=ns1"],
      ["set-context", "staging", "--cluster=staging", "--user=carol"],
      ["use-context", "prod"],
    ]) {
      const r = await kubectl(file, ["config", ...args]);
      expect(r.stderr).toBe("");
    }
    // What people add by hand: comments, preferences, extensions.
    const edited = (await readFile(file, "utf8"))
      .replace(/^/, "# my clusters: do not lose this comment\n")
      .replace("preferences: {}\n", "preferences:\n  colors: true # mine\n")
      .replace("    server: https://10.0.0.2:6443\n", "    extensions:\n    - extension:\n        audience: staging\n      name: my-tool\n    server: https://10.0.0.2:6443\n")
      .concat("# written by hand, after the last entry\n");
    await writeFile(file, edited, { mode: 0o600 });
    expect((await kubectl(file, ["config", "view", "-o", "jsonpath={.clusters[1].cluster.extensions[0].name}"])).stdout).toBe("my-tool");
    const original = await readFile(file);

    expect((await cli.run(["kubeconfig", "add", "--cluster", "member", "--kubeconfig", file])).code).toBe(0);
    expect((await cli.run(["kubeconfig", "add", "--cluster", "member2", "--embed-token", "--namespace", "x", "--kubeconfig", file])).code).toBe(0);
    const contexts = await kubectl(file, ["config", "get-contexts", "-o", "name"]);
    expect(contexts.stdout.split("\n").filter(Boolean).sort()).toEqual(["kubegate-member", "kubegate-member2", "prod", "staging"]);
    expect((await kubectl(file, ["config", "current-context"])).stdout).toBe("prod\n");

    const removed = await cli.run(["kubeconfig", "remove", "--all", "--kubeconfig", file]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toBe(`removed kubegate-member from ${file}\nremoved kubegate-member2 from ${file}\n`);
    expect((await readFile(file)).equals(original)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    // One cluster at a time, and a cluster that is not there.
    await cli.run(["kubeconfig", "add", "--all", "--kubeconfig", file]);
    const one = await cli.run(["kubeconfig", "remove", "--cluster", "member2", "--cluster", "gone", "--kubeconfig", file]);
    expect(one.code).toBe(0);
    expect(one.stdout).toBe(`removed kubegate-member2 from ${file}\n`);
    expect(one.stderr).toBe(`kubegate-gone was not in ${file}\n`);
    expect((await read(file)).contexts.map((c) => c.name)).toEqual(["prod", "staging", "kubegate-member"]);
    await cli.run(["kubeconfig", "remove", "--cluster", "member", "--kubeconfig", file]);
    expect((await readFile(file)).equals(original)).toBe(true);
  });

  it("two adds at once both land in the file", async () => {
    for (let round = 0; round < 3; round++) {
      const file = fresh();
      const [a, b] = await Promise.all([
        cli.run(["kubeconfig", "add", "--cluster", "member", "--kubeconfig", file]),
        cli.run(["kubeconfig", "add", "--cluster", "member2", "--kubeconfig", file]),
      ]);
      expect([a.code, a.stderr, b.code, b.stderr]).toEqual([0, "", 0, ""]);
      const config = await read(file);
      for (const list of [config.clusters, config.users, config.contexts]) expect(list.map((e) => e.name).sort()).toEqual(["kubegate-member", "kubegate-member2"]);
      expect((await stat(`${file}.lock`).catch(() => undefined))?.isFile()).toBeUndefined();
    }
  });

  it("waits while another program (kubectl, or another kubegate) holds <kubeconfig>.lock", async () => {
    const file = fresh();
    await mkdir(dirname(file), { recursive: true });
    await writeFile(`${file}.lock`, "");
    const adds = Promise.all([
      cli.run(["kubeconfig", "add", "--cluster", "member", "--kubeconfig", file]),
      cli.run(["kubeconfig", "add", "--cluster", "member2", "--kubeconfig", file]),
    ]);
    await new Promise((r) => setTimeout(r, 2500));
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    await rm(`${file}.lock`);
    const [a, b] = await adds;
    expect([a.code, a.stderr, b.code, b.stderr]).toEqual([0, "", 0, ""]);
    expect((await read(file)).contexts.map((c) => c.name).sort()).toEqual(["kubegate-member", "kubegate-member2"]);
  });

  describe("bad input: a clear error, exit 1, and the file unchanged", () => {
    let file: string;
    let bytes: Buffer;
    beforeAll(async () => {
      file = fresh();
      await cli.run(["kubeconfig", "add", "--cluster", "member", "--kubeconfig", file]);
      bytes = await readFile(file);
    });
    const unchanged = async (path = file, want = bytes, mode = 0o600) => {
      expect((await readFile(path)).equals(want)).toBe(true);
      expect((await stat(path)).mode & 0o777).toBe(mode);
    };

    it.each([
      ["an unknown cluster", ["--cluster", "nope"], 'error: cluster "nope" not found\n'],
      ["a cluster without a grant", ["--cluster", "other"], 'error: you do not have access to cluster "other": ask an admin for a grant\n'],
      ["a malformed cluster name", ["--cluster", "No_Such"], /^error: .*clusters\[0\]/],
    ])("%s", async (_what, args, stderr) => {
      for (const mode of [[], ["--embed-token"]]) {
        const res = await cli.run(["kubeconfig", "add", ...args, ...mode, "--kubeconfig", file]);
        expect(res.code).toBe(1);
        expect(res.stdout).toBe("");
        if (typeof stderr === "string") expect(res.stderr).toBe(stderr);
        else expect(res.stderr).toMatch(stderr);
        await unchanged();
      }
    });

    it("a wrong API key", async () => {
      const res = await cli.run(["kubeconfig", "add", "--cluster", "member", "--kubeconfig", file], undefined, { KUBEGATE_CONFIG_DIR: join(cli.home, "wrong-key") });
      expect(res.stderr).toMatch(/^error: not logged in: run `kubegate login/);
      const dir = join(cli.home, "wrong-key");
      await mkdir(dir, { recursive: true });
      const session = JSON.parse(await readFile(join(cli.home, ".config", "kubegate", "session.json"), "utf8")) as Record<string, string>;
      await writeFile(join(dir, "session.json"), JSON.stringify({ ...session, apiKey: "kgk_not-a-real-key" }), { mode: 0o600 });
      const bad = await cli.run(["kubeconfig", "add", "--cluster", "member", "--kubeconfig", file], undefined, { KUBEGATE_CONFIG_DIR: dir });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toBe("error: unknown API key: run `kubegate login` with a valid API key\n");
      await unchanged();
    });

    it.each([
      ["not YAML", "apiVersion: v1\nclusters: [\n", /is not valid YAML: .*line 3/],
      ["YAML but a list", "- apiVersion: v1\n- kind: Config\n", /is not a kubeconfig: it holds a list/],
      ["another kind of object", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", /is not a kubeconfig: its kind is "Pod"/],
    ])("a kubeconfig that is %s", async (_what, text, message) => {
      const bad = fresh();
      await mkdir(dirname(bad), { recursive: true });
      await writeFile(bad, text, { mode: 0o640 });
      for (const args of [["add", "--cluster", "member"], ["add", "--cluster", "member", "--embed-token", "--use"], ["remove", "--all"], ["list"]]) {
        const res = await cli.run(["kubeconfig", ...args, "--kubeconfig", bad]);
        expect(res.code).toBe(1);
        expect(res.stderr).toMatch(new RegExp(`^error: ${bad} ${message.source}`));
        await unchanged(bad, Buffer.from(text), 0o640);
      }
    });

    it("an unreadable kubeconfig: a directory, or a path under a file", async () => {
      const dir = fresh();
      await mkdir(dir, { recursive: true });
      for (const args of [["add", "--cluster", "member"], ["remove", "--all"], ["list"]]) {
        const res = await cli.run(["kubeconfig", ...args, "--kubeconfig", dir]);
        expect(res.code).toBe(1);
        expect(res.stderr).toBe(`error: cannot read kubeconfig ${dir}: it is a directory\n`);
        const under = await cli.run(["kubeconfig", ...args, "--kubeconfig", join(file, "config")]);
        expect(under.code).toBe(1);
        expect(under.stderr).toMatch(new RegExp(`^error: cannot (read|create the directory for) kubeconfig ${file}/config: `));
        await unchanged();
      }
    });

    it("flags that do not fit are usage errors (exit 2)", async () => {
      for (const [args, message] of [
        [["add"], "--cluster NAME or --all is required"],
        [["add", "--all", "--cluster", "member"], "give --cluster or --all, not both"],
        [["add", "--cluster", "member", "--embed-token", "--exec-command", "/x"], "--exec-command is for exec mode"],
        [["remove"], "--cluster NAME or --all is required"],
        [["frobnicate"], 'unknown subcommand "frobnicate"'],
      ] as const) {
        const res = await cli.run(["kubeconfig", ...args, "--kubeconfig", file]);
        expect(res.code).toBe(2);
        expect(res.stderr).toContain(message);
      }
      await unchanged();
    });
  });
});
