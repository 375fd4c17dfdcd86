/** The Store contract on the embedded SQLite backend (node:sqlite), one temp dir per test. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe } from "vitest";
import { openStore, SQLITE_FILE } from "../../src/store/open.ts";
import { storeSuite, type StoreTarget } from "./store-suite.ts";

const target: StoreTarget = {
  dialect: "sqlite",
  async fresh() {
    const dataDir = await mkdtemp(join(tmpdir(), "kubegate-store-"));
    return {
      open: (encryptionKey) => openStore({ dataDir, encryptionKey }),
      async raw(sqlText) {
        const db = new DatabaseSync(join(dataDir, SQLITE_FILE));
        try {
          const stmt = db.prepare(sqlText);
          if (stmt.columns().length > 0) return stmt.all() as Array<Record<string, unknown>>;
          stmt.run();
          return [];
        } finally {
          db.close();
        }
      },
      cleanup: () => rm(dataDir, { recursive: true, force: true }),
    };
  },
};

describe("store on SQLite", () => {
  storeSuite(() => target);
});
