/**
 * `npm test` passes wherever the checkout lives: here, a copy of this checkout under a
 * directory only its owner may enter (as root's home and every mktemp -d are), runs the
 * PostgreSQL store tests. As root the server runs as the "postgres" user, which cannot
 * reach binaries below such a directory; the harness must cope, not time out.
 */
import { execFileSync } from "node:child_process";
import { cp, link, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../support/programs.ts";

const ROOT = join(import.meta.dirname, "..", "..");

/** node_modules as hard links: a new directory tree (below the 0700 parent) without copying 500 MB. */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const [src, dst] = [join(from, entry.name), join(to, entry.name)];
    if (entry.isDirectory()) await linkTree(src, dst);
    else if (entry.isSymbolicLink()) await cp(src, dst, { verbatimSymlinks: true });
    else await link(src, dst);
  }
}

describe("a checkout under a 0700 directory", () => {
  let parent: string | undefined;
  afterAll(async () => {
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  it("passes the PostgreSQL store tests", async () => {
    parent = await mkdtemp(join(tmpdir(), "kubegate-private-"));
    expect((await stat(parent)).mode & 0o777).toBe(0o700);
    const checkout = join(parent, "kubegate");
    const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
    for (const f of files) {
      await mkdir(dirname(join(checkout, f)), { recursive: true });
      await cp(join(ROOT, f), join(checkout, f)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err; // deleted in the work tree, not yet in git
      });
    }
    await linkTree(join(ROOT, "node_modules"), join(checkout, "node_modules"));

    const started = Date.now();
    const r = await run(
      process.execPath,
      [join(checkout, "node_modules", "vitest", "vitest.mjs"), "run", "test/store/postgres-store.test.ts"],
      { PATH: process.env.PATH, HOME: process.env.HOME, KUBEGATE_TEST_PREBUILT: "1", CI: process.env.CI },
      undefined,
      240_000,
      checkout,
    );
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const summary = /(\d+) passed, (\d+) failed, (\d+) skipped/.exec(r.stdout);
    expect(Number(summary?.[1])).toBeGreaterThan(10);
    expect([summary?.[2], summary?.[3]]).toEqual(["0", "0"]);
    expect(Date.now() - started).toBeLessThan(120_000);
  }, 300_000);
});
