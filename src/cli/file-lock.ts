/**
 * A lock file shared by every kubegate process of one user: kubectl may run twenty exec
 * plugins at once, and exactly one of them should refresh a login or mint a token. Made
 * with O_EXCL; a lock left by a process that died is taken over once it is older than
 * `staleMs`.
 */
import { mkdir, open, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CliError } from "./cli-error.ts";

export interface LockOptions {
  /** Give up waiting after this long. */
  timeoutMs?: number;
  /** A lock file older than this belongs to a process that died. */
  staleMs?: number;
}

export async function withFileLock<T>(path: string, work: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const staleMs = opts.staleMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  for (;;) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > staleMs) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new CliError(`another kubegate process has held ${path} for over ${Math.round(timeoutMs / 1000)} s; if none is running, remove the file`);
    await sleep(20 + Math.random() * 40);
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}
