/**
 * kubegate's edits of a kubeconfig touch only its own entries, byte for byte, and the
 * file on disk is replaced atomically under a lock that concurrent writers respect.
 */
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeconfigEntries, type NamedEntries } from "../../src/kube/kubeconfig.ts";
import { KubeconfigFileError, listEntries, parseKubeconfig, removeEntries, setCurrentContext, upsertEntries } from "../../src/kube/kubeconfig-edit.ts";
import { resolveKubeconfigPath, updateKubeconfigFile } from "../../src/kube/kubeconfig-file.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const entry = (cluster: string, o: { namespace?: string; token?: string } = {}): NamedEntries =>
  kubeconfigEntries({
    cluster,
    server: `https://127.0.0.1:9443/clusters/${cluster}`,
    caPem: CA,
    ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
    auth: o.token === undefined ? { mode: "exec", command: "/usr/bin/node", args: ["/opt/kubegate/bin/kubegate.js", "kube-token", "--cluster", cluster] } : { mode: "token", token: o.token },
  });

/** As `kubectl config set-cluster/set-credentials/set-context/use-context` writes it. */
const KUBECTL_WRITTEN = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: aGVsbG8K
    server: https://10.0.0.1:6443
  name: prod
contexts:
- context:
    cluster: prod
    namespace: ns1
    user: bob
  name: prod
current-context: prod
kind: Config
preferences: {}
users:
- name: bob
  user:
    token: abc
`;

/** Hand-edited: comments everywhere, extensions, quoting, flow maps, indented lists, no final newline. */
const HAND_EDITED = `# my clusters — do not lose this comment
apiVersion: v1
clusters:
  - cluster:
      server: "https://10.0.0.2:6443"   # staging
      extensions:
        - name: client.authentication.k8s.io/exec
          extension: {audience: foo, list: [a, b]}
    name: staging

# contexts follow
contexts:
  - context: {cluster: staging, user: 'carol'}
    name: staging
current-context: staging # the default
kind: Config
preferences:
  colors: true
extensions:
  - name: my-tool
    extension:
      long: 'a very long string a very long string a very long string a very long string a very long string'
users:
  - name: carol
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: /usr/local/bin/carol-login
        args: [--profile, "x y"]
        env: null
# the end`;

const parsed = (text: string) => parse(text) as Record<string, { name: string; [k: string]: unknown }[]> & { "current-context"?: string };
const names = (text: string, key: "clusters" | "users" | "contexts") => (parsed(text)[key] ?? []).map((e) => e.name);

describe("resolveKubeconfigPath", () => {
  it.each([
    ["--kubeconfig wins", "/tmp/a", { KUBECONFIG: "/tmp/b", HOME: "/home/x" }, "/tmp/a"],
    ["first entry of $KUBECONFIG", undefined, { KUBECONFIG: ":/tmp/b:/tmp/c", HOME: "/home/x" }, "/tmp/b"],
    ["~/.kube/config", undefined, { KUBECONFIG: "", HOME: "/home/x" }, "/home/x/.kube/config"],
    ["relative flag made absolute", "conf", { HOME: "/home/x" }, join(process.cwd(), "conf")],
  ])("%s", (_what, flag, env, want) => {
    expect(resolveKubeconfigPath(flag, env)).toBe(want);
  });
});

