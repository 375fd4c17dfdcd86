/**
 * `kubectl proxy` (Debian's kubernetes-client, installed when missing) as a reference
 * proxy: plain HTTP/1.1 on 127.0.0.1, a port of its own choosing, our child process.
 */
import { ensureCommand } from "./apt.mjs";
import { spawnChild, waitOrStop } from "./child.mjs";

/** `kubectl proxy --port 0` with `kubeconfig`; resolves to { url, pid, stop }. */
export async function startKubectlProxy({ kubeconfig, stderrFile, log }) {
  const kubectl = ensureCommand("kubectl", "kubernetes-client", log);
  const proc = spawnChild(kubectl, ["proxy", "--kubeconfig", kubeconfig, "--address", "127.0.0.1", "--port", "0"], { stderrFile });
  const [, port] = await waitOrStop(proc, /Starting to serve on 127\.0\.0\.1:(\d+)/, 15_000);
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid, stop: () => proc.stop() };
}
