/**
 * The exec credential plugin: prints a client.authentication.k8s.io/v1 ExecCredential,
 * caches the token on disk (0600) until shortly before expiry, and explains refusals in
 * words a person can act on.
 */
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

let gw: TestGateway;
let alice: CliUser;
beforeAll(async () => {
  gw = await startTestGateway({ flags: { "token-ttl": "6s" } });
  const u = await gw.user("alice", { role: "view" });
  alice = await cliUser();
  const caFile = join(alice.home, "ca.crt");
  await writeFile(caFile, gw.caPem);
  await alice.login(gw.kubegate.control!.url, caFile, u.key);
});
afterAll(async () => {
  await gw.close();
  await alice.cleanup();
});

it("prints an ExecCredential and serves repeats from a 0600 cache until near expiry", async () => {
  const first = await alice.run(["kube-token", "--cluster", "member"]);
  expect(first.stderr).toBe("");
  const cred = JSON.parse(first.stdout);
  expect(cred).toMatchObject({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { token: expect.any(String) as unknown } });
  const claims = decodeJwt(cred.status.token);
  expect(claims).toMatchObject({ sub: "alice", aud: "member" });
  expect(Date.parse(cred.status.expirationTimestamp)).toBe((claims.exp ?? 0) * 1000);

  const dir = join(alice.home, ".cache", "kubegate", "tokens");
  const [file] = await readdir(dir);
  expect((await stat(join(dir, file!))).mode & 0o777).toBe(0o600);

  const started = Date.now();
  const second = await alice.run(["kube-token", "--cluster", "member"]);
  console.log(`kube-token with a warm cache: ${Date.now() - started} ms (process spawn included)`);
  expect(JSON.parse(second.stdout).status.token).toBe(cred.status.token);

  // A 6 s token is renewed once less than a third of its life is left.
  await new Promise((r) => setTimeout(r, 4200));
  const third = JSON.parse((await alice.run(["kube-token", "--cluster", "member"])).stdout);
  expect(third.status.token).not.toBe(cred.status.token);
});

it("explains refusals: no grant, unknown cluster, grant still being applied", async () => {
  await gw.admin.clusters.registerCluster({ name: "other", mode: { case: "agent", value: {} } });
  const noGrant = await alice.run(["kube-token", "--cluster", "other"]);
  expect(noGrant.code).toBe(1);
  expect(noGrant.stdout).toBe("");
  expect(noGrant.stderr).toBe('error: you do not have access to cluster "other": ask an admin for a grant\n');
  expect((await alice.run(["kube-token", "--cluster", "nope"])).stderr).toBe('error: cluster "nope" not found\n');
  expect((await alice.run(["kube-token"])).code).toBe(2);

  await gw.admin.clusters.registerCluster({ name: "managed", manageRbac: true, mode: { case: "agent", value: {} } });
  await gw.admin.grants.createGrant({ cluster: "managed", subject: { kind: SubjectKind.USER, name: "alice" }, role: Role.VIEW });
  const pending = await alice.run(["kube-token", "--cluster", "managed"]);
  expect(pending.code).toBe(1);
  expect(pending.stderr).toBe("error: your grant on managed is still being applied; try again in a few seconds\n");
});

it("logout forgets the key and the cached tokens", async () => {
  expect((await alice.run(["logout"])).stdout).toBe("logged out\n");
  await expect(readdir(join(alice.home, ".cache", "kubegate"))).rejects.toThrow();
  expect((await alice.run(["kube-token", "--cluster", "member"])).stderr).toMatch(/not logged in/);
});