describe("editing kubeconfig text", () => {
  it.each([
    ["kubectl-written", KUBECTL_WRITTEN],
    ["hand-edited", HAND_EDITED],
    ["with a document end marker", KUBECTL_WRITTEN + "...\n# after the end\n"],
  ])("add then remove leaves a %s file byte-identical", (_what, original) => {
    const added = upsertEntries(original, [entry("member"), entry("member2", { namespace: "team-a" })]);
    expect(names(added, "clusters")).toEqual([...names(original, "clusters"), "kubegate-member", "kubegate-member2"]);
    expect(names(added, "users")).toEqual([...names(original, "users"), "kubegate-member", "kubegate-member2"]);
    expect(names(added, "contexts")).toEqual([...names(original, "contexts"), "kubegate-member", "kubegate-member2"]);
    const withCurrent = setCurrentContext(added, "kubegate-member");
    expect(parsed(withCurrent)["current-context"]).toBe("kubegate-member");
    // Everything that is not ours is still there, unchanged.
    for (const line of original.split("\n").filter((l) => !l.startsWith("current-context"))) expect(withCurrent).toContain(line);

    const { text, removed } = removeEntries(added, "all");
    expect(removed).toEqual(["member", "member2"]);
    expect(text).toBe(original);
  });

  it("writes entries as kubectl would (lists not indented, keys sorted) into an empty file", () => {
    const text = upsertEntries("", [entry("member", { token: "t0k3n" })]);
    expect(text).toBe(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${Buffer.from(CA).toString("base64")}
    server: https://127.0.0.1:9443/clusters/member
  name: kubegate-member
contexts:
- context:
    cluster: kubegate-member
    user: kubegate-member
  name: kubegate-member
current-context: ""
kind: Config
preferences: {}
users:
- name: kubegate-member
  user:
    token: t0k3n
`);
  });

  it("replaces its own entries in place and appends new ones", () => {
    const once = upsertEntries(KUBECTL_WRITTEN, [entry("a"), entry("b")]);
    const twice = upsertEntries(once, [entry("b", { namespace: "ns2" }), entry("c")]);
    expect(names(twice, "contexts")).toEqual(["prod", "kubegate-a", "kubegate-b", "kubegate-c"]);
    expect(parsed(twice)["contexts"]!.find((c) => c.name === "kubegate-b")).toMatchObject({ context: { namespace: "ns2" } });
    // The same entries again change nothing.
    expect(upsertEntries(twice, [entry("b", { namespace: "ns2" }), entry("c")])).toBe(twice);
  });

  it("drops a duplicate of its own entry and never touches other entries, even one named like a cluster", () => {
    const other = KUBECTL_WRITTEN.replace("  name: prod\ncontexts:", "  name: member\ncontexts:");
    const dup = upsertEntries(other, [entry("member")]).replace("users:\n", `users:\n- name: kubegate-member\n  user:\n    token: stale\n`);
    const fixed = upsertEntries(dup, [entry("member")]);
    expect(names(fixed, "users")).toEqual(["kubegate-member", "bob"]);
    expect(names(fixed, "clusters")).toEqual(["member", "kubegate-member"]);
    expect(removeEntries(fixed, ["member"]).text).toBe(other);
  });

  it("removes only the named clusters and clears current-context when it pointed at one", () => {
    const text = setCurrentContext(upsertEntries(KUBECTL_WRITTEN, [entry("a"), entry("b")]), "kubegate-a");
    const { text: after, removed } = removeEntries(text, ["a", "nope"]);
    expect(removed).toEqual(["a"]);
    expect(names(after, "contexts")).toEqual(["prod", "kubegate-b"]);
    expect(parsed(after)["current-context"]).toBe("");
    // Not pointing at a removed one: current-context stays.
    const kept = removeEntries(setCurrentContext(text, "prod"), ["b"]).text;
    expect(parsed(kept)["current-context"]).toBe("prod");
    expect(removeEntries(KUBECTL_WRITTEN, "all")).toEqual({ text: KUBECTL_WRITTEN, removed: [] });
    expect(removeEntries("", "all")).toEqual({ text: "", removed: [] });
  });

  it.each([
    ["null lists", "apiVersion: v1\nclusters: null\ncontexts:\nusers: []\ncurrent-context:\nkind: Config\n"],
    ["missing lists", "apiVersion: v1\nkind: Config\n"],
    ["flow lists", "apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: 'https://x'}}]\nusers: []\ncontexts: []\n"],
    ["a top-level flow map", "{apiVersion: v1, kind: Config}\n"],
    ["only a comment", "# nothing yet\n"],
  ])("adds to a file with %s", (_what, original) => {
    const text = setCurrentContext(upsertEntries(original, [entry("member", { namespace: "ns" })]), "kubegate-member");
    const config = parsed(text);
    expect(names(text, "clusters")).toContain("kubegate-member");
    expect(names(text, "users")).toEqual(["kubegate-member"]);
    expect(config["contexts"]!.find((c) => c.name === "kubegate-member")).toMatchObject({ context: { cluster: "kubegate-member", namespace: "ns" } });
    expect(config["current-context"]).toBe("kubegate-member");
    expect(listEntries(text)).toEqual([
      { context: "kubegate-member", cluster: "member", server: "https://127.0.0.1:9443/clusters/member", namespace: "ns", auth: "exec", current: true },
    ]);
  });

  it.each([
    ["not YAML", "apiVersion: v1\nclusters: [\n", /^~\/k is not valid YAML: .*line 3/],
    ["a list", "- a\n- b\n", /^~\/k is not a kubeconfig: it holds a list/],
    ["a single value", "hello\n", /^~\/k is not a kubeconfig: it holds a single value/],
    ["another kind", "apiVersion: v1\nkind: Pod\n", /^~\/k is not a kubeconfig: its kind is "Pod"/],
    ["clusters that are not a list", "clusters: {a: 1}\n", /^~\/k is not a kubeconfig: clusters must be a list/],
    ["nameless entries", "users:\n- user: {}\n", /^~\/k is not a kubeconfig: every entry in users must be a mapping with a name/],
    ["several documents", "a: 1\n---\nb: 2\n", /^~\/k is not valid YAML: Source contains multiple documents/],
  ])("refuses %s, naming the file", (_what, text, message) => {
    for (const edit of [() => parseKubeconfig(text, "~/k"), () => upsertEntries(text, [entry("m")], "~/k"), () => removeEntries(text, "all", "~/k")]) {
      expect(edit).toThrow(KubeconfigFileError);
      expect(edit).toThrow(message);
    }
  });

  it("lists only kubegate's contexts, with server, namespace, kind of credential and current", () => {
    const text = setCurrentContext(upsertEntries(HAND_EDITED, [entry("a", { namespace: "x" }), entry("b", { token: "t" })]), "kubegate-b");
    expect(listEntries(text)).toEqual([
      { context: "kubegate-a", cluster: "a", server: "https://127.0.0.1:9443/clusters/a", namespace: "x", auth: "exec", current: false },
      { context: "kubegate-b", cluster: "b", server: "https://127.0.0.1:9443/clusters/b", namespace: "", auth: "token", current: true },
    ]);
    expect(listEntries("")).toEqual([]);
  });
});

describe("updateKubeconfigFile", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubegate-kcfile-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const add = (cluster: string) => (text: string) => upsertEntries(text, [entry(cluster)]);

  it("creates missing directories (0700) and the file (0600), leaving no temp or lock file", async () => {
    const path = join(dir, "new", "nested", "config");
    const { changed } = await updateKubeconfigFile(path, add("member"));
    expect(changed).toBe(true);
    expect((await stat(join(dir, "new"))).mode & 0o777).toBe(0o700);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(names(await readFile(path, "utf8"), "contexts")).toEqual(["kubegate-member"]);
    expect(await readdir(join(dir, "new", "nested"))).toEqual(["config"]);
  });

  it("tightens an existing file to 0600 and follows a symlink, keeping the link", async () => {
    const real = join(dir, "real-config");
    const link = join(dir, "linked-config");
    await writeFile(real, KUBECTL_WRITTEN, { mode: 0o644 });
    await symlink(real, link);
    await updateKubeconfigFile(link, add("member"));
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(real);
    expect(names(await readFile(real, "utf8"), "clusters")).toEqual(["prod", "kubegate-member"]);
    expect((await stat(real)).mode & 0o777).toBe(0o600);
  });

  it("keeps every entry when many writers update the file at once", async () => {
    const path = join(dir, "concurrent");
    const clusters = Array.from({ length: 25 }, (_, i) => `c${i}`);
    await Promise.all(clusters.map((c) => updateKubeconfigFile(path, add(c))));
    expect(names(await readFile(path, "utf8"), "contexts").sort()).toEqual(clusters.map((c) => `kubegate-${c}`).sort());
    expect(await readdir(dir)).not.toContain("concurrent.lock");
  });

  it("waits for a live lock, breaks a stale one", async () => {
    const path = join(dir, "locked");
    await writeFile(`${path}.lock`, "12345\n");
    await expect(updateKubeconfigFile(path, add("member"), { timeoutMs: 300 })).rejects.toThrow(/is locked by another program .*locked\.lock/);
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${path}.lock`, old, old);
    await updateKubeconfigFile(path, add("member"), { timeoutMs: 300 });
    expect(names(await readFile(path, "utf8"), "contexts")).toEqual(["kubegate-member"]);
  });

  it("leaves the file alone and unlocks when reading, parsing or the change fails", async () => {
    const path = join(dir, "broken");
    await writeFile(path, "clusters: [\n", { mode: 0o640 });
    await expect(updateKubeconfigFile(path, add("member"))).rejects.toThrow(/broken is not valid YAML/);
    expect(await readFile(path, "utf8")).toBe("clusters: [\n");
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect((await readdir(dir)).filter((f) => f.startsWith("broken") || f.startsWith(".broken"))).toEqual(["broken"]);

    const good = join(dir, "good");
    await writeFile(good, KUBECTL_WRITTEN, { mode: 0o644 });
    const fail = () => {
      throw new Error("boom");
    };
    await expect(updateKubeconfigFile(good, fail)).rejects.toThrow("boom");
    await expect(updateKubeconfigFile(good, () => "- not a kubeconfig\n")).rejects.toThrow(/good is not a kubeconfig/);
    expect(await readFile(good, "utf8")).toBe(KUBECTL_WRITTEN);
    expect((await stat(good)).mode & 0o777).toBe(0o644);
    expect((await readdir(dir)).filter((f) => f.includes("good"))).toEqual(["good"]);

    const isDir = join(dir, "a-directory");
    await mkdir(isDir);
    await expect(updateKubeconfigFile(isDir, add("member"))).rejects.toThrow(/cannot read kubeconfig .*a-directory: it is a directory/);
    await expect(updateKubeconfigFile(join(path, "config"), add("member"))).rejects.toThrow(/cannot create the directory for kubeconfig .*broken\/config/);
  });
});
