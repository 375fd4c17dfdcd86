/**
 * Revocation cuts live streams: revoking a grant, a subject or a token ends a running
 * `kubectl get -w`, a `logs -f` and an exec within a second; a grant reaching its expiry
 * does the same; a token that merely expires mid-stream does not.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, stream, type Streaming } from "../support/programs.ts";
import { clusterRoleBinding } from "../support/fake-apiserver/index.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");

let gw: TestGateway;
let home: string;
beforeAll(async () => {
  // Something to list, so a watch prints a first line as soon as it is streaming.
  gw = await startTestGateway({ fake: { objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "seed", namespace: "default" }, data: { a: "1" } }] } });
  home = await mkdtemp(join(tmpdir(), "kubegate-revoke-home-"));
});
afterAll(async () => {
  await gw.close();
  await rm(home, { recursive: true, force: true });
});

/** Starts kubectl and waits until it is streaming (first output line). */
async function streaming(kubeconfig: string, args: string[]): Promise<Streaming> {
  const s = stream(KUBECTL, args, clientEnv(kubeconfig, home));
  await s.waitFor((lines) => lines.length > 0);
  return s;
}

/** Milliseconds from `action` returning until the stream's kubectl exits. */
async function cutAfter(s: Streaming, action: () => Promise<unknown>): Promise<number> {
  await action();
  const started = Date.now();
  const guard = setTimeout(() => void s.stop(), 10_000);
  await s.exited;
  clearTimeout(guard);
  return Date.now() - started;
}

it.runIf(enabled)("revoking a grant cuts get -w, logs -f and exec within a second", async () => {
  const u = await gw.user("rita", { role: "edit" });
  const kc = await u.kubeconfig({ namespace: "default" });
  const watch = await streaming(kc, ["get", "configmaps", "-w"]);
  const logs = await streaming(kc, ["logs", "-f", "fake-pod"]);
  // An interactive exec: stdin stays open, cat echoes, so the session lives until cut.
  const exec = stream(KUBECTL, ["exec", "-i", "fake-pod", "--", "cat"], clientEnv(kc, home), { stdin: true });
  exec.child.stdin?.write("ping\n");
  await exec.waitFor((lines) => lines.includes("ping"));
  await gw.until(() => gw.kubegate.data!.sessions.count() >= 3);

  const started = Date.now();
  await gw.admin.grants.revokeGrant({ id: u.grantId, reason: "test" });
  await Promise.all([watch.exited, logs.exited, exec.exited]);
  const elapsed = Date.now() - started;
  console.log(`grant revocation cut watch, logs -f and exec in ${elapsed} ms`);
  expect(elapsed).toBeLessThan(1000);
  expect(gw.logs.some((l) => l["audit"] === "session.end" && String(l["reason"] ?? "").length > 0)).toBe(true);
  // And the next call is refused with a clear message.
  const again = stream(KUBECTL, ["get", "configmaps"], clientEnv(kc, home));
  await again.exited;
  expect(again.stderr()).toContain("has been revoked");
});

it.runIf(enabled)("revoking the subject or the token cuts the watch too", async () => {
  const s = await gw.user("sam", { role: "view" });
  const w1 = await streaming(await s.kubeconfig(), ["get", "configmaps", "-w", "-A"]);
  expect(await cutAfter(w1, () => gw.admin.grants.revokeSubject({ subject: { kind: SubjectKind.USER, name: "sam" } }))).toBeLessThan(1000);

  const t = await gw.user("tom", { role: "view" });
  const kc = await t.kubeconfig();
  const w2 = await streaming(kc, ["get", "configmaps", "-w", "-A"]);
  const token = /token: (\S+)/.exec(await import("node:fs/promises").then((fs) => fs.readFile(kc, "utf8")))![1]!;
  expect(await cutAfter(w2, () => t.clients.tokens.revokeToken({ target: { case: "token", value: token } }))).toBeLessThan(1000);
});

it.runIf(enabled)("a grant reaching its expiry cuts the stream; an expiring token does not", async () => {
  const key = (await gw.admin.identity.createApiKey({ name: "eve", subject: "eve" })).secret;
  gw.fake.seed(clusterRoleBinding("kubegate-eve", "view", [{ kind: "User", name: "kubegate:eve" }]));
  const expiresAt = new Date(Date.now() + 2500);
  const grant = (
    await gw.admin.grants.createGrant({ cluster: "member", subject: { kind: SubjectKind.USER, name: "eve" }, role: Role.VIEW, expireTime: timestampFromDate(expiresAt) })
  ).grant!;
  await gw.until(() => gw.kubegate.data!.view.grants.has(grant.id));
  const { KubeconfigMode } = await import("../../gen/kubegate/v1/token_pb.ts");
  const { createKubegateClients } = await import("../../src/client/clients.ts");
  const eve = createKubegateClients({ baseUrl: gw.kubegate.control!.url, caPem: gw.caPem, credential: key });
  const kc = join(home, "eve.yaml");
  await (await import("node:fs/promises")).writeFile(kc, (await eve.tokens.mintKubeconfig({ clusters: ["member"], mode: KubeconfigMode.EMBEDDED_TOKEN })).kubeconfig);
  const w = await streaming(kc, ["get", "configmaps", "-w", "-A"]);
  await w.exited;
  const lateBy = Date.now() - expiresAt.getTime();
  console.log(`grant expiry cut the watch ${lateBy} ms after expire_time`);
  expect(lateBy).toBeGreaterThan(-100);
  expect(lateBy).toBeLessThan(1000);

  // A 2 s token outlives its own expiry inside a running watch (the default).
  const u = await gw.user("uma", { role: "view" });
  const short = await u.kubeconfig({ ttlMs: 2000 });
  const w2 = await streaming(short, ["get", "configmaps", "-w", "-A"]);
  await new Promise((r) => setTimeout(r, 8000));
  expect(w2.child.exitCode).toBeNull();
  await w2.stop();
}, 30_000);
