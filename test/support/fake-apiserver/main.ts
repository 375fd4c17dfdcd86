/**
 * Runs the fake as its own process (for benchmarks and manual poking):
 * `npx node test/support/fake-apiserver/main.ts` prints one JSON line with the
 * URL, CA file, kubeconfig file and tokens, then serves until SIGINT/SIGTERM or
 * stdin closes (so it dies with its parent).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFakeApiserver } from "./server.ts";

const fake = await startFakeApiserver({ gateway: true });
const caFile = join(fake.dir, "ca.crt");
await writeFile(caFile, fake.caPem);
const kubeconfig = await fake.kubeconfig({}, "kubeconfig.json");
process.stdout.write(JSON.stringify({ url: fake.url, port: fake.port, caFile, kubeconfig, adminToken: fake.adminToken, gatewayToken: fake.gatewayToken, pid: process.pid }) + "\n");

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await fake.close();
  process.exit(0);
}
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
process.stdin.on("end", () => void stop());
process.stdin.on("close", () => void stop());
process.stdin.resume();
