/**
 * Many concurrent watches through one data plane: resident memory per watch, and how long
 * one change takes to reach every watcher. Upstream: the fake kube-apiserver as a child
 * process (TLS, ALPN h2 and http/1.1), so kubegate carries the watches to it as streams on
 * its pooled HTTP/2 sessions; clients: a few HTTP/2 sessions from this process, many
 * streams each.
 */
import http2 from "node:http2";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { clusterRoleBinding, startFakeApiserver } from "../lib/fake-apiserver.mjs";
import { createUser, registerDirect, startGateway, waitForRoute } from "../lib/gateway.mjs";
import { cpuSeconds, rssKiB } from "../lib/proc.mjs";
import { summarize } from "../lib/stats.mjs";

const NAMESPACE = "bench-watch";
const CLUSTER = "member";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const openFds = (pid) => readdirSync(`/proc/${pid}/fd`).length;

/**
 * Opens one watch on `session`; resolves with { stream, arrivals } once the response
 * headers are in (the fake has subscribed by then). `arrivals(marker)` resolves at the first
 * byte chunk containing `marker`.
 */
export function openWatch(session, path, token, timeoutMs) {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "GET", ":path": path, authorization: `Bearer ${token}`, accept: "application/json" });
    const timer = setTimeout(() => (stream.close(http2.constants.NGHTTP2_CANCEL), reject(new Error("watch not established in time"))), timeoutMs);
    let text = "";
    const waiters = [];
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      const at = performance.now();
      text += chunk;
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (text.includes(waiters[i].marker)) {
          waiters[i].resolve(at);
          waiters.splice(i, 1);
        }
      }
      // Only the newest event matters: keep the tail for a marker split across chunks.
      if (text.length > 4096) text = text.slice(-1024);
    });
    stream.on("error", () => {});
    stream.once("response", (headers) => {
      clearTimeout(timer);
      if (headers[":status"] !== 200) {
        stream.close();
        reject(new Error(`watch answered ${headers[":status"]}`));
        return;
      }
      resolve({
        stream,
        arrival(marker, timeout) {
          return new Promise((res) => {
            const t = setTimeout(() => res(undefined), timeout);
            waiters.push({ marker, resolve: (at) => (clearTimeout(t), res(at)) });
          });
        },
      });
    });
  });
}

