/** Choosing and opening the backend: SQLite by default, PostgreSQL only from a postgres URL. */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, SQLITE_FILE, StoreConfigError } from "../../src/store/open.ts";
import { EncryptionKeyError } from "../../src/store/seal.ts";

describe("openStore", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "kubegate-open-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it("creates the data directory (0700) and the SQLite file in it when no database is given", async () => {
    const dataDir = join(await tempDir(), "state");
    const store = await openStore({ dataDir, encryptionKey: randomBytes(32) });
    try {
      expect(store.dialect).toBe("sqlite");
      expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
      expect((await stat(join(dataDir, SQLITE_FILE))).isFile()).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("treats an empty --database as the embedded store", async () => {
    const store = await openStore({ database: " ", dataDir: await tempDir(), encryptionKey: randomBytes(32) });
    await store.close();
    expect(store.dialect).toBe("sqlite");
  });

  it.each(["mysql://db/kubegate", "sqlite:///var/lib/kubegate.db", "/var/lib/kubegate.db", "postgres", "http://db:5432/x"])(
    "rejects %s with a message saying what to do",
    async (database) => {
      const attempt = openStore({ database, dataDir: await tempDir(), encryptionKey: randomBytes(32) });
      await expect(attempt).rejects.toBeInstanceOf(StoreConfigError);
      await expect(attempt).rejects.toThrow("--database must be a postgres:// URL; omit it for the embedded SQLite store");
    },
  );

  it("rejects an encryption key of the wrong size before touching the database", async () => {
    const dataDir = join(await tempDir(), "never-created");
    await expect(openStore({ dataDir, encryptionKey: randomBytes(31) })).rejects.toBeInstanceOf(EncryptionKeyError);
    await expect(stat(dataDir)).rejects.toThrow();
  });
});
