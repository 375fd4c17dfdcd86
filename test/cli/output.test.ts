/**
 * Every command that prints a result takes -o json|yaml and prints the API's own response
 * (secrets shown once included), so scripts read it instead of scraping prose; --help says so.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliUser, type CliUser } from "../support/cli.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

describe("-o json|yaml for scripts", () => {
  let gw: TestGateway;
  let admin: CliUser;
  let caFile: string;
  const json = async (args: string[], input?: string) => {
    const res = await (input === undefined ? admin.run([...args, "-o", "json"]) : admin.run([...args, "-o", "json"], input));
    expect(res.stderr, args.join(" ")).toBe("");
    expect(res.code, args.join(" ")).toBe(0);
    return JSON.parse(res.stdout) as Record<string, unknown>;
  };
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

  it("login and logout", async () => {
    const login = await admin.run(["login", "--server", gw.kubegate.control!.url, "--ca-file", caFile, "-o", "json"], gw.kubegate.control!.bootstrapAdminKey!);
    expect(login.stderr).toBe("");
    expect(JSON.parse(login.stdout)).toMatchObject({ server: gw.kubegate.control!.url, subject: "admin", admin: true, sessionFile: expect.stringContaining("session.json") as unknown });
  });

  it("cluster register --agent gives the one-time bootstrap token and the gateway URL", async () => {
    const registered = await json(["cluster", "register", "edge", "--agent"]);
    expect(registered).toMatchObject({ cluster: { name: "edge", mode: "CLUSTER_MODE_AGENT" }, agentGatewayUrl: gw.dataUrl });
    expect(registered["agentBootstrapToken"]).toMatch(/^kgb_\S+$/);
    const yaml = parse((await admin.run(["cluster", "register", "edge-2", "--agent", "-o", "yaml"])).stdout) as Record<string, unknown>;
    expect(yaml["agentBootstrapToken"]).toMatch(/^kgb_/);
    expect(await json(["cluster", "update", "edge", "--label", "env=dev"])).toMatchObject({ cluster: { name: "edge", labels: { env: "dev" } } });
    expect(await json(["cluster", "remove", "edge-2"])).toEqual({});
  });

  it("grant create and revoke, API key create and revoke", async () => {
    const key = await json(["apikey", "create", "--name", "ci", "--subject", "ci-bot", "--group", "ci"]);
    expect(key["secret"]).toMatch(/^kgk_/);
    const keyId = (key["apiKey"] as { id: string }).id;
    const created = await json(["grant", "create", "--cluster", "member", "--user", "ci-bot", "--role", "view", "--namespace", "ci"]);
    const grant = created["grant"] as { id: string; state: string; namespaces: string[] };
    expect(grant).toMatchObject({ state: "GRANT_STATE_APPLIED", namespaces: ["ci"] });
    expect(await json(["grant", "revoke", grant.id])).toMatchObject({ grant: { id: grant.id, state: "GRANT_STATE_REVOKED" } });
    await admin.run(["grant", "create", "--cluster", "member", "--group", "ci", "--role", "edit"]);
    expect(await json(["grant", "revoke", "--group", "ci"])).toMatchObject({ revokedGrants: 1 });
    expect(await json(["apikey", "revoke", keyId])).toEqual({});
  });

  it("kubeconfig add and remove", async () => {
    await admin.run(["grant", "create", "--cluster", "member", "--user", "admin", "--role", "view"]);
    const added = await json(["kubeconfig", "add", "--cluster", "member", "--use"]);
    expect(added).toEqual({ kubeconfig: admin.kubeconfig, contexts: ["kubegate-member"], currentContext: "kubegate-member" });
    const embedded = await json(["kubeconfig", "add", "--cluster", "member", "--embed-token"]);
    expect(Date.parse(String(embedded["expireTime"]))).toBeGreaterThan(Date.now());
    expect(await json(["kubeconfig", "remove", "--cluster", "member", "--cluster", "nowhere"])).toEqual({
      kubeconfig: admin.kubeconfig,
      removed: ["kubegate-member"],
      missing: ["kubegate-nowhere"],
    });
    const logout = await json(["logout"]);
    expect(logout).toEqual({ loggedOut: true });
  });

  it("--help names -o on every command that prints a result", async () => {
    const usage = async (args: string[]) => (await admin.run([...args, "--help"])).stdout;
    for (const [args, lines] of [
      [["cluster"], ["cluster register", "cluster list", "cluster get", "cluster update", "cluster remove"]],
      [["grant"], ["grant create", "grant list", "grant revoke ID"]],
      [["apikey"], ["apikey create", "apikey list", "apikey revoke"]],
      [["kubeconfig"], ["kubeconfig add", "kubeconfig remove", "kubeconfig list"]],
      [["audit"], ["audit"]],
    ] as const) {
      const text = await usage([...args]);
      for (const line of lines) {
        // The command's usage (which may wrap onto its next lines) mentions -o json|yaml.
        const start = text.lastIndexOf(`kubegate ${line}`);
        expect(start, line).toBeGreaterThanOrEqual(0);
        const next = text.indexOf("\n  kubegate ", start + 1);
        expect(text.slice(start, next === -1 ? undefined : next), line).toContain("-o json|yaml");
      }
    }
    expect(await usage(["login"])).toContain("-o json|yaml");
  });
});
