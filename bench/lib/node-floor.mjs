/**
 * The Node floor peer (bench/peers/node-floor): a bare Node proxy, or a bare TLS splice,
 * with none of kubegate's work, so a suite can show what the runtime itself costs beside
 * what kubegate adds. Run by the pinned Node 24, as kubegate is.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnChild, waitOrStop } from "./child.mjs";
import { ROOT } from "./paths.mjs";

/**
 * Starts the peer in `mode` ("proxy" or "splice") in front of `upstreamUrl` on 127.0.0.1
 * port 0, serving with `tls` ({ certFile, keyFile }), trusting `upstreamCaFile`, sending
 * `token` (proxy mode). Resolves to { url, pid, stop }.
 */
export async function startNodeFloor({ dir, mode, tls, upstreamUrl, upstreamCaFile, token = "", log }) {
  const tokenFile = join(dir, `node-floor-${mode}.token`);
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  log(`starting the Node floor peer (${mode})`);
  const args = [join(ROOT, "bench", "peers", "node-floor", "main.mjs"), "--mode", mode, "--cert", tls.certFile, "--key", tls.keyFile, "--upstream", upstreamUrl, "--upstream-ca", upstreamCaFile, "--token-file", tokenFile];
  const proc = spawnChild(process.execPath, args, { stderrFile: join(dir, `node-floor-${mode}.log`) });
  const [, url] = await waitOrStop(proc, /listening on (https:\/\/\S+)/, 15_000);
  return { url, pid: proc.pid, stop: () => proc.stop() };
}
