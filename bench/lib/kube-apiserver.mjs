/**
 * The real kube-apiserver (v1.32) and its etcd for a benchmark: the test harness
 * (test/support/kube-apiserver.ts, run by Node's type stripping) started in this process,
 * plus the pids of the two processes it spawned, so a suite can read their CPU from /proc.
 * etcd comes from Debian's etcd-server (installed when missing); the apiserver binary from
 * KUBE_APISERVER_BIN or ../shared/kube-apiserver/unpack.sh, as the harness finds it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ensureCommand } from "./apt.mjs";
import { ROOT } from "./paths.mjs";
import { childPids } from "./proc.mjs";

/** The command name of a process (/proc/<pid>/comm), or "" once it has gone. */
function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * Starts the harness's kube-apiserver. Resolves to its handle (url, caPem, admin,
 * gatewayToken, api(), apply(), namespace(), kubeconfig(), close()) plus
 * { apiserverPid, etcdPid }.
 */
export async function startRealApiserver({ log = () => {} } = {}) {
  ensureCommand("etcd", "etcd-server", log);
  const harness = await import(pathToFileURL(join(ROOT, "test", "support", "kube-apiserver.ts")).href);
  const missing = harness.missingPrerequisites();
  if (missing.length > 0) throw new Error(`the real-apiserver suite needs ${missing.join(" and ")}`);
  const before = new Set(childPids(process.pid));
  const kas = await harness.startKubeApiserver();
  try {
    const spawned = childPids(process.pid).filter((pid) => !before.has(pid));
    const apiserverPid = spawned.find((pid) => comm(pid) === "kube-apiserver");
    const etcdPid = spawned.find((pid) => comm(pid) === "etcd");
    if (apiserverPid === undefined || etcdPid === undefined) throw new Error(`cannot find the kube-apiserver and etcd processes among ${spawned.map((p) => `${p} (${comm(p)})`).join(", ")}`);
    return Object.assign(kas, { apiserverPid, etcdPid });
  } catch (err) {
    await kas.close();
    throw err;
  }
}
