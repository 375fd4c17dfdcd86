/**
 * Small GETs against a real kube-apiserver v1.32 (with its etcd), the same object and the
 * same load for every row: through kubegate (direct-mode cluster, impersonating the user),
 * straight to the apiserver with the same impersonated identity (the gateway's token plus
 * the Impersonate-* headers kubegate sends), and through `kubectl proxy` as the admin.
 * The apiserver does the real work here (authentication, impersonation checks, APF, RBAC,
 * an etcd read), so this is the ratio a user sees. Load from h2load; exact p50/p99.
 */
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { clusterRoleBinding } from "../lib/fake-apiserver.mjs";
import { createUser, httpsRequest, registerDirect, startGateway, waitForRoute } from "../lib/gateway.mjs";
import { runH2load } from "../lib/h2load.mjs";
import { startKubectlProxy } from "../lib/kubectl-proxy.mjs";
import { startRealApiserver } from "../lib/kube-apiserver.mjs";
import { startNodeFloor } from "../lib/node-floor.mjs";
import { childPids, cpuSeconds } from "../lib/proc.mjs";
import { writeServingCert } from "../lib/tls-files.mjs";

const CLUSTER = "real";
const USER = "bench-user";
/** kubegate serve's default --impersonation-prefix. */
const PREFIX = "kubegate:";
const OBJECT_PATH = "/api/v1/namespaces/default/configmaps/small";
const SELF_REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
/** kubegate ÷ direct with the same identity, req/s, on each protocol. */
const TARGET_RATIO = 0.85;
/** Set to a directory: kubegate runs under --cpu-prof, and only its HTTP/2 row is run. */
const PROFILE_DIR = process.env["KUBEGATE_BENCH_CPU_PROF"] || undefined;

/** The claims of a kubegate token (its payload, unverified: the suite minted it). */
function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
}

/**
 * The headers kubegate adds for this caller (src/data/headers.ts identityHeaders, and
 * the member credential): user and groups with the prefix, the grant and token ids as extras, an
 * Audit-ID. h2load sends the same Audit-ID on every request; kubegate a fresh one each.
 */
function impersonatedHeaders(gatewayToken, claims, grantId) {
  const headers = { authorization: `Bearer ${gatewayToken}`, "impersonate-user": `${PREFIX}${claims.sub}` };
  if (claims.groups.length > 0) headers["impersonate-group"] = claims.groups.map((g) => `${PREFIX}${g}`);
  headers["impersonate-extra-kubegate.dev%2Fgrant"] = [grantId];
  headers["impersonate-extra-kubegate.dev%2Ftoken-id"] = claims.jti;
  headers["audit-id"] = randomUUID();
  return headers;
}