export default {
  name: "watches",
  description: "10,000 concurrent watches through one data plane: RSS per watch and event delivery delay p50/p99",
  async run(ctx) {
    const total = ctx.quick ? 1_000 : 10_000;
    const sessions = 10;
    const perSession = total / sessions;
    const batch = 250;

    ctx.log("watches: starting the fake apiserver and kubegate serve (child processes)");
    const dir = await ctx.tempDir("kubegate-bench-watches-");
    const fake = await startFakeApiserver({ stderrFile: join(dir, "fake.log") });
    ctx.defer(fake.stop);
    // One user holds every watch, 1,000 to a session: above the default per-user and
    // per-connection stream caps (1,000 and 250), which this load raises, as an operator would.
    const gw = await startGateway({ "max-streams-per-user": String(total * 2), "data-max-concurrent-streams": String(perSession * 2) });
    ctx.defer(gw.stop);
    await registerDirect(gw, CLUSTER, { serverUrl: fake.url, caPem: fake.caPem, bearer: fake.gatewayToken });
    const user = await createUser(gw, { name: "watcher", cluster: CLUSTER, role: "view" });
    await fake.api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
    await fake.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", clusterRoleBinding("kubegate-watcher", "view", ["kubegate:watcher"]));
    const token = await user.token(60 * 60 * 1000);
    const listPath = `/api/v1/namespaces/${NAMESPACE}/configmaps`;
    await waitForRoute(gw, CLUSTER, listPath, token);
    // A few ordinary requests so the baseline includes warmed-up code, not just a fresh heap.
    for (let i = 0; i < 20; i++) await waitForRoute(gw, CLUSTER, listPath, token);
    await sleep(1000);
    const rssBefore = rssKiB(gw.pid);
    const fdsBefore = openFds(gw.pid);

    ctx.log(`watches: opening ${total} watches over ${sessions} HTTP/2 sessions`);
    const clients = [];
    ctx.defer(() => {
      for (const s of clients) s.destroy();
    });
    for (let i = 0; i < sessions; i++) {
      const session = http2.connect(gw.dataUrl, { ca: gw.caPem, maxSessionMemory: 256 });
      session.on("error", () => {});
      clients.push(session);
    }
    const watchPath = `/clusters/${CLUSTER}${listPath}?watch=1`;
    const watches = [];
    const openStarted = performance.now();
    const openCpu0 = { kubegate: cpuSeconds(gw.pid), fake: cpuSeconds(fake.pid) };
    for (let i = 0; i < total; i += batch) {
      const opened = await Promise.all(
        Array.from({ length: Math.min(batch, total - i) }, (_, j) => openWatch(clients[(i + j) % sessions], watchPath, token, 60_000)),
      );
      watches.push(...opened);
      if (performance.now() - openStarted > 180_000) throw new Error(`only ${watches.length} of ${total} watches opened in 180 s`);
    }
    const openSeconds = (performance.now() - openStarted) / 1000;
    const openCpu = { kubegate: cpuSeconds(gw.pid) - openCpu0.kubegate, fake: cpuSeconds(fake.pid) - openCpu0.fake };
    ctx.log(`watches: ${total} open in ${openSeconds.toFixed(1)} s; letting memory settle`);
    await sleep(2000);
    const rssWith = rssKiB(gw.pid);
    const fdsWith = openFds(gw.pid);

    const rows = [];
    const events = [
      { what: "create (ADDED)", marker: '"type":"ADDED"', send: (stamp) => fake.api("POST", `/api/v1/namespaces/${NAMESPACE}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe" }, data: { sentAt: stamp } }) },
      { what: "update (MODIFIED)", marker: '"type":"MODIFIED"', send: (stamp) => fake.api("PUT", `/api/v1/namespaces/${NAMESPACE}/configmaps/probe`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe" }, data: { sentAt: stamp } }) },
      { what: "update (MODIFIED) again", marker: "second-update", send: (stamp) => fake.api("PUT", `/api/v1/namespaces/${NAMESPACE}/configmaps/probe`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe" }, data: { sentAt: stamp, note: "second-update" } }) },
    ];
    for (const event of events) {
      ctx.log(`watches: ${event.what} → ${total} watchers`);
      const arrivals = watches.map((w) => w.arrival(event.marker, 30_000));
      const cpu0 = cpuSeconds(gw.pid);
      const fakeCpu0 = cpuSeconds(fake.pid);
      const sentAt = performance.now();
      await event.send(String(performance.timeOrigin + sentAt));
      const times = await Promise.all(arrivals);
      const cpu1 = cpuSeconds(gw.pid);
      const fakeCpu1 = cpuSeconds(fake.pid);
      const delivered = times.filter((t) => t !== undefined).map((t) => t - sentAt);
      const lat = summarize(delivered);
      rows.push({
        event: event.what,
        watches: total,
        delivered: delivered.length,
        p50_ms: lat.p50,
        p99_ms: lat.p99,
        max_ms: lat.max,
        kubegate_cpu_s: cpu1 - cpu0,
        fake_cpu_s: fakeCpu1 - fakeCpu0,
      });
      await sleep(500);
    }
    const perWatchKiB = (rssWith - rssBefore) / total;
    for (const row of rows) {
      row.rss_before_MiB = rssBefore / 1024;
      row.rss_with_MiB = rssWith / 1024;
      row["KiB/watch"] = perWatchKiB;
    }
    for (const s of clients) s.destroy();
    return {
      rows,
      notes: [
        `${total} watches (GET …/namespaces/${NAMESPACE}/configmaps?watch=1, one user, view grant) over ${sessions} HTTP/2 sessions × ${perSession} streams from the benchmark process, opened ${batch} at a time in ${openSeconds.toFixed(1)} s ` +
          `(CPU while opening: kubegate ${openCpu.kubegate.toFixed(1)} s = ${((openCpu.kubegate / total) * 1000).toFixed(2)} ms per watch, fake ${openCpu.fake.toFixed(1)} s).`,
        `KiB/watch = (kubegate VmRSS with the watches − before) / ${total} = (${(rssWith / 1024).toFixed(0)} − ${(rssBefore / 1024).toFixed(0)} MiB) / ${total}: ${perWatchKiB.toFixed(1)} KiB — target ≤ 64 KiB: ${perWatchKiB <= 64 ? "met" : "NOT met"}.`,
        `kubegate's open file descriptors went from ${fdsBefore} to ${fdsWith}: the client sessions plus a few upstream HTTP/2 sessions to the member (every watch a stream, up to 1,000 per session; one HTTP/1.1 TLS connection per watch only for a member without h2).`,
        "Delay: from just before the change is sent to the fake's API (as its admin, directly) to the chunk holding the event on each watch's stream in the client; " +
          "it includes the fake's own fan-out to its watchers (fake_cpu_s) and this process as the client. kubegate_cpu_s / watches = kubegate's cost per delivered event.",
        `Target (design): revocations and events within a second; p99 of the first event ${rows[0].p99_ms.toFixed(0)} ms.`,
      ],
    };
  },
};
