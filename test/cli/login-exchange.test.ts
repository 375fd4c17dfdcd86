/**
 * CI without stored secrets, as a job runs it: the job's ID token (from the real
 * oidc-provider, standing in for GitHub Actions) piped into `kubegate login --exchange`,
 * then whoami, a kubeconfig and plain kubectl, allowed by a grant to the mapped group.
 * Refused tokens leave no session; the token never goes on the command line.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { clusterRoleBinding } from "../support/fake-apiserver/index.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { startIdp, type TestIdp } from "../support/idp.ts";
import { audienceClient, CI_SCOPE, idTokenFor } from "../support/idp-tokens.ts";
import { clientEnv, hasFile, KUBECTL, requireProgram, run } from "../support/programs.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");

describe.runIf(enabled)("kubegate login --exchange", () => {
  let dir: string;
  let idp: TestIdp;
  let gw: TestGateway;
  let ci: CliUser;
  let caFile: string;
  let server: string;
  const token = (account: string) => idTokenFor(idp, account, { clientId: "kubegate" });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubegate-ci-"));
    idp = await startIdp({
      accounts: {
        deploy: { repository: "my-org/app", repository_owner: "my-org", ref: "refs/heads/main", environment: "prod" },
        foreign: { repository: "evil/app", repository_owner: "evil", ref: "refs/heads/main", environment: "prod" },
      },
      clients: [audienceClient("kubegate")],
      scopes: CI_SCOPE,
    });
    const config = join(dir, "token-exchange.yaml");
    await writeFile(
      config,
      `issuers:
  - issuer: ${idp.issuer}
    audience: kubegate
    subject: "ci:github:{repository}:{environment}"
    groups: ["ci:github:{repository_owner}", "ci"]
    claims:
      repository_owner: my-org
    ttl: 1h
`,
    );
    gw = await startTestGateway({ flags: { "token-exchange-config": config } });
    // The grant names the group the exchange maps to; the member binds the impersonated group.
    const grant = (await gw.admin.grants.createGrant({ cluster: "member", subject: { kind: SubjectKind.GROUP, name: "ci:github:my-org" }, role: Role.VIEW })).grant!;
    gw.fake.seed(clusterRoleBinding("kubegate-ci-view", "view", [{ kind: "Group", name: "kubegate:ci:github:my-org" }]));
    await gw.until(() => gw.kubegate.data!.view.grants.has(grant.id));
    ci = await cliUser();
    caFile = join(ci.home, "ca.crt");
    await writeFile(caFile, gw.caPem);
    server = gw.kubegate.control!.url;
  });
  afterAll(async () => {
    await gw?.close();
    await idp?.close();
    await ci?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it("trades the ID token on stdin for a session, and kubectl works through the group's grant", async () => {
    const login = await ci.run(["login", "--server", server, "--ca-file", caFile, "--exchange"], await token("deploy"));
    expect(login.stderr).toMatch(/^exchanged the CI token for API key ak-[0-9a-f]+ \(ci:github:my-org\/app:prod\), valid until \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    expect(login.code).toBe(0);
    expect(login.stdout).toMatch(/^logged in to https:\/\/127\.0\.0\.1:\d+ as ci:github:my-org\/app:prod; saved to /);

    const who = JSON.parse((await ci.run(["whoami", "-o", "json"])).stdout) as Record<string, unknown>;
    expect(who).toMatchObject({ subject: "ci:github:my-org/app:prod", groups: ["ci:github:my-org", "ci"], admin: false, authenticatedBy: "api-key" });

    const kubeconfig = join(ci.home, "kubeconfig");
    const add = await ci.run(["kubeconfig", "add", "--cluster", "member", "--embed-token", "--kubeconfig", kubeconfig]);
    expect(add.code).toBe(0);
    const pods = await run(KUBECTL, ["--context", "kubegate-member", "get", "pods", "-n", "default", "-o", "name"], clientEnv(kubeconfig, ci.home));
    expect(pods.stderr).toBe("");
    expect(pods.stdout).toContain("pod/fake-pod");
    const seen = gw.fake.requests.find((r) => r.impersonatedUser?.name === "kubegate:ci:github:my-org/app:prod");
    expect(seen?.impersonatedUser?.groups).toContain("kubegate:ci:github:my-org");
  });

  it("reads the token from --token-file and takes --ttl", async () => {
    const file = join(ci.home, "id-token");
    await writeFile(file, `${await token("deploy")}\n`, { mode: 0o600 });
    const login = await ci.run(["login", "--server", server, "--ca-file", caFile, "--exchange", "--token-file", file, "--ttl", "10m", "-o", "json"]);
    expect(login.code).toBe(0);
    expect(JSON.parse(login.stdout)).toMatchObject({ subject: "ci:github:my-org/app:prod", authenticatedBy: "api-key" });
    const until = Date.parse(/valid until (\S+)/.exec(login.stderr)![1]!);
    expect(until - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    expect(until - Date.now()).toBeGreaterThan(9 * 60_000);
  });

  it("a refused token saves no session and says why; misuse is a usage error", async () => {
    const other = await cliUser();
    try {
      const refused = await other.run(["login", "--server", server, "--ca-file", caFile, "--exchange"], await token("foreign"));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`error: token exchange failed: the subject token's claim "repository_owner" is not one this kubegate accepts from ${idp.issuer}\n`);
      expect((await other.run(["whoami"])).stderr).toMatch(/not logged in/);
      const empty = await other.run(["login", "--server", server, "--ca-file", caFile, "--exchange"], "");
      expect(empty.code).toBe(2);
      expect(empty.stderr).toBe("error: kubegate login --exchange: no ID token in stdin\n");
      const stray = await other.run(["login", "--server", server, "--ttl", "5m"], "kgk_x");
      expect(stray.code).toBe(2);
      expect(stray.stderr).toBe("error: kubegate login: --token-file and --ttl go with --exchange\n");
      expect((await other.run(["login", "--help"])).stdout).toContain("kubegate login --server URL --exchange [--token-file FILE] [--ttl 30m]");
    } finally {
      await other.cleanup();
    }
  });
});