/** Who the apiserver says the caller is (SelfSubjectReview), as JSON for comparison. */
async function whoAmI(url, caPem, headers) {
  const res = await httpsRequest(`${url}${SELF_REVIEW_PATH}`, { method: "POST", caPem, headers, body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" } });
  if (res.status !== 201) throw new Error(`SelfSubjectReview at ${url}: ${res.status} ${res.body.slice(0, 300)}`);
  const { username, groups, extra } = JSON.parse(res.body).status.userInfo;
  return JSON.stringify({ username, groups: [...(groups ?? [])].sort(), extra: extra ?? {} });
}

const verdict = (ratio) => (ratio >= TARGET_RATIO ? "met" : "NOT met");

export default {
  name: "real-apiserver",
  description: "small GETs on a real kube-apiserver v1.32: kubegate vs direct with the same impersonated identity vs kubectl proxy; req/s, p50/p99, CPU per request",
  async run(ctx) {
    const quick = ctx.quick;
    const load = { requests: quick ? 2_000 : 10_000, warmup: quick ? 500 : 2_000, clients: 32, h2Streams: 10, rounds: quick || PROFILE_DIR ? 1 : 2 };
    const dir = await ctx.tempDir("kubegate-bench-real-");

    ctx.log("real-apiserver: starting etcd and kube-apiserver v1.32");
    const kas = await startRealApiserver({ log: ctx.log });
    ctx.defer(() => kas.close());
    const size = await kas.api("POST", "/api/v1/namespaces/default/configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "small" }, data: { "config.yaml": "x".repeat(700) } });
    if (size.status !== 201) throw new Error(`creating the ConfigMap: ${size.status} ${size.body}`);
    await kas.apply(clusterRoleBinding(`kubegate-${USER}`, "view", [`${PREFIX}${USER}`]));

    ctx.log(`real-apiserver: starting kubegate serve${PROFILE_DIR ? ` under --cpu-prof (into ${PROFILE_DIR})` : ""} and kubectl proxy`);
    const gw = await startGateway({}, PROFILE_DIR ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}` } } : {});
    ctx.defer(gw.stop);
    await registerDirect(gw, CLUSTER, { serverUrl: kas.url, caPem: kas.caPem, bearer: kas.gatewayToken });
    const user = await createUser(gw, { name: USER, cluster: CLUSTER, role: "view" });
    const token = await user.token(60 * 60 * 1000);
    const viaKubegate = await waitForRoute(gw, CLUSTER, OBJECT_PATH, token, 15_000);
    const gwPids = [gw.pid, ...childPids(gw.pid)];

    const direct = impersonatedHeaders(kas.gatewayToken, claimsOf(token), user.grantId);
    const viaDirect = await httpsRequest(`${kas.url}${OBJECT_PATH}`, { caPem: kas.caPem, headers: direct });
    if (viaDirect.status !== 200 || viaDirect.body !== viaKubegate.body) throw new Error(`direct GET: ${viaDirect.status}, not kubegate's body: ${viaDirect.body.slice(0, 300)}`);
    // The apiserver must see the same caller both ways, or it would not do the same work.
    const seenViaKubegate = await whoAmI(`${gw.dataUrl}/clusters/${CLUSTER}`, gw.caPem, { authorization: `Bearer ${token}` });
    const seenDirect = await whoAmI(kas.url, kas.caPem, direct);
    if (seenViaKubegate !== seenDirect) throw new Error(`the apiserver sees another identity direct (${seenDirect}) than through kubegate (${seenViaKubegate})`);

    // The Node floor (bench/peers/node-floor): a bare node:http2 proxy with none of
    // kubegate's work, passing on the same impersonation headers with the gateway's token.
    const tls = await writeServingCert(dir);
    const kasCaFile = join(dir, "apiserver-ca.crt");
    await writeFile(kasCaFile, kas.caPem);
    const nodeFloor = await startNodeFloor({ dir, mode: "proxy", tls, upstreamUrl: kas.url, upstreamCaFile: kasCaFile, token: kas.gatewayToken, log: ctx.log });
    ctx.defer(nodeFloor.stop);
    const { authorization: _gatewayToken, ...floorHeaders } = direct;
    const viaFloor = await httpsRequest(`${nodeFloor.url}${OBJECT_PATH}`, { caPem: tls.caPem, headers: floorHeaders });
    if (viaFloor.status !== 200 || viaFloor.body !== viaKubegate.body) throw new Error(`node floor GET: ${viaFloor.status}, not kubegate's body: ${viaFloor.body.slice(0, 300)}`);
    const seenViaFloor = await whoAmI(nodeFloor.url, tls.caPem, floorHeaders);
    if (seenViaFloor !== seenDirect) throw new Error(`the apiserver sees another identity through the node floor (${seenViaFloor}) than direct (${seenDirect})`);

    const kubectlProxy = await startKubectlProxy({ kubeconfig: await kas.kubeconfig("kubectl-proxy"), stderrFile: join(dir, "kubectl-proxy.log"), log: ctx.log });
    ctx.defer(kubectlProxy.stop);

    const proxyCpu = {
      direct: undefined,
      kubegate: () => gwPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
      "kubectl proxy": () => cpuSeconds(kubectlProxy.pid),
      "node floor": () => cpuSeconds(nodeFloor.pid),
    };
    const kubegateUrl = `${gw.dataUrl}/clusters/${CLUSTER}${OBJECT_PATH}`;
    let targets = [
      { via: "direct", proto: "h2", url: `${kas.url}${OBJECT_PATH}`, headers: direct },
      { via: "kubegate", proto: "h2", url: kubegateUrl, headers: { authorization: `Bearer ${token}` } },
      { via: "direct", proto: "h1", url: `${kas.url}${OBJECT_PATH}`, headers: direct },
      { via: "kubegate", proto: "h1", url: kubegateUrl, headers: { authorization: `Bearer ${token}` } },
      { via: "kubectl proxy", proto: "h1", url: `${kubectlProxy.url}${OBJECT_PATH}` },
      { via: "node floor", proto: "h2", url: `${nodeFloor.url}${OBJECT_PATH}`, headers: floorHeaders },
      { via: "node floor", proto: "h1", url: `${nodeFloor.url}${OBJECT_PATH}`, headers: floorHeaders },
    ];
    if (PROFILE_DIR) targets = targets.filter((t) => t.via === "kubegate" && t.proto === "h2");

    const best = new Map();
    for (let round = 1; round <= load.rounds; round++) {
      for (const t of targets) {
        const key = `${t.via} ${t.proto}`;
        ctx.log(`real-apiserver: round ${round}/${load.rounds}: ${key}`);
        const common = { url: t.url, clients: load.clients, streams: t.proto === "h2" ? load.h2Streams : 1, h1: t.proto === "h1", headers: t.headers ?? {}, log: ctx.log };
        await runH2load({ ...common, requests: load.warmup, timeoutMs: 60_000 });
        const cpu = proxyCpu[t.via];
        const r = await runH2load({
          ...common,
          requests: load.requests,
          logFile: join(dir, "h2load.log"),
          timeoutMs: 120_000,
          probe: () => ({ proxy: cpu?.(), apiserver: cpuSeconds(kas.apiserverPid), etcd: cpuSeconds(kas.etcdPid), at: performance.now() }),
        });
        if (r.status2xx !== load.requests) throw new Error(`${key}: ${r.status2xx} of ${load.requests} requests answered 2xx (failed ${r.failed}, errored ${r.errored}):\n${r.output}`);
        const { start, end } = r.probe;
        const wall = (end.at - start.at) / 1000;
        const perRequestUs = (seconds) => (seconds / load.requests) * 1e6;
        const proxySeconds = cpu === undefined ? undefined : end.proxy - start.proxy;
        const row = {
          via: t.via,
          proto: t.proto === "h2" ? "HTTP/2" : "HTTP/1.1",
          "req/s": r.reqPerSec,
          p50_ms: r.latencyMs.p50,
          p99_ms: r.latencyMs.p99,
          "proxy_cpu_%": proxySeconds === undefined ? undefined : (proxySeconds / wall) * 100,
          "req/proxy_cpu_s": proxySeconds === undefined ? undefined : load.requests / proxySeconds,
          "proxy_µs/req": proxySeconds === undefined ? undefined : perRequestUs(proxySeconds),
          "apiserver_cpu_%": ((end.apiserver - start.apiserver) / wall) * 100,
          "apiserver_µs/req": perRequestUs(end.apiserver - start.apiserver),
          "etcd_µs/req": perRequestUs(end.etcd - start.etcd),
        };
        if (!best.has(key) || best.get(key)["req/s"] < row["req/s"]) best.set(key, row);
      }
    }

    const rows = targets.map((t) => best.get(`${t.via} ${t.proto}`));
    const notes = [
      `h2load -n ${load.requests} -c ${load.clients} -t 1, -m ${load.h2Streams} for HTTP/2 (${load.clients * load.h2Streams} in flight) and --h1 -m 1 for HTTP/1.1 (${load.clients} in flight); ` +
        `${load.warmup} warm-up requests before each measured run; ${load.rounds} round(s) over all rows, best kept. p50/p99 exact, from --log-file.`,
      `Object: GET ${OBJECT_PATH} (${viaKubegate.body.length} bytes of JSON), read from etcd on every request (no resourceVersion), on kube-apiserver v1.32 ${kas.url} with etcd, both on these cores.`,
      `kubegate: \`kubegate serve\` child, the apiserver as a direct-mode cluster (the gateway's token, its CA), user ${USER} with a view grant and a minted token, a view ClusterRoleBinding for ${PREFIX}${USER}; ` +
        `kubegate forwards over its pooled HTTP/2 session(s) to the apiserver whatever the client speaks.`,
      `direct: the gateway's bearer token + Impersonate-User ${PREFIX}${USER}${direct["impersonate-group"] ? `, Impersonate-Group ${direct["impersonate-group"].join(", ")}` : ""}, Impersonate-Extra-kubegate.dev%2Fgrant and %2Ftoken-id, Audit-ID — ` +
        `what kubegate sends; SelfSubjectReview gave the same user, groups and extra both ways: ${seenDirect}. The apiserver's APF classifies both as that user (global-default).`,
      "kubectl proxy: plain HTTP/1.1 on 127.0.0.1, the admin's client certificate (system:masters: no impersonation, APF exempt), HTTP/2 to the apiserver: a reference, not the same work for the apiserver.",
      "node floor: bench/peers/node-floor, a bare node:http2 proxy (one pooled HTTP/2 session, the client's headers passed on with the gateway's token; no token check, authorization or audit): what Node costs before any of kubegate's work, with the same identity for the apiserver.",
      "proxy_*: the proxy's own process(es) during the measured run (kubegate serve; kubectl proxy), all threads; apiserver_* and etcd_*: those processes, for the same requests (they share the 2 cores).",
    ];
    if (PROFILE_DIR) {
      notes.push(`PROFILE RUN: kubegate under --cpu-prof (slower than usual); the .cpuprofile is written to ${PROFILE_DIR} when kubegate exits. Not a number for the table.`);
      return { rows, notes };
    }
    for (const proto of ["HTTP/2", "HTTP/1.1"]) {
      const k = rows.find((r) => r.via === "kubegate" && r.proto === proto);
      const d = rows.find((r) => r.via === "direct" && r.proto === proto);
      const f = rows.find((r) => r.via === "node floor" && r.proto === proto);
      k.x_direct = k["req/s"] / d["req/s"];
      d.x_direct = 1;
      f.x_direct = f["req/s"] / d["req/s"];
      notes.push(`The Node floor, ${proto}: ${f.x_direct.toFixed(2)}× direct at ${Math.round(f["proxy_µs/req"])} µs of proxy CPU per request (kubegate ${Math.round(k["proxy_µs/req"])} µs).`);
      notes.push(`Target kubegate ≥ ${TARGET_RATIO}× direct with the same identity, ${proto}: ${k.x_direct.toFixed(2)}× (${Math.round(k["req/s"])} vs ${Math.round(d["req/s"])} req/s) — ${verdict(k.x_direct)}.`);
    }
    const kubectlRow = rows.find((r) => r.via === "kubectl proxy");
    kubectlRow.x_direct = kubectlRow["req/s"] / rows.find((r) => r.via === "direct" && r.proto === "HTTP/1.1")["req/s"];
    notes.push("x_direct: req/s over direct on the same protocol (kubectl proxy: over direct HTTP/1.1, though it is not the same identity).");
    return { rows, notes };
  },
};
