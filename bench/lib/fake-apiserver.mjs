/**
 * The fake kube-apiserver (test/support/fake-apiserver) as a child process, as the member
 * cluster of the watch and revocation suites: its CPU and memory stay out of kubegate's
 * and the benchmark's. It serves until stopped, or until our end of its stdin closes.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { spawnChild } from "./child.mjs";
import { httpsRequest } from "./https.mjs";
import { ROOT } from "./paths.mjs";

/** Resolves to { url, caPem, adminToken, gatewayToken, pid, api(method, path, body), stop() }. */
export async function startFakeApiserver({ stderrFile } = {}) {
  // process.execPath is the pinned Node 24 under `npm run bench`: it runs .ts by type stripping.
  const proc = spawnChild(process.execPath, [join(ROOT, "test", "support", "fake-apiserver", "main.ts")], { stdin: "pipe", stderrFile, cwd: ROOT });
  try {
    const [line] = await proc.waitFor(/^\{.*\}$/m, 30_000);
    const info = JSON.parse(line);
    const caPem = await readFile(info.caFile, "utf8");
    /** Calls the fake's Kubernetes API as its admin (system:masters). */
    const api = async (method, path, body) => {
      const res = await httpsRequest(`${info.url}${path}`, { method, body, caPem, headers: { authorization: `Bearer ${info.adminToken}` } });
      if (res.status >= 300) throw new Error(`fake apiserver: ${method} ${path} → ${res.status} ${res.body.slice(0, 300)}`);
      return JSON.parse(res.body);
    };
    return { url: info.url, caPem, adminToken: info.adminToken, gatewayToken: info.gatewayToken, pid: proc.pid, api, stop: () => proc.stop() };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** A ClusterRoleBinding of `clusterRole` to the impersonated users (e.g. "kubegate:alice"). */
export function clusterRoleBinding(name, clusterRole, users) {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
    subjects: users.map((u) => ({ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: u })),
  };
}
