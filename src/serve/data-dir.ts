/**
 * The data directory must be writable with room to spare before kubegate starts: a
 * read-only or full disk found at the first write would leave a half-made state (a key
 * without its database) and a message about some file inside. Checked once, up front,
 * with a message that names the directory, the flag and what to do.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "../config/serve-config.ts";

/** Room the first start needs (keys, certificates, the SQLite database and its WAL). */
const PROBE_BYTES = 1024 * 1024;

const WHY: Record<string, string> = {
  EROFS: "is on a read-only file system",
  EACCES: "is not writable by this user",
  EPERM: "is not writable by this user",
  ENOSPC: "is on a full disk",
  EDQUOT: "is over its disk quota",
  ENOTDIR: "is not a directory",
  EEXIST: "is not a directory",
};

export async function prepareDataDir(dir: string): Promise<void> {
  const probe = join(dir, `.write-check-${randomBytes(4).toString("hex")}`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = await open(probe, "wx", 0o600);
    try {
      await file.writeFile(Buffer.alloc(PROBE_BYTES));
      await file.sync();
    } finally {
      await file.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const why = WHY[code];
    if (why === undefined) throw err;
    throw new ConfigError(
      `the data directory ${dir} ${why} (${code}): kubegate keeps its database, keys and certificates there; ` +
        `free space or fix its permissions, or pass --data-dir (KUBEGATE_DATA_DIR) a writable directory with at least ${PROBE_BYTES / 1024 / 1024} MiB free`,
    );
  } finally {
    await rm(probe, { force: true });
  }
}
