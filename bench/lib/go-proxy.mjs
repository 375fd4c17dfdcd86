/**
 * The Go peer (bench/peers/go-proxy): net/http/httputil.ReverseProxy with TLS on both
 * sides, as the Go proxies kubegate is compared with are built. Go comes from Debian's
 * bookworm-backports suite (golang-1.23-go), added and installed when missing; the peer is
 * built with the standard library only, offline, into the suite's temp dir.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnChild, waitOrStop } from "./child.mjs";
import { ROOT } from "./paths.mjs";

const GO = "/usr/lib/go-1.23/bin/go";
const BACKPORTS_LIST = "/etc/apt/sources.list.d/kubegate-bench-backports.list";

/** True when some apt source already names bookworm-backports. */
function hasBackports() {
  const files = ["/etc/apt/sources.list", ...readdirSync("/etc/apt/sources.list.d").map((f) => join("/etc/apt/sources.list.d", f))];
  return files.some((f) => existsSync(f) && /bookworm-backports/.test(readFileSync(f, "utf8")));
}

/** The path of Go 1.23, installing golang-1.23-go from bookworm-backports when missing. */
export function ensureGo(log) {
  if (existsSync(GO)) return GO;
  if (process.getuid?.() !== 0) throw new Error(`Go 1.23 is missing and installing it needs root: apt-get install -t bookworm-backports golang-1.23-go`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!hasBackports()) {
    log(`adding bookworm-backports (${BACKPORTS_LIST}) for golang-1.23-go`);
    writeFileSync(BACKPORTS_LIST, "deb http://deb.debian.org/debian bookworm-backports main\n");
  }
  log("apt-get update; apt-get install -y -t bookworm-backports golang-1.23-go");
  execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"], env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "-t", "bookworm-backports", "golang-1.23-go"], { stdio: ["ignore", "ignore", "inherit"], env });
  if (!existsSync(GO)) throw new Error(`installed golang-1.23-go but ${GO} is missing`);
  return GO;
}

/**
 * Builds and starts the Go peer in front of `upstreamUrl` on 127.0.0.1 port 0, serving with
 * `tls` ({ certFile, keyFile }), trusting `upstreamCaFile`, sending `token`. Resolves to { url, pid, stop }.
 */
export async function startGoProxy({ dir, tls, upstreamUrl, upstreamCaFile, token, log }) {
  const go = ensureGo(log);
  const bin = join(dir, "go-proxy");
  const env = { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod", GOCACHE: join(dir, "go-cache"), GOPATH: join(dir, "go-path"), CGO_ENABLED: "0" };
  log("building bench/peers/go-proxy");
  execFileSync(go, ["-C", join(ROOT, "bench", "peers", "go-proxy"), "build", "-o", bin, "."], { stdio: ["ignore", "ignore", "inherit"], env });
  const tokenFile = join(dir, "go-proxy.token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const proc = spawnChild(bin, ["--listen", "127.0.0.1:0", "--cert", tls.certFile, "--key", tls.keyFile, "--upstream", upstreamUrl, "--upstream-ca", upstreamCaFile, "--token-file", tokenFile], {
    stderrFile: join(dir, "go-proxy.log"),
  });
  const [, url] = await waitOrStop(proc, /listening on (https:\/\/\S+)/, 15_000);
  return { url, pid: proc.pid, stop: () => proc.stop() };
}
