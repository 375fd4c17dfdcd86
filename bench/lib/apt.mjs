/**
 * Installs a Debian package only when the command a benchmark needs is missing
 * (nginx, h2load from nghttp2-client, …), with the ordinary apt-get client.
 */
import { execFileSync } from "node:child_process";

/** The absolute path of `command` on PATH (plus the sbin dirs), or undefined. */
export function which(command) {
  const path = `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;
  try {
    return execFileSync("sh", ["-c", 'command -v "$1"', "sh", command], { encoding: "utf8", env: { ...process.env, PATH: path } }).trim() || undefined;
  } catch {
    return undefined;
  }
}

let updated = false;

/**
 * Makes sure `command` exists, installing `pkg` with `apt-get install -y` if it does not
 * (running `apt-get update` once first). Returns the command's path.
 */
export function ensureCommand(command, pkg, log = (msg) => process.stderr.write(`${msg}\n`)) {
  const found = which(command);
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0) throw new Error(`${command} is missing and installing ${pkg} needs root: apt-get install -y ${pkg}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!updated) {
    log(`apt-get update (to install ${pkg} for ${command})`);
    execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"], env });
    updated = true;
  }
  log(`apt-get install -y ${pkg}`);
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", pkg], { stdio: ["ignore", "ignore", "inherit"], env });
  const installed = which(command);
  if (installed === undefined) throw new Error(`installed ${pkg} but ${command} is still not on PATH`);
  return installed;
}
