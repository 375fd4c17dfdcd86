/**
 * The kubeconfig file on disk: which file, and a safe read-modify-write of it. Writers
 * take `<file>.lock` (created exclusively, the same lock kubectl's client-go takes), so
 * two kubegates — or kubegate and kubectl — never lose each other's entries; the new
 * content goes to a temp file in the same directory (0600), is fsynced, and renamed over
 * the old, so a crash leaves the old file or the new one, never half of one.
 */
import { randomBytes } from "node:crypto";
import { lstat, mkdir, open, readFile, realpath, rename, stat, unlink } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, delimiter, dirname, join, resolve } from "node:path";
import { KubeconfigFileError, parseKubeconfig } from "./kubeconfig-edit.ts";

export { KubeconfigFileError } from "./kubeconfig-edit.ts";

/** `--kubeconfig`, else the first entry of $KUBECONFIG, else ~/.kube/config; absolute. */
export function resolveKubeconfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== "") return resolve(flag);
  const first = (env["KUBECONFIG"] ?? "").split(delimiter).find((p) => p !== "");
  if (first !== undefined) return resolve(first);
  return join(env["HOME"] || homedir(), ".kube", "config");
}

export interface LockOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** A lock older than this was left by a process that died (default 10 s). */
  staleMs?: number;
}

/** The file's text, "" when it does not exist yet. */
export async function readKubeconfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") return "";
    if (e.code === "EISDIR") throw new KubeconfigFileError(`cannot read kubeconfig ${path}: it is a directory`);
    if (e.code === "ENOTDIR") throw new KubeconfigFileError(`cannot read kubeconfig ${path}: ${dirname(path)} is not a directory`);
    throw new KubeconfigFileError(`cannot read kubeconfig ${path}: ${e.message}`);
  }
}

/**
 * Locks the file, reads it, lets `mutate` compute the new text, and writes it atomically
 * (0600) when it changed. Nothing is written when reading, parsing or `mutate` fails.
 * Returns the text written (or left).
 */
export async function updateKubeconfigFile(path: string, mutate: (text: string) => string, opts: LockOptions = {}): Promise<{ text: string; changed: boolean }> {
  const target = await followSymlink(path);
  try {
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new KubeconfigFileError(`cannot create the directory for kubeconfig ${path}: ${(err as Error).message}`);
  }
  const unlock = await lock(target, opts);
  try {
    const before = await readKubeconfigFile(target);
    parseKubeconfig(before, path);
    const after = mutate(before);
    if (after === before) return { text: before, changed: false };
    // The result must still be a kubeconfig; a bug here must never reach the disk.
    parseKubeconfig(after, path);
    await writeAtomically(target, after);
    return { text: after, changed: true };
  } finally {
    await unlock();
  }
}

/** A symlinked kubeconfig (dotfiles repos) is updated where it points, keeping the link. */
async function followSymlink(path: string): Promise<string> {
  try {
    if ((await lstat(path)).isSymbolicLink()) return await realpath(path);
  } catch {
    // Missing (or dangling): write at the path itself.
  }
  return path;
}

async function lock(path: string, opts: LockOptions): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const staleMs = opts.staleMs ?? 10_000;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => unlink(lockPath).catch(() => undefined);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== "EEXIST") throw new KubeconfigFileError(`cannot lock kubeconfig ${path}: ${e.message}`);
    }
    const age = await stat(lockPath).then(
      (s) => Date.now() - s.mtimeMs,
      () => -1,
    );
    if (age < 0) continue; // released meanwhile
    if (age > staleMs) {
      // Left by a process that died mid-update: break it. If two break it at once, the
      // exclusive create above still lets only one of them in.
      await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw new KubeconfigFileError(`kubeconfig ${path} is locked by another program (${lockPath}); remove that file if nothing else is running`);
    const backoff = Math.min(200, 5 * 2 ** Math.min(attempt, 6));
    await new Promise((r) => setTimeout(r, backoff / 2 + Math.random() * backoff));
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw new KubeconfigFileError(`cannot write kubeconfig ${path}: ${(err as Error).message}`);
  }
  // Make the rename itself durable; not every filesystem lets a directory be fsynced.
  const dir = await open(dirname(path), "r").catch(() => undefined);
  await dir?.sync().catch(() => undefined);
  await dir?.close();
}
