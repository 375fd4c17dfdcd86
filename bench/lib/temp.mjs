/** Temporary directories that the benchmark removes itself. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Creates a fresh directory under the OS temp dir; `remove()` deletes it and is idempotent. */
export async function makeTempDir(prefix = "kubegate-bench-") {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    remove: () => rm(path, { recursive: true, force: true }),
  };
}
