/**
 * MintToken throughput and latency, SQLite vs PostgreSQL, with the control plane in this
 * process and as a `kubegate serve` child process. The child variant is the honest
 * "one core" figure: the server's CPU is read from /proc apart from the load generator's.
 */
import { importDist } from "../lib/paths.mjs";
import { cpuSeconds, rssKiB } from "../lib/proc.mjs";
import { startChildControlPlane, startInProcessControlPlane } from "../lib/kubegate.mjs";
import { runClosedLoop } from "../lib/load.mjs";
import { startPostgres } from "../lib/postgres.mjs";
import { summarize } from "../lib/stats.mjs";

const CLUSTER = "bench";
/** High enough that the per-subject rate limiter never caps the measurement. */
const UNLIMITED = { "mint-rate": "1000000", "mint-burst": "1000000" };

/** Registers an agent-mode cluster and gives `users` subjects an API key and a view grant. */
async function provision(target, users) {
  const { createKubegateClients } = await importDist("src/client/clients.js");
  const { Role, SubjectKind } = await importDist("gen/kubegate/v1/grant_pb.js");
  const admin = createKubegateClients({ baseUrl: target.url, caPem: target.caPem, credential: target.adminKey });
  await admin.clusters.registerCluster({ name: CLUSTER, mode: { case: "agent", value: {} } });
  const keys = [];
  for (let i = 0; i < users; i++) {
    const subject = `bench-user-${i}`;
    const { secret } = await admin.identity.createApiKey({ name: `${subject} key`, subject, groups: ["bench"] });
    await admin.grants.createGrant({ cluster: CLUSTER, subject: { kind: SubjectKind.USER, name: subject }, role: Role.VIEW });
    keys.push(secret);
  }
  return keys;
}

/** Drives MintToken over Connect/HTTP/2 (one session, `concurrency` streams), users round-robin. */
async function drive(target, keys, opts, probe) {
  const { createKubegateClients } = await importDist("src/client/clients.js");
  // No credential on the transport: each call carries its user's API key.
  const { tokens } = createKubegateClients({ baseUrl: target.url, caPem: target.caPem });
  const mint = (i, signal) =>
    tokens.mintToken({ cluster: CLUSTER }, { headers: { authorization: `Bearer ${keys[i % keys.length]}` }, signal });
  const first = await mint(0, AbortSignal.timeout(10_000));
  if (first.token.split(".").length !== 3) throw new Error("MintToken returned no JWT");
  const result = await runClosedLoop({ call: mint, ...opts, probe });
  if (result.calls === 0) throw new Error(`no MintToken call succeeded: ${String(result.firstError)}`);
  if (result.errors > result.calls / 100)
    throw new Error(`${result.errors} of ${result.calls + result.errors} MintToken calls failed: ${String(result.firstError)}`);
  return result;
}

/** A table row; errors (below the 1% that fails the suite) are also described in `notes`. */
function row(notes, store, server, opts, result, cpu, extra) {
  const lat = summarize(result.latenciesMs);
  if (result.errors > 0) notes.push(`${store}, ${server}, ${opts.concurrency} in flight: ${result.errors} failed call(s), first: ${String(result.firstError)}`);
  return {
    store,
    server,
    users: opts.users,
    in_flight: opts.concurrency,
    calls: result.calls,
    "calls/s": result.calls / result.seconds,
    p50_ms: lat.p50,
    p90_ms: lat.p90,
    p99_ms: lat.p99,
    max_ms: lat.max,
    "cpu_%": (cpu / result.seconds) * 100,
    "calls/cpu_s": result.calls / cpu,
    ...extra,
    errors: result.errors,
  };
}

async function inProcess(ctx, notes, store, flags, opts) {
  ctx.log(`mint: ${store}, control plane in this process`);
  const target = await startInProcessControlPlane({ ...UNLIMITED, ...flags });
  ctx.defer(target.stop);
  try {
    const keys = await provision(target, opts.users);
    const result = await drive(target, keys, opts);
    return row(notes, store, "in-process", opts, result, result.cpuSeconds, {
      "load_cpu_%": undefined,
      rss_MiB: process.memoryUsage().rss / 2 ** 20,
    });
  } finally {
    await target.stop();
  }
}

/** Rows at `opts.concurrency` in flight, then at 1 in flight (latency without queueing). */
async function childProcess(ctx, notes, store, flags, opts) {
  ctx.log(`mint: ${store}, control plane as a kubegate serve child process`);
  const target = await startChildControlPlane({ ...UNLIMITED, ...flags });
  ctx.defer(target.stop);
  try {
    const keys = await provision(target, opts.users);
    const rows = [];
    for (const concurrency of [opts.concurrency, 1]) {
      const runOpts = { ...opts, concurrency };
      const result = await drive(target, keys, runOpts, () => cpuSeconds(target.pid));
      const serverCpu = result.extra.end - result.extra.start;
      rows.push(
        row(notes, store, "child process", runOpts, result, serverCpu, {
          "load_cpu_%": (result.cpuSeconds / result.seconds) * 100,
          rss_MiB: rssKiB(target.pid) / 1024,
        }),
      );
    }
    return rows;
  } finally {
    await target.stop();
  }
}

export default {
  name: "mint",
  description: "MintToken calls/s, latency and calls per CPU-second, SQLite and PostgreSQL",
  async run(ctx) {
    const opts = {
      users: 32,
      concurrency: 16,
      warmupMs: ctx.quick ? 300 : 1000,
      durationMs: ctx.quick ? 1500 : 5000,
      maxCalls: 2_000_000,
      callTimeoutMs: 10_000,
    };
    const rows = [];
    const notes = [];
    rows.push(await inProcess(ctx, notes, "sqlite", {}, opts));
    rows.push(...(await childProcess(ctx, notes, "sqlite", {}, opts)));

    ctx.log("mint: starting embedded PostgreSQL");
    const pg = await startPostgres();
    ctx.defer(pg.stop);
    await pg.createDatabase("bench_in_process");
    await pg.createDatabase("bench_child");
    rows.push(await inProcess(ctx, notes, "postgres", { database: pg.url("bench_in_process") }, opts));
    rows.push(...(await childProcess(ctx, notes, "postgres", { database: pg.url("bench_child") }, opts)));
    await pg.stop();

    return {
      rows,
      notes: [
        `${opts.concurrency} calls in flight over one HTTP/2 connection (Connect protocol), ${opts.users} users round-robin, ` +
          `${opts.warmupMs / 1000} s warm-up, then ${opts.durationMs / 1000} s measured; rate limit set to 1e6/s.`,
        "cpu_% is % of one core: in-process = the whole process (load generator + server);",
        "child process = the kubegate serve process alone (/proc/<pid>/stat, all threads); load_cpu_% = the load generator.",
        "calls/cpu_s = calls per CPU-second of what cpu_% measures; the child-process row is the server's own cost.",
        ...notes,
      ],
    };
  },
};
