/**
 * Direct clusters get a real status from the data plane's health probe (GET /version as the
 * gateway itself): READY with the member's version within moments of registration, OFFLINE
 * with words a person can act on when the member is stopped, hangs, refuses kubegate's
 * credential (a token, or a client or front-proxy certificate it cannot verify) or presents
 * a certificate the cluster's CA did not sign, and READY again once
 * an UpdateCluster points it at a member that answers. The probe carries no user's identity,
 * and an unchanged status costs no write.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterPhase, IdentityMode, type ClusterStatus } from "../../gen/kubegate/v1/cluster_pb.ts";
import { ConfigError, resolveServeConfig } from "../../src/config/serve-config.ts";
import { createCa, issueClientCert, type KeyPair } from "../../src/tls/pki.ts";
import { cliUser, type CliUser } from "../support/cli.ts";
import { startFakeApiserver, type FakeApiserver } from "../support/fake-apiserver/index.ts";
import { MEMBER, startTestGateway, type TestGateway } from "../support/gateway.ts";
import { FRONT_PROXY_CLIENT, GATEWAY_USER } from "../support/kube-apiserver.ts";

const VERSION = { major: "1", minor: "31", gitVersion: "v1.31.4-fake-probed" };
const DAY_MS = 24 * 60 * 60 * 1000;
let gw: TestGateway;
const others: FakeApiserver[] = [];

beforeAll(async () => {
  gw = await startTestGateway({ fake: { version: VERSION }, flags: { "member-probe-interval": "200ms" } });
});

afterAll(async () => {
  await gw?.close();
  for (const f of others) await f.close();
});

const statusOf = async (name: string) => (await gw.admin.clusters.getCluster({ name })).cluster!.status!;

/** Polls the control plane until the cluster's status has `phase` and a message matching `message`. */
async function becomes(name: string, phase: ClusterPhase, message: RegExp | string, timeoutMs = 5_000): Promise<ClusterStatus> {
  const since = Date.now();
  for (;;) {
    const s = await statusOf(name);
    if (s.phase === phase && (typeof message === "string" ? s.message === message : message.test(s.message))) {
      console.log(`${name}: ${ClusterPhase[phase]} after ${Date.now() - since} ms: ${s.message}`);
      return s;
    }
    if (Date.now() - since > timeoutMs) throw new Error(`${name} stayed ${ClusterPhase[s.phase]} (${s.message}), not ${ClusterPhase[phase]} ${message}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const direct = (f: FakeApiserver, token = f.gatewayToken!) => ({ serverUrl: f.url, caPem: f.caPem, credential: { kind: { case: "bearerToken" as const, value: token } } });

describe("the health probe of a direct cluster", () => {
  it("marks it READY with the member's version, as the gateway and no user, and writes nothing while nothing changes", async () => {
    const ready = await becomes(MEMBER, ClusterPhase.READY, "reached from 1 of 1 data plane", 2_000);
    expect(ready.kubernetesVersion).toBe("v1.31.4-fake-probed");
    expect(ready.lastSeenTime).toBeDefined();

    const probes = gw.fake.requests.filter((r) => r.path === "/version");
    expect(probes.length).toBeGreaterThan(0);
    for (const r of probes) {
      expect(r.user?.name).toBe("kubegate-gateway");
      expect(r.impersonatedUser).toBeUndefined();
      expect(Object.keys(r.headers).filter((h) => h.startsWith("impersonate-") || h.startsWith("x-remote-"))).toEqual([]);
      expect(r.headers["user-agent"]).toBe("kubegate-health-probe");
    }
    // Probes go on every 200 ms; an unchanged answer is neither reported nor written.
    const revision = gw.kubegate.data!.view.revision;
    const count = probes.length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(gw.fake.requests.filter((r) => r.path === "/version").length).toBeGreaterThanOrEqual(count + 4);
    expect(gw.kubegate.data!.view.revision).toBe(revision);
    expect((await statusOf(MEMBER)).lastSeenTime).toEqual(ready.lastSeenTime);
  });

  it("shows in `kubegate cluster list` as Ready with the version", async () => {
    const admin: CliUser = await cliUser();
    try {
      const caFile = join(admin.home, "ca.crt");
      await writeFile(caFile, gw.caPem);
      expect((await admin.login(gw.kubegate.control!.url, caFile, gw.kubegate.control!.bootstrapAdminKey!)).code).toBe(0);
      const list = await admin.run(["cluster", "list"]);
      expect(list.stdout).toMatch(/\nmember\s+direct\s+impersonate\s+Ready\s+v1\.31\.4-fake-probed\s/);
    } finally {
      await admin.cleanup();
    }
  });

  it("follows a member that stops, comes back elsewhere, refuses the credential, or shows a certificate of another CA", async () => {
    const first = await startFakeApiserver({ gateway: true, version: { major: "1", minor: "30", gitVersion: "v1.30.9-first" } });
    others.push(first);
    await gw.admin.clusters.registerCluster({ name: "moving", mode: { case: "direct", value: direct(first) } });
    expect((await becomes("moving", ClusterPhase.READY, /^reached from/, 2_000)).kubernetesVersion).toBe("v1.30.9-first");

    const url = first.url;
    await first.close();
    const down = await becomes("moving", ClusterPhase.OFFLINE, `cannot reach ${url}: ECONNREFUSED (nothing accepts connections there)`, 3_000);
    // The last version seen stays on show.
    expect(down.kubernetesVersion).toBe("v1.30.9-first");

    const second = await startFakeApiserver({ gateway: true, version: { major: "1", minor: "32", gitVersion: "v1.32.2-second" } });
    others.push(second);
    const update = (fields: string[], value: ReturnType<typeof direct>) =>
      gw.admin.clusters.updateCluster({ name: "moving", ...value, updateMask: { paths: fields } });
    await update(["server_url", "ca_pem", "credential"], direct(second));
    expect((await becomes("moving", ClusterPhase.READY, /^reached from/, 2_000)).kubernetesVersion).toBe("v1.32.2-second");

    await update(["credential"], direct(second, "not-the-gateway-token"));
    await becomes("moving", ClusterPhase.OFFLINE, "the API server refused kubegate's credential (401)", 2_000);
    await update(["credential"], direct(second));
    await becomes("moving", ClusterPhase.READY, /^reached from/, 2_000);

    // `first` is gone, but its CA is still not the one that signed `second`'s certificate.
    await update(["ca_pem"], { ...direct(second), caPem: first.caPem });
    await becomes("moving", ClusterPhase.OFFLINE, /^the API server's certificate is not signed by the cluster's CA \([A-Z_]+\)$/, 2_000);
    await update(["ca_pem"], direct(second));
    await becomes("moving", ClusterPhase.READY, /^reached from/, 2_000);

    second.hooks.fail(503, { path: "/version", times: Infinity });
    await becomes("moving", ClusterPhase.OFFLINE, /^the API server answered GET \/version with HTTP 503/, 2_000);
    second.hooks.clear();
    await becomes("moving", ClusterPhase.READY, /^reached from/, 2_000);

    // An API server that accepts the connection and never answers: the probe's 5 s deadline.
    second.hooks.delay(60_000, { path: "/version", times: Infinity });
    await becomes("moving", ClusterPhase.OFFLINE, `${second.url} did not answer GET /version within 5 s`, 8_000);
    second.hooks.clear();
    await becomes("moving", ClusterPhase.READY, /^reached from/, 2_000);

    // A deregistered cluster is probed no more.
    await gw.admin.clusters.deregisterCluster({ name: "moving" });
    await gw.until(() => !gw.kubegate.data!.view.clusters.has("moving"));
    await new Promise((r) => setTimeout(r, 300));
    const asked = second.requests.filter((r) => r.path === "/version").length;
    await new Promise((r) => setTimeout(r, 800));
    expect(second.requests.filter((r) => r.path === "/version").length).toBe(asked);
  }, 40_000);

  it("takes a client or front-proxy certificate the member cannot verify for a refused credential, not for READY", async () => {
    // /version is public: only a member that, like kube-apiserver, answers 401 to a certificate
    // it cannot verify tells such a credential apart from a working one.
    const member = await startFakeApiserver({ gateway: true, requestHeader: { allowedNames: [FRONT_PROXY_CLIENT] } });
    others.push(member);
    const stranger = await createCa("not the member's CA");
    const expired = { now: new Date(Date.now() - 3 * DAY_MS), days: 1 };
    const byCert = (kind: "clientCertificate" | "frontProxyCertificate", cert: KeyPair) => ({
      serverUrl: member.url,
      caPem: member.caPem,
      credential: { kind: { case: kind, value: { certPem: cert.certPem, keyPem: cert.keyPem } } },
    });
    for (const [name, kind, identityMode, good, bad] of [
      ["cert-stranger", "clientCertificate", IdentityMode.IMPERSONATE, () => member.issueClientCert(GATEWAY_USER), () => issueClientCert(stranger, GATEWAY_USER)],
      ["cert-expired", "clientCertificate", IdentityMode.IMPERSONATE, () => member.issueClientCert(GATEWAY_USER), () => issueClientCert(member.clientCa, GATEWAY_USER, [], expired)],
      ["front-proxy-stranger", "frontProxyCertificate", IdentityMode.FRONT_PROXY, () => member.issueFrontProxyCert(FRONT_PROXY_CLIENT), () => issueClientCert(stranger, FRONT_PROXY_CLIENT)],
    ] as const) {
      await gw.admin.clusters.registerCluster({ name, mode: { case: "direct", value: byCert(kind, await good()) }, identityMode });
      await becomes(name, ClusterPhase.READY, /^reached from/, 2_000);
      await gw.admin.clusters.updateCluster({ name, ...byCert(kind, await bad()), updateMask: { paths: ["credential"] } });
      await becomes(name, ClusterPhase.OFFLINE, "the API server refused kubegate's credential (401)", 2_000);
      await gw.admin.clusters.deregisterCluster({ name });
    }
  });
});

describe("--member-probe-interval", () => {
  it("refuses a bad value when `kubegate serve` starts, naming the flag", async () => {
    const person = await cliUser();
    try {
      const res = await person.run(["serve", "--member-probe-interval", "50ms"]);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe('kubegate serve: --member-probe-interval (KUBEGATE_MEMBER_PROBE_INTERVAL): must be at least 100ms, not "50ms"\n');
    } finally {
      await person.cleanup();
    }
  });

  it("defaults to 15s, takes a flag or env var, and refuses what is no interval", () => {
    expect(resolveServeConfig({}, {}).memberProbeIntervalMs).toBe(15_000);
    expect(resolveServeConfig({ "member-probe-interval": "2s" }, {}).memberProbeIntervalMs).toBe(2_000);
    expect(resolveServeConfig({}, { KUBEGATE_MEMBER_PROBE_INTERVAL: "1m" }).memberProbeIntervalMs).toBe(60_000);
    expect(() => resolveServeConfig({ "member-probe-interval": "often" }, {})).toThrow(
      new ConfigError('--member-probe-interval (KUBEGATE_MEMBER_PROBE_INTERVAL): "often" is not a duration (examples: 30s, 15m, 1h)'),
    );
    expect(() => resolveServeConfig({ "member-probe-interval": "0s" }, {})).toThrow(
      new ConfigError('--member-probe-interval (KUBEGATE_MEMBER_PROBE_INTERVAL): must be at least 100ms, not "0s"'),
    );
  });
});
