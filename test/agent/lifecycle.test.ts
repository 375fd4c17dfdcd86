/**
 * The agent as people run it, `kubegate agent` in its own process: killed mid-watch, the
 * watch fails at once instead of hanging, the cluster turns OFFLINE, requests get a 503
 * that names the cluster; started again with the same state directory (its stored
 * credential; the bootstrap token is spent), it is READY within seconds and kubectl works
 * again, with no gateway restart. Whatever was in flight when the tunnel dropped (a
 * watch, logs -f, exec) ends with an error at once rather than hanging.
 */
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ClusterPhase, type ClusterStatus } from "../../gen/kubegate/v1/cluster_pb.ts";
import { KUBEGATE_VERSION } from "../../src/version.ts";
import { MEMBER, startTestGateway, type TestGateway, type TestUser } from "../support/gateway.ts";
import { startKubegate, type KubegateProcess } from "../support/kubegate-process.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, run, stream, type Streaming } from "../support/programs.ts";
import { http2Connect, http2Request, rawRequest } from "../support/raw-client.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");
const CONFIGMAPS = `/clusters/${MEMBER}/api/v1/namespaces/default/configmaps`;

/** The promise's value, or "hung" if it takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "hung"> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.runIf(enabled)("kubegate agent as a process: killed and started again", () => {
  let gw: TestGateway;
  let alice: TestUser;
  let kubeconfig: string;
  let home: string;
  let agentArgs: string[];
  let agent: KubegateProcess | undefined;
  const streams: Streaming[] = [];
  const kubectl = (args: string[], input?: string) => run(KUBECTL, args, clientEnv(kubeconfig, home), input);

  beforeAll(async () => {
    gw = await startTestGateway({ mode: "agent", startAgent: false });
    alice = await gw.user("alice", { role: "edit" });
    kubeconfig = await alice.kubeconfig({ namespace: "default" });
    home = await mkdtemp(join(tmpdir(), "kubegate-agent-life-"));
    const caFile = join(home, "gateway-ca.pem");
    const tokenFile = join(home, "bootstrap-token");
    await writeFile(caFile, gw.caPem);
    await writeFile(tokenFile, `${gw.bootstrapToken}\n`, { mode: 0o600 });
    agentArgs = [
      "agent",
      "--gateway",
      gw.dataUrl,
      "--gateway-ca-file",
      caFile,
      "--cluster",
      MEMBER,
      "--bootstrap-token-file",
      tokenFile,
      "--state-dir",
      join(home, "agent-state"),
      // The agent reaches the fake as the gateway identity: a token allowed to impersonate.
      "--kubeconfig",
      await gw.fake.kubeconfig({ token: gw.fake.gatewayToken! }, "agent-process-kubeconfig.json"),
    ];
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) await s.stop();
  });
  afterAll(async () => {
    await agent?.stop("SIGKILL");
    await gw?.close();
    await rm(home, { recursive: true, force: true });
  });

  const status = async (): Promise<ClusterStatus> => (await gw.admin.clusters.getCluster({ name: MEMBER })).cluster!.status!;

  /** Polls GetCluster until its phase is `phase`; answers the status and how long it took. */
  async function waitForPhase(phase: ClusterPhase, timeoutMs: number, since = performance.now()): Promise<{ status: ClusterStatus; ms: number }> {
    for (;;) {
      const s = await status();
      if (s.phase === phase) return { status: s, ms: performance.now() - since };
      if (performance.now() - since > timeoutMs)
        throw new Error(`cluster still ${ClusterPhase[s.phase]} (${s.message}) after ${timeoutMs} ms, waiting for ${ClusterPhase[phase]}; agent stderr:\n${agent?.stderr()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Starts `kubegate agent`; resolves once the control plane reports the cluster READY. */
  async function startAgentProcess(): Promise<{ status: ClusterStatus; ms: number }> {
    const since = performance.now();
    agent = startKubegate(agentArgs);
    return waitForPhase(ClusterPhase.READY, 15_000, since);
  }

  /** SIGKILLs the agent: no goodbye on the tunnel, the kernel just closes its socket. */
  async function killAgent(): Promise<number> {
    const killedAt = performance.now();
    await agent!.stop("SIGKILL");
    agent = undefined;
    return killedAt;
  }

  it("kill mid-watch: the watch fails, OFFLINE and a 503 naming the cluster; restart: READY and kubectl works, gateway untouched", async () => {
    const first = await startAgentProcess();
    // READY carries what the agent saw of its member and what it is.
    expect(first.status.kubernetesVersion).toBe("v1.32.0-fake");
    expect(first.status.agentVersion).toBe(KUBEGATE_VERSION);
    expect(first.status.lastSeenTime).toBeDefined();
    const firstSeen = timestampDate(first.status.lastSeenTime!).getTime();
    expect(Math.abs(Date.now() - firstSeen)).toBeLessThan(15_000);
    expect(gw.kubegate.data!.tunnels.count(MEMBER)).toBe(1);

    expect((await kubectl(["create", "configmap", "before-kill", "--from-literal=v=1"])).code).toBe(0);
    const watch = stream(KUBECTL, ["get", "configmaps", "-w"], clientEnv(kubeconfig, home));
    streams.push(watch);
    await watch.waitFor((lines) => lines.some((l) => l.startsWith("before-kill")));
    // That line came from the LIST; an event proves the watch's own stream is flowing.
    expect((await kubectl(["create", "configmap", "watched-live", "--from-literal=v=1"])).code).toBe(0);
    await watch.waitFor((lines) => lines.some((l) => l.startsWith("watched-live")));

    const killedAt = await killAgent();
    const watchCode = await within(watch.exited, 10_000);
    const watchEndMs = performance.now() - killedAt;
    expect(watchCode, `kubectl get -w still running 10 s after the agent died; stdout:\n${watch.lines.join("\n")}`).not.toBe("hung");
    // The stream was reset, not ended: kubectl prints the broken stream as a failure row
    // (and then exits 0, as kubectl get -w does whenever its watch closes).
    expect(watch.lines.at(-1)).toMatch(/^Failure\s+InternalError\s+.*unable to decode an event from the watch stream: stream error: .*INTERNAL_ERROR/);

    const offline = await waitForPhase(ClusterPhase.OFFLINE, 10_000, killedAt);
    expect(offline.status.message).toMatch(/agent is not connected/);
    // Last seen stays what it was while READY: the agent has not been seen since.
    expect(timestampDate(offline.status.lastSeenTime!).getTime()).toBeGreaterThanOrEqual(firstSeen);
    expect(gw.kubegate.data!.tunnels.count(MEMBER)).toBe(0);

    const refused = await rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: CONFIGMAPS, headers: { authorization: `Bearer ${await alice.token()}` } });
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ kind: "Status", code: 503, reason: "ServiceUnavailable" });
    expect(refused.json?.["message"]).toContain(`"${MEMBER}"`);
    expect(refused.json?.["message"]).toMatch(/agent is not connected/);
    const offlineGet = await kubectl(["get", "configmaps"]);
    expect(offlineGet.code).not.toBe(0);
    expect(offlineGet.stderr).toContain(`cluster "${MEMBER}" is in agent mode and its agent is not connected`);

    // Same state directory: the stored credential, not the spent bootstrap token.
    const again = await startAgentProcess();
    expect(again.status.kubernetesVersion).toBe("v1.32.0-fake");
    expect(again.status.agentVersion).toBe(KUBEGATE_VERSION);
    expect(timestampDate(again.status.lastSeenTime!).getTime()).toBeGreaterThan(firstSeen);
    expect(agent!.stderr()).not.toMatch(/enrolled with the bootstrap token/);
    expect(gw.kubegate.data!.tunnels.count(MEMBER)).toBe(1);

    const got = await kubectl(["get", "configmaps", "-o", "name"]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toContain("configmap/before-kill");
    const rewatch = stream(KUBECTL, ["get", "configmaps", "-w", "--no-headers", "-o", "custom-columns=NAME:.metadata.name"], clientEnv(kubeconfig, home));
    streams.push(rewatch);
    await rewatch.waitFor((lines) => lines.some((l) => l.startsWith("before-kill")));
    expect((await kubectl(["create", "configmap", "after-restart", "--from-literal=v=2"])).code).toBe(0);
    await rewatch.waitFor((lines) => lines.includes("after-restart"));

    console.log(
      `agent process: first READY ${Math.round(first.ms)} ms after spawn; SIGKILL → kubectl -w exited (${watchCode}) in ${Math.round(watchEndMs)} ms, ` +
        `→ OFFLINE in ${Math.round(offline.ms)} ms; restart → READY in ${Math.round(again.ms)} ms`,
    );
    expect(watchEndMs).toBeLessThan(5_000);
    expect(offline.ms).toBeLessThan(5_000);
    expect(again.ms).toBeLessThan(10_000);
  });

  it("in-flight watch, logs -f and exec end with an error when the tunnel drops; new requests succeed as soon as the agent is back", async () => {
    if (agent === undefined) await startAgentProcess();
    const auth = { authorization: `Bearer ${await alice.token()}` };
    expect((await kubectl(["create", "configmap", "in-flight", "--from-literal=v=1"])).code).toBe(0);

    // A raw HTTP/2 watch, on a client session that must outlive the tunnel.
    const session = await http2Connect(gw.dataUrl, gw.caPem);
    try {
      const watch = session.request({ ":path": `${CONFIGMAPS}?watch=1`, ...auth });
      let body = "";
      let cleanEnd = false;
      watch.setEncoding("utf8");
      watch.on("data", (t: string) => (body += t));
      watch.on("end", () => (cleanEnd = watch.rstCode === undefined || watch.rstCode === http2.constants.NGHTTP2_NO_ERROR));
      const watchError = new Promise<Error | undefined>((r) => {
        watch.on("error", r);
        watch.on("close", () => r(undefined));
      });
      await until(() => body.includes('"in-flight"'), "the raw watch's first events", 5_000);

      const logs = stream(KUBECTL, ["logs", "-f", "fake-pod"], clientEnv(kubeconfig, home));
      streams.push(logs);
      const seen = await logs.waitFor((lines) => lines.length >= 2);
      await logs.waitFor((lines) => lines.length > seen.length); // following, not just the first read
      const exec = stream(KUBECTL, ["exec", "-i", "fake-pod", "--", "cat"], clientEnv(kubeconfig, home), { stdin: true });
      streams.push(exec);
      exec.child.stdin!.write("echo through the tunnel\n");
      await exec.waitFor((lines) => lines.includes("echo through the tunnel"));

      const killedAt = await killAgent();
      const [watchErr, logsCode, execCode] = await Promise.all([within(watchError, 5_000), within(logs.exited, 5_000), within(exec.exited, 5_000)]);
      const endedMs = performance.now() - killedAt;
      // Each ended with an error, promptly, and none of them as if it had completed.
      expect(watchErr).toBeInstanceOf(Error);
      expect(cleanEnd).toBe(false);
      expect(watch.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
      expect(logsCode).toBe(1);
      expect(logs.stderr()).toMatch(/^error: stream error: .*INTERNAL_ERROR/m);
      expect(execCode).toBe(1);
      expect(exec.stderr()).toMatch(/^error: .*abnormal closure/m);
      expect(endedMs).toBeLessThan(5_000);

      expect(gw.kubegate.data!.tunnels.count(MEMBER)).toBe(0);

      // Back: the first request after the tunnel is up succeeds, on the same client session.
      const restartedAt = performance.now();
      agent = startKubegate(agentArgs);
      await until(() => gw.kubegate.data!.tunnels.count(MEMBER) === 1, "the agent's tunnel", 15_000);
      const upMs = performance.now() - restartedAt;
      const res = await http2Request(gw.dataUrl, gw.caPem, { path: CONFIGMAPS, headers: auth }, session);
      expect(res.status, res.body).toBe(200);
      expect(JSON.stringify(res.json)).toContain('"in-flight"');
      const logsAgain = await kubectl(["logs", "fake-pod"]);
      expect(logsAgain.code, logsAgain.stderr).toBe(0);
      expect(logsAgain.stdout).toContain("log line 1 from fake-pod/");
      console.log(`tunnel drop: watch, logs -f and exec all ended ${Math.round(endedMs)} ms after SIGKILL; restarted agent's tunnel up in ${Math.round(upMs)} ms, first request 200`);
    } finally {
      session.destroy();
    }
  });

  it("SIGTERM stops the agent at once, watches in flight and all: exit 0, OFFLINE", async () => {
    if (agent === undefined) await startAgentProcess();
    const watch = stream(KUBECTL, ["get", "configmaps", "-w"], clientEnv(kubeconfig, home));
    streams.push(watch);
    const logs = stream(KUBECTL, ["logs", "-f", "fake-pod"], clientEnv(kubeconfig, home));
    streams.push(logs);
    await logs.waitFor((lines) => lines.length >= 2);
    expect((await kubectl(["create", "configmap", "before-term", "--from-literal=v=1"])).code).toBe(0);
    await watch.waitFor((lines) => lines.some((l) => l.startsWith("before-term")));

    const stoppedAt = performance.now();
    const running = agent!;
    // 'close' comes after the last of its stderr has been read; 'exit' may come before.
    const closed = once(running.child, "close");
    const code = await within(running.stop("SIGTERM"), 10_000);
    const exitMs = performance.now() - stoppedAt;
    agent = code === "hung" ? running : undefined;
    expect(code, `the agent did not exit within 10 s of SIGTERM; stderr:\n${running.stderr()}`).toBe(0);
    await closed;
    expect(running.stderr()).toMatch(/"agent stopped"/);
    const offline = await waitForPhase(ClusterPhase.OFFLINE, 5_000, stoppedAt);
    const [watchCode, logsCode] = await Promise.all([within(watch.exited, 5_000), within(logs.exited, 5_000)]);
    expect(watchCode).not.toBe("hung");
    expect(logsCode).not.toBe("hung");
    console.log(`SIGTERM: agent exited in ${Math.round(exitMs)} ms, OFFLINE in ${Math.round(offline.ms)} ms`);
  });
});
