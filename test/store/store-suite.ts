/**
 * One behavioural suite for the Store contract, run against every backend: the services
 * must not be able to tell SQLite from PostgreSQL.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { StoreConflictError, StoreReferenceError, type Store } from "../../src/store/types.ts";
import { apiKey, at, auditEvent, cluster, grant, signingKey, T0 } from "./support/fixtures.ts";

/** A fresh, empty database for one test. */
export interface TestDatabase {
  /** Opens a Store on this database (again and again, e.g. to restart or run a replica). */
  open(encryptionKey: Buffer): Promise<Store>;
  /** Runs SQL on a separate connection, bypassing the store (to inspect what is at rest). */
  raw(sqlText: string): Promise<Array<Record<string, unknown>>>;
  cleanup(): Promise<void>;
}

export interface StoreTarget {
  dialect: "sqlite" | "postgres";
  fresh(): Promise<TestDatabase>;
}

export function storeSuite(target: () => StoreTarget): void {
  const opened: Store[] = [];
  const databases: TestDatabase[] = [];
  const key = randomBytes(32);

  /** A fresh database and a store on it, both closed after the test. */
  async function setup(): Promise<{ store: Store; database: TestDatabase; open: (k?: Buffer) => Promise<Store> }> {
    const database = await target().fresh();
    databases.push(database);
    const open = async (k: Buffer = key): Promise<Store> => {
      const store = await database.open(k);
      opened.push(store);
      return store;
    };
    return { store: await open(), database, open };
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await Promise.all(databases.splice(0).map((d) => d.cleanup()));
  });

  async function events(store: Store, after = 0) {
    return (await store.changes.since(after, 1000)).map((e) => `${e.kind}:${e.key}${e.deleted ? ":deleted" : ""}`);
  }

  describe("clusters", () => {
    it("creates, reads back, rejects duplicates and pages by name", async () => {
      const { store } = await setup();
      expect(store.dialect).toBe(target().dialect);
      const prod = cluster("prod", {
        credential: { kind: "client-certificate", certPem: "CERT", keyPem: "KEY" },
        status: { phase: "READY", kubernetesVersion: "v1.31.2", agentVersion: "", lastSeenAt: at(5), message: "ok" },
        agentBootstrapHash: "boot-hash",
      });
      await store.clusters.create(prod);
      expect(await store.clusters.get("prod")).toEqual(prod);
      expect(await store.clusters.get("nope")).toBeNull();
      await expect(store.clusters.create(cluster("prod"))).rejects.toBeInstanceOf(StoreConflictError);

      const agent = cluster("edge", { mode: "agent", serverUrl: "", credential: null, agentCredentialHash: "agent-cred" });
      await store.clusters.create(agent);
      expect(await store.clusters.findByAgentBootstrapHash("boot-hash")).toEqual(prod);
      expect(await store.clusters.findByAgentCredentialHash("agent-cred")).toEqual(agent);
      expect(await store.clusters.findByAgentCredentialHash("other")).toBeNull();

      // Hyphens and digits sort byte-wise on both dialects, whatever the server locale.
      for (const name of ["a-c", "ab", "a1", "zeta"]) await store.clusters.create(cluster(name));
      const all = ["a-c", "a1", "ab", "edge", "prod", "zeta"];
      const names: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.clusters.list({ after, limit: 4 });
        names.push(...page.map((c) => c.name));
        if (page.length < 4) break;
        after = page.at(-1)?.name;
      }
      expect(names).toEqual(all);

      // Front-proxy mode: the identity mode round-trips, the certificate's key is sealed like any credential.
      const fp = cluster("fp", { manageRbac: false, identityMode: "front-proxy", credential: { kind: "front-proxy", certPem: "CERT", keyPem: "front-proxy-private-key-of-fp" } });
      await store.clusters.create(fp);
      expect(await store.clusters.get("fp")).toEqual(fp);
      const edgeFp = cluster("edge-fp", { mode: "agent", serverUrl: "", credential: null, identityMode: "front-proxy" });
      await store.clusters.create(edgeFp);
      expect(await store.clusters.get("edge-fp")).toEqual(edgeFp);
      await store.clusters.delete("fp");
      await store.clusters.delete("edge-fp");
      expect((await store.clusters.list({ limit: 2 })).map((c) => c.name)).toEqual(["a-c", "a1"]);
      expect((await store.clusters.list({ after: "ab", limit: 2 })).map((c) => c.name)).toEqual(["edge", "prod"]);
    });

    it("applies a partial update and logs it", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"));
      const before = await store.changes.latestRevision();

      const updated = await store.clusters.update("prod", { labels: { env: "prod" }, credential: { kind: "bearer", token: "rotated" } }, at(60_000));
      expect(updated).toEqual({ ...cluster("prod"), labels: { env: "prod" }, credential: { kind: "bearer", token: "rotated" }, updatedAt: at(60_000) });
      expect(await store.clusters.get("prod")).toEqual(updated);

      const cleared = await store.clusters.update("prod", { credential: null, agentBootstrapHash: "h", manageRbac: false }, at(120_000));
      expect(cleared?.credential).toBeNull();
      expect(cleared?.agentBootstrapHash).toBe("h");
      expect(cleared?.manageRbac).toBe(false);
      expect(cleared?.displayName).toBe("Cluster prod");

      expect(await store.clusters.update("nope", { displayName: "x" }, at(1))).toBeNull();
      expect(await events(store, before)).toEqual(["cluster:prod", "cluster:prod"]);
    });

    it("logs a status change but not a heartbeat that only moves lastSeen", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"));
      const start = await store.changes.latestRevision();
      const ready = { phase: "READY" as const, kubernetesVersion: "v1.31.2", agentVersion: "0.1.0", lastSeenAt: at(1_000), message: "" };

      expect(await store.clusters.setStatus("prod", ready)).toBe(true);
      expect(await store.clusters.setStatus("prod", { ...ready, lastSeenAt: at(2_000) })).toBe(true);
      expect(await store.clusters.setStatus("prod", { ...ready, lastSeenAt: at(3_000) })).toBe(true);
      expect((await store.clusters.get("prod"))?.status).toEqual({ ...ready, lastSeenAt: at(3_000) });
      expect(await events(store, start)).toEqual(["cluster:prod"]);

      expect(await store.clusters.setStatus("prod", { ...ready, phase: "OFFLINE", message: "agent gone", lastSeenAt: at(3_000) })).toBe(true);
      expect(await store.clusters.setStatus("prod", { ...ready, phase: "OFFLINE", message: "agent gone", kubernetesVersion: "v1.32.0" })).toBe(true);
      expect(await events(store, start)).toEqual(["cluster:prod", "cluster:prod", "cluster:prod"]);
      expect(await store.clusters.setStatus("nope", ready)).toBe(false);
    });

    it("deleting a cluster deletes its grants, logging each deletion", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.clusters.create(cluster("dev"));
      await store.grants.create(grant("g2", "prod"));
      await store.grants.create(grant("g1", "prod", { subjectKind: "group", subjectName: "sre" }));
      await store.grants.create(grant("g3", "dev"));
      const start = await store.changes.latestRevision();

      expect(await store.clusters.delete("prod")).toBe(true);
      expect(await store.clusters.get("prod")).toBeNull();
      expect(await store.grants.get("g1")).toBeNull();
      expect(await store.grants.get("g2")).toBeNull();
      expect(await store.grants.get("g3")).not.toBeNull();
      expect(await events(store, start)).toEqual(["grant:g1:deleted", "grant:g2:deleted", "cluster:prod:deleted"]);

      expect(await store.clusters.delete("prod")).toBe(false);
      expect(await store.changes.latestRevision()).toBe(start + 3);
    });
  });

  describe("grants", () => {
    it("creates, reads, rejects duplicates and unknown clusters, filters and pages", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.clusters.create(cluster("dev"));
      const g = grant("g-1", "prod", { namespaces: ["web", "db"], expiresAt: at(60_000), state: "PENDING", role: "edit" });
      await store.grants.create(g);
      expect(await store.grants.get("g-1")).toEqual(g);
      expect(await store.grants.get("missing")).toBeNull();
      await expect(store.grants.create(grant("g-1", "dev"))).rejects.toBeInstanceOf(StoreConflictError);
      await expect(store.grants.create(grant("g-9", "no-such-cluster"))).rejects.toBeInstanceOf(StoreReferenceError);

      await store.grants.create(grant("g-2", "dev", { subjectName: "bob" }));
      await store.grants.create(grant("g-3", "prod", { subjectKind: "group", subjectName: "sre", state: "REVOKED" }));
      await store.grants.create(grant("g-4", "prod", { subjectName: "bob" }));

      const ids = async (...args: Parameters<Store["grants"]["list"]>) => (await store.grants.list(...args)).map((x) => x.id);
      expect(await ids({}, { limit: 10 })).toEqual(["g-1", "g-2", "g-3", "g-4"]);
      expect(await ids({}, { limit: 2 })).toEqual(["g-1", "g-2"]);
      expect(await ids({}, { after: "g-2", limit: 2 })).toEqual(["g-3", "g-4"]);
      expect(await ids({ cluster: "prod" }, { limit: 10 })).toEqual(["g-1", "g-3", "g-4"]);
      expect(await ids({ subjectKind: "user", subjectName: "bob" }, { limit: 10 })).toEqual(["g-2", "g-4"]);
      expect(await ids({ state: "REVOKED" }, { limit: 10 })).toEqual(["g-3"]);
      expect(await ids({ cluster: "prod", subjectName: "bob" }, { after: "g-1", limit: 10 })).toEqual(["g-4"]);
    });

    it("listFor finds the user's grants and their groups' grants in the given states", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.clusters.create(cluster("dev"));
      await store.grants.create(grant("a-user-prod", "prod"));
      await store.grants.create(grant("b-sre-prod", "prod", { subjectKind: "group", subjectName: "sre", state: "PENDING" }));
      await store.grants.create(grant("c-dev-prod", "prod", { subjectKind: "group", subjectName: "devs" }));
      await store.grants.create(grant("d-user-dev", "dev"));
      await store.grants.create(grant("e-revoked", "prod", { state: "REVOKED" }));
      await store.grants.create(grant("f-bob", "prod", { subjectName: "bob" }));
      // A group named like the user must not match the user, nor the reverse.
      await store.grants.create(grant("g-group-alice", "prod", { subjectKind: "group", subjectName: "alice" }));
      await store.grants.create(grant("h-user-sre", "prod", { subjectKind: "user", subjectName: "sre" }));

      const ids = async (...args: Parameters<Store["grants"]["listFor"]>) => (await store.grants.listFor(...args)).map((x) => x.id);
      const live = ["PENDING", "APPLIED"] as const;
      expect(await ids("prod", "alice", ["sre"], [...live])).toEqual(["a-user-prod", "b-sre-prod"]);
      expect(await ids("prod", "alice", ["sre", "devs"], [...live])).toEqual(["a-user-prod", "b-sre-prod", "c-dev-prod"]);
      expect(await ids("prod", "alice", [], [...live])).toEqual(["a-user-prod"]);
      expect(await ids("prod", "alice", ["sre"], ["APPLIED"])).toEqual(["a-user-prod"]);
      expect(await ids(null, "alice", ["sre"], [...live])).toEqual(["a-user-prod", "b-sre-prod", "d-user-dev"]);
      expect(await ids("prod", "alice", [], ["REVOKED"])).toEqual(["e-revoked"]);
      expect(await ids("prod", "alice", ["sre"], [])).toEqual([]);
      expect(await ids("prod", "nobody", ["nogroup"], [...live])).toEqual([]);
    });

    it("setState records the state, and expireDue expires only live grants that are due", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.grants.create(grant("due-pending", "prod", { state: "PENDING", expiresAt: at(1_000) }));
      await store.grants.create(grant("due-applied", "prod", { expiresAt: at(2_000) }));
      await store.grants.create(grant("due-failed", "prod", { state: "FAILED", expiresAt: at(2_000) }));
      await store.grants.create(grant("due-revoked", "prod", { state: "REVOKED", expiresAt: at(1_000) }));
      await store.grants.create(grant("later", "prod", { expiresAt: at(10_000) }));
      await store.grants.create(grant("forever", "prod", { expiresAt: null }));

      const applied = await store.grants.setState("due-pending", "APPLIED", "rbac live", at(500));
      expect(applied).toMatchObject({ state: "APPLIED", stateMessage: "rbac live", updatedAt: at(500) });
      expect(await store.grants.get("due-pending")).toEqual(applied);
      expect(await store.grants.setState("missing", "APPLIED", "", at(500))).toBeNull();

      const start = await store.changes.latestRevision();
      const expired = await store.grants.expireDue(at(2_000));
      expect(expired.map((g) => g.id)).toEqual(["due-applied", "due-failed", "due-pending"]);
      expect(expired.every((g) => g.state === "EXPIRED" && g.updatedAt.getTime() === at(2_000).getTime())).toBe(true);
      expect((await store.grants.get("due-revoked"))?.state).toBe("REVOKED");
      expect((await store.grants.get("later"))?.state).toBe("APPLIED");
      expect((await store.grants.get("forever"))?.state).toBe("APPLIED");
      expect(await events(store, start)).toEqual(["grant:due-applied", "grant:due-failed", "grant:due-pending"]);
      expect(await store.grants.expireDue(at(2_000))).toEqual([]);
    });
  });

  describe("api keys", () => {
    it("creates, finds by secret hash, revokes once, touches and pages", async () => {
      const { store } = await setup();
      const k1 = apiKey("k1", { expiresAt: at(1_000_000) });
      await store.apiKeys.create(k1);
      await store.apiKeys.create(apiKey("k2"));
      await store.apiKeys.create(apiKey("k3"));
      expect(await store.apiKeys.get("k1")).toEqual(k1);
      expect(await store.apiKeys.get("nope")).toBeNull();
      expect(await store.apiKeys.findBySecretHash("hash-of-k2")).toEqual(apiKey("k2"));
      expect(await store.apiKeys.findBySecretHash("nope")).toBeNull();
      await expect(store.apiKeys.create(apiKey("k1", { secretHash: "fresh" }))).rejects.toBeInstanceOf(StoreConflictError);
      await expect(store.apiKeys.create(apiKey("k9", { secretHash: "hash-of-k1" }))).rejects.toBeInstanceOf(StoreConflictError);

      expect(await store.apiKeys.revoke("k2", at(10))).toBe(true);
      expect(await store.apiKeys.revoke("k2", at(20))).toBe(true);
      expect((await store.apiKeys.get("k2"))?.revokedAt).toEqual(at(10));
      expect(await store.apiKeys.revoke("nope", at(10))).toBe(false);

      await store.apiKeys.touch("k1", at(30));
      expect((await store.apiKeys.get("k1"))?.lastUsedAt).toEqual(at(30));

      const ids = async (...args: Parameters<Store["apiKeys"]["list"]>) => (await store.apiKeys.list(...args)).map((k) => k.id);
      expect(await ids({ limit: 10 }, false)).toEqual(["k1", "k3"]);
      expect(await ids({ limit: 10 }, true)).toEqual(["k1", "k2", "k3"]);
      expect(await ids({ after: "k1", limit: 1 }, true)).toEqual(["k2"]);
      // API keys are not part of the data plane's view.
      expect(await store.changes.latestRevision()).toBe(0);
    });

    it("prunes exchanged keys that ended before a time, and nothing else", async () => {
      const { store } = await setup();
      const by = "token-exchange:https://ci_100%.example";
      await store.apiKeys.create(apiKey("x-expired", { createdBy: by, expiresAt: at(100) }));
      await store.apiKeys.create(apiKey("x-revoked", { createdBy: by, expiresAt: at(5_000), revokedAt: at(50) }));
      await store.apiKeys.create(apiKey("x-live", { createdBy: by, expiresAt: at(5_000) }));
      await store.apiKeys.create(apiKey("x-recent", { createdBy: by, expiresAt: at(900) }));
      // A person's key that expired long ago, and one whose creator only looks alike (% and _ are no wildcards).
      await store.apiKeys.create(apiKey("person", { createdBy: "admin", expiresAt: at(100) }));
      await store.apiKeys.create(apiKey("lookalike", { createdBy: "token-exchange:https://ciX100Y.example", expiresAt: at(100) }));
      expect(await store.apiKeys.pruneEnded(by, at(500))).toBe(2);
      const left = (await store.apiKeys.list({ limit: 10 }, true)).map((k) => k.id);
      expect(left).toEqual(["lookalike", "person", "x-live", "x-recent"]);
      expect(await store.apiKeys.pruneEnded(by, at(500))).toBe(0);
    });
  });

  describe("signing keys", () => {
    it("inserts, lists unretired keys oldest first, moves activeUntil and prunes retired keys", async () => {
      const { store } = await setup();
      await store.signingKeys.insert(signingKey("k-new", { createdAt: at(2_000), retireAt: at(100_000) }));
      await store.signingKeys.insert(signingKey("k-old", { createdAt: at(1_000), retireAt: at(50_000) }));
      await store.signingKeys.insert(signingKey("k-gone", { createdAt: at(0), retireAt: at(10_000) }));
      await expect(store.signingKeys.insert(signingKey("k-new"))).rejects.toBeInstanceOf(StoreConflictError);

      expect((await store.signingKeys.list(at(0))).map((k) => k.kid)).toEqual(["k-gone", "k-old", "k-new"]);
      expect(await store.signingKeys.list(at(10_000))).toEqual([
        signingKey("k-old", { createdAt: at(1_000), retireAt: at(50_000) }),
        signingKey("k-new", { createdAt: at(2_000), retireAt: at(100_000) }),
      ]);

      await store.signingKeys.setActiveUntil("k-old", at(5_000));
      expect((await store.signingKeys.list(at(0))).find((k) => k.kid === "k-old")?.activeUntil).toEqual(at(5_000));

      const start = await store.changes.latestRevision();
      expect(await store.signingKeys.pruneRetired(at(50_000))).toEqual(["k-gone", "k-old"]);
      expect((await store.signingKeys.list(at(0))).map((k) => k.kid)).toEqual(["k-new"]);
      expect(await events(store, start)).toEqual(["signing_key:k-gone:deleted", "signing_key:k-old:deleted"]);
      expect(await events(store)).toEqual([
        "signing_key:k-new",
        "signing_key:k-old",
        "signing_key:k-gone",
        "signing_key:k-old",
        "signing_key:k-gone:deleted",
        "signing_key:k-old:deleted",
      ]);
    });
  });

  describe("revocations", () => {
    it("records token revocations once, lists live ones and prunes expired ones", async () => {
      const { store } = await setup();
      await store.revocations.revokeToken({ jti: "j1", expiresAt: at(1_000), revokedAt: at(0) });
      await store.revocations.revokeToken({ jti: "j2", expiresAt: at(5_000), revokedAt: at(0) });
      await store.revocations.revokeToken({ jti: "j2", expiresAt: at(9_000), revokedAt: at(10) });
      expect(await store.revocations.isTokenRevoked("j1")).toBe(true);
      expect(await store.revocations.isTokenRevoked("j3")).toBe(false);
      expect(await store.revocations.listTokens(at(1_000))).toEqual([{ jti: "j2", expiresAt: at(5_000), revokedAt: at(0) }]);
      expect((await store.revocations.listTokens(at(0))).map((r) => r.jti)).toEqual(["j1", "j2"]);
      expect(await events(store)).toEqual(["token_revocation:j1", "token_revocation:j2"]);

      expect(await store.revocations.pruneExpired(at(1_000))).toBe(1);
      expect(await store.revocations.isTokenRevoked("j1")).toBe(false);
      expect(await store.revocations.isTokenRevoked("j2")).toBe(true);
    });

    it("keeps the latest subject revocation instant", async () => {
      const { store } = await setup();
      await store.revocations.revokeSubject({ subjectKind: "user", subjectName: "alice", revokedAt: at(100) });
      await store.revocations.revokeSubject({ subjectKind: "group", subjectName: "dev", revokedAt: at(100) });
      await store.revocations.revokeSubject({ subjectKind: "user", subjectName: "alice", revokedAt: at(50) });
      await store.revocations.revokeSubject({ subjectKind: "user", subjectName: "alice", revokedAt: at(200) });
      expect(await store.revocations.listSubjects()).toEqual([
        { subjectKind: "group", subjectName: "dev", revokedAt: at(100) },
        { subjectKind: "user", subjectName: "alice", revokedAt: at(200) },
      ]);
      // The older instant changed nothing, so it logged nothing.
      expect(await events(store)).toEqual(["subject_revocation:user:alice", "subject_revocation:group:dev", "subject_revocation:user:alice"]);
    });
  });

  describe("change log", () => {
    it("keeps events in commit order, reads them after a revision and prunes all but the latest", async () => {
      const { store } = await setup();
      expect(await store.changes.latestRevision()).toBe(0);
      expect(await store.changes.oldestRevision()).toBe(0);
      expect(await store.changes.since(0, 10)).toEqual([]);

      const before = Date.now();
      await store.clusters.create(cluster("prod"));
      await store.grants.create(grant("g1", "prod"));
      await store.revocations.revokeToken({ jti: "j1", expiresAt: at(1_000), revokedAt: at(0) });
      await store.revocations.revokeSubject({ subjectKind: "group", subjectName: "dev", revokedAt: at(0) });
      await store.signingKeys.insert(signingKey("k1"));
      const after = Date.now();

      const all = await store.changes.since(0, 100);
      expect(all.map((e) => [e.kind, e.key, e.deleted])).toEqual([
        ["cluster", "prod", false],
        ["grant", "g1", false],
        ["token_revocation", "j1", false],
        ["subject_revocation", "group:dev", false],
        ["signing_key", "k1", false],
      ]);
      const revisions = all.map((e) => e.revision);
      expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
      expect(new Set(revisions).size).toBe(5);
      for (const e of all) {
        expect(e.at).toBeInstanceOf(Date);
        expect(e.at.getTime()).toBeGreaterThanOrEqual(before);
        expect(e.at.getTime()).toBeLessThanOrEqual(after);
      }
      const [first, second, third] = revisions as [number, number, number];
      expect(await store.changes.latestRevision()).toBe(revisions.at(-1));
      expect(await store.changes.oldestRevision()).toBe(first);
      expect((await store.changes.since(first, 2)).map((e) => e.revision)).toEqual([second, third]);
      expect(await store.changes.since(revisions.at(-1) ?? 0, 10)).toEqual([]);

      // Everything is older than "the future", yet the latest event stays so the revision
      // never goes back; new events continue after it.
      expect(await store.changes.prune(new Date(Date.now() + 60_000))).toBe(4);
      expect(await store.changes.oldestRevision()).toBe(revisions.at(-1));
      expect(await store.changes.latestRevision()).toBe(revisions.at(-1));
      expect(await store.changes.prune(new Date(Date.now() + 60_000))).toBe(0);
      await store.clusters.delete("prod");
      const next = await store.changes.since(revisions.at(-1) ?? 0, 10);
      expect(next.map((e) => `${e.kind}:${e.key}:${e.deleted}`)).toEqual(["grant:g1:true", "cluster:prod:true"]);
      expect(next[0]?.revision).toBeGreaterThan(revisions.at(-1) ?? 0);
      expect(await store.changes.prune(new Date(0))).toBe(0);
    });

    it("a failed mutation leaves neither data nor an event", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"));
      const rev = await store.changes.latestRevision();
      await expect(store.clusters.create(cluster("prod", { displayName: "other" }))).rejects.toBeInstanceOf(StoreConflictError);
      await expect(store.grants.create(grant("g", "ghost"))).rejects.toBeInstanceOf(StoreReferenceError);
      expect(await store.changes.latestRevision()).toBe(rev);
      expect((await store.clusters.get("prod"))?.displayName).toBe("Cluster prod");
    });

    it("notifies subscribers after commits, coalescing bursts, until they unsubscribe", async () => {
      const { store } = await setup();
      let calls = 0;
      let seenRevision = -1;
      const unsubscribe = store.changes.subscribe(() => {
        calls += 1;
        // Called after commit: the change is readable from inside the listener.
        void store.changes.latestRevision().then((r) => (seenRevision = r));
      });
      await store.clusters.create(cluster("prod"));
      await waitFor(() => calls >= 1 && seenRevision >= 1);

      calls = 0;
      await Promise.all([store.clusters.create(cluster("a")), store.clusters.create(cluster("b")), store.clusters.create(cluster("c"))]);
      await waitFor(() => calls >= 1);
      // Each commit may notify (PostgreSQL commits them on separate connections), but a
      // burst never notifies more than once per commit.
      await sleep(50);
      expect(calls).toBeLessThanOrEqual(3);

      // Writes that log nothing notify nobody.
      calls = 0;
      await store.apiKeys.create(apiKey("k"));
      await store.meta.set("x", "y");
      await expect(store.clusters.create(cluster("prod"))).rejects.toThrow();
      await sleep(50);
      expect(calls).toBe(0);

      unsubscribe();
      await store.clusters.create(cluster("d"));
      await sleep(50);
      expect(calls).toBe(0);
    });
  });

  describe("idempotent results", () => {
    const result = (key: string, secret: string, ms = 0) => ({ key, fingerprint: `fp-${key}`, response: new TextEncoder().encode(`answer with ${secret}`), createdAt: at(ms) });

    it("records a create's answer in its transaction, sealed, and never without the create", async () => {
      const { store, database } = await setup();
      await store.clusters.create(cluster("prod"), result("c1", "kgb_bootstrap-secret"));
      await store.grants.create(grant("g1", "prod"), result("g1", "grant"));
      await store.apiKeys.create(apiKey("k1"), result("k1", "kg_api-key-secret"));
      const got = await store.idempotentResults.get("c1");
      expect(got?.fingerprint).toBe("fp-c1");
      expect(new TextDecoder().decode(got?.response)).toBe("answer with kgb_bootstrap-secret");
      expect(got?.createdAt).toEqual(at(0));
      expect(await store.idempotentResults.get("nope")).toBeNull();
      const dump = JSON.stringify(await database.raw("select * from idempotent_results"));
      expect(dump).not.toContain("bootstrap-secret");
      expect(dump).not.toContain("api-key-secret");

      // A create that fails leaves no answer behind, and an answer's key is used once.
      await expect(store.grants.create(grant("g1", "prod"), result("g1-again", "x"))).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.idempotentResults.get("g1-again")).toBeNull();
      await expect(store.grants.create(grant("g2", "prod"), result("g1", "x"))).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.grants.get("g2")).toBeNull();
      await expect(store.apiKeys.create(apiKey("k2"), result("k1", "x"))).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.apiKeys.get("k2")).toBeNull();
    });

    it("forgets answers older than the window", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"), result("old", "a", 1_000));
      await store.clusters.create(cluster("dev"), result("new", "b", 5_000));
      expect(await store.idempotentResults.prune(at(2_000))).toBe(1);
      expect(await store.idempotentResults.get("old")).toBeNull();
      expect(await store.idempotentResults.get("new")).not.toBeNull();
    });
  });

  describe("data planes (the agent mesh)", () => {
    it("logs joins and leaves, keeps a newer stream's membership, and says which clusters lost their last tunnel", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("edge", { mode: "agent" }));
      await store.clusters.create(cluster("far", { mode: "agent" }));
      const before = await store.changes.latestRevision();
      await store.dataPlanes.join("dp-b", "host-b", "s1", at(1_000));
      await store.dataPlanes.join("dp-a", "host-a", "s2", at(1_000));
      // A known process on a new stream (it redialed another control plane) is no new member.
      await store.dataPlanes.join("dp-b", "host-b", "s3", at(2_000));
      expect(await events(store, before)).toEqual(["data_plane:dp-b", "data_plane:dp-a"]);
      expect(await store.dataPlanes.list()).toEqual(["dp-a", "dp-b"]);
      expect(await store.dataPlanes.touch("dp-b", "s1", at(3_000))).toBe(false);
      expect(await store.dataPlanes.touch("dp-b", "s3", at(3_000))).toBe(true);

      expect(await store.dataPlanes.setReachable("edge", "dp-a", true)).toBe(1);
      expect(await store.dataPlanes.setReachable("edge", "dp-b", true)).toBe(2);
      expect(await store.dataPlanes.setReachable("edge", "dp-b", true)).toBe(2);
      expect(await store.dataPlanes.setReachable("far", "dp-b", true)).toBe(1);
      // A tunnel reported by a process that is not a member does not count.
      expect(await store.dataPlanes.setReachable("far", "dp-gone", true)).toBe(1);

      // The old stream's end must not remove the membership the new stream holds.
      const mid = await store.changes.latestRevision();
      expect(await store.dataPlanes.leave("dp-b", "s1")).toEqual([]);
      expect(await store.dataPlanes.list()).toEqual(["dp-a", "dp-b"]);
      expect(await store.dataPlanes.leave("dp-b", "s3")).toEqual(["far"]);
      expect(await store.dataPlanes.list()).toEqual(["dp-a"]);
      expect(await events(store, mid)).toEqual(["data_plane:dp-b:deleted"]);
      expect(await store.dataPlanes.setReachable("edge", "dp-a", false)).toBe(0);
    });

    it("expires processes not seen since an instant, with their tunnels", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("edge", { mode: "agent" }));
      await store.dataPlanes.join("dp-old", "h", "s1", at(1_000));
      await store.dataPlanes.join("dp-new", "h", "s2", at(1_000));
      await store.dataPlanes.touch("dp-new", "s2", at(9_000));
      await store.dataPlanes.setReachable("edge", "dp-old", true);
      expect(await store.dataPlanes.expire(at(5_000))).toEqual({ ids: ["dp-old"], orphaned: ["edge"] });
      expect(await store.dataPlanes.expire(at(5_000))).toEqual({ ids: [], orphaned: [] });
      expect(await store.dataPlanes.list()).toEqual(["dp-new"]);
      expect(await store.dataPlanes.setReachable("edge", "dp-new", true)).toBe(1);
      // Deleting the cluster forgets its tunnels too.
      await store.clusters.delete("edge");
      await store.clusters.create(cluster("edge", { mode: "agent" }));
      expect(await store.dataPlanes.setReachable("edge", "dp-old", false)).toBe(0);
    });

    it("counts the data planes a direct cluster answered, and forgets one's answer when it leaves", async () => {
      const { store } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.dataPlanes.join("dp-a", "h", "s1", at(1_000));
      await store.dataPlanes.join("dp-b", "h", "s2", at(1_000));
      expect(await store.dataPlanes.setReachable("prod", "dp-a", true)).toBe(1);
      // dp-b's failed probe leaves dp-a's answer standing.
      expect(await store.dataPlanes.setReachable("prod", "dp-b", false)).toBe(1);
      expect(await store.dataPlanes.setReachable("prod", "dp-b", true)).toBe(2);
      expect(await store.dataPlanes.leave("dp-a", "s1")).toEqual([]);
      expect(await store.dataPlanes.leave("dp-b", "s2")).toEqual(["prod"]);
    });
  });

  describe("audit events", () => {
    /** Every page of a newest-first listing, walked by keyset. */
    async function walk(store: Store, filter: { cluster?: string; actor?: string }, limit: number): Promise<string[]> {
      const ids: string[] = [];
      let before: { at: Date; id: string } | undefined;
      for (;;) {
        const page = await store.auditEvents.list(filter, { before, limit });
        ids.push(...page.map((e) => e.id));
        if (page.length < limit) return ids;
        const last = page.at(-1)!;
        before = { at: last.at, id: last.id };
      }
    }

    it("appends a batch, keeps a repeated id once, and lists newest first with keyset pages", async () => {
      const { store } = await setup();
      const read = auditEvent("e2", 2_000, { kind: "request", verb: "get", name: "", count: 41, firstAt: at(500), status: 200 });
      expect(await store.auditEvents.append([auditEvent("e1", 1_000), read, auditEvent("e3", 3_000, { cluster: "", kind: "apikey.create", actor: "admin", status: 0 })])).toBe(3);
      // A retried report: the stored event stays as it was, the new one is added.
      expect(await store.auditEvents.append([auditEvent("e1", 9_000, { name: "changed" }), auditEvent("e4", 3_000, { cluster: "dev", actor: "bob" })])).toBe(1);
      expect(await store.auditEvents.append([])).toBe(0);

      const all = await store.auditEvents.list({}, { limit: 10 });
      // Same instant: the larger id first, so (at, id) is a total order for the pages.
      expect(all.map((e) => e.id)).toEqual(["e4", "e3", "e2", "e1"]);
      expect(all.find((e) => e.id === "e1")).toEqual(auditEvent("e1", 1_000));
      expect(all.find((e) => e.id === "e2")).toEqual(read);
      expect((await store.auditEvents.list({ cluster: "prod" }, { limit: 10 })).map((e) => e.id)).toEqual(["e2", "e1"]);
      expect((await store.auditEvents.list({ cluster: "" }, { limit: 10 })).map((e) => e.id)).toEqual(["e3"]);
      expect((await store.auditEvents.list({ actor: "bob" }, { limit: 10 })).map((e) => e.id)).toEqual(["e4"]);
      expect((await store.auditEvents.list({ cluster: "prod", actor: "bob" }, { limit: 10 })).map((e) => e.id)).toEqual([]);
      expect((await store.auditEvents.list({}, { before: { at: at(3_000), id: "e4" }, limit: 2 })).map((e) => e.id)).toEqual(["e3", "e2"]);

      // Many events at few instants: pages of 3 meet every event once, in order.
      const many = Array.from({ length: 25 }, (_, i) => auditEvent(`m${String(i).padStart(2, "0")}`, 10_000 + (i % 4)));
      expect(await store.auditEvents.append(many)).toBe(25);
      const walked = await walk(store, { cluster: "prod" }, 3);
      expect(walked).toHaveLength(27);
      expect(new Set(walked).size).toBe(27);
      expect(walked).toEqual((await store.auditEvents.list({ cluster: "prod" }, { limit: 100 })).map((e) => e.id));
      // Writing audit events logs no change: no data plane needs them.
      expect(await store.changes.latestRevision()).toBe(0);
    });

    it("prunes events older than a cutoff and caps each cluster at its newest events", async () => {
      const { store } = await setup();
      const prod = Array.from({ length: 12 }, (_, i) => auditEvent(`p${String(i).padStart(2, "0")}`, i * 1_000));
      const dev = Array.from({ length: 3 }, (_, i) => auditEvent(`d${i}`, i * 1_000, { cluster: "dev" }));
      const none = Array.from({ length: 6 }, (_, i) => auditEvent(`n${i}`, 500 + i * 1_000, { cluster: "" }));
      await store.auditEvents.append([...prod, ...dev, ...none]);

      expect(await store.auditEvents.prune(at(2_000))).toBe(2 + 2 + 2);
      expect((await store.auditEvents.list({ cluster: "dev" }, { limit: 10 })).map((e) => e.id)).toEqual(["d2"]);
      expect(await store.auditEvents.prune(at(2_000))).toBe(0);

      // Ties at the boundary instant are cut by id, as the pages order them.
      await store.auditEvents.append([auditEvent("p10b", 10_000), auditEvent("p10a", 10_000)]);
      expect(await store.auditEvents.cap(4)).toBe(8 + 0);
      expect((await store.auditEvents.list({ cluster: "prod" }, { limit: 10 })).map((e) => e.id)).toEqual(["p11", "p10b", "p10a", "p10"]);
      expect((await store.auditEvents.list({ cluster: "" }, { limit: 10 })).map((e) => e.id)).toEqual(["n5", "n4", "n3", "n2"]);
      expect((await store.auditEvents.list({ cluster: "dev" }, { limit: 10 })).map((e) => e.id)).toEqual(["d2"]);
      expect(await store.auditEvents.cap(4)).toBe(0);
      expect(await store.auditEvents.cap(1)).toBe(3 + 3);
    });
  });

  describe("at rest", () => {
    it("seals cluster credentials and signing private keys", async () => {
      const { store, database } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.clusters.create(cluster("mtls", { credential: { kind: "client-certificate", certPem: "CERT-PEM", keyPem: "PRIVATE-KEY-PEM-BYTES" } }));
      await store.clusters.create(cluster("fp", { identityMode: "front-proxy", manageRbac: false, credential: { kind: "front-proxy", certPem: "FP-CERT", keyPem: "FRONT-PROXY-KEY-BYTES" } }));
      await store.signingKeys.insert(signingKey("k1"));

      const clusterRows = await database.raw("select * from clusters");
      const keyRows = await database.raw("select * from signing_keys");
      const dump = JSON.stringify([clusterRows, keyRows]);
      expect(clusterRows).toHaveLength(3);
      expect(keyRows).toHaveLength(1);
      expect(dump).not.toContain("super-secret-token-of-prod");
      expect(dump).not.toContain("PRIVATE-KEY-PEM-BYTES");
      expect(dump).not.toContain("FRONT-PROXY-KEY-BYTES");
      expect(dump).not.toContain("private-d-of-k1");
      expect(String(keyRows[0]?.private_jwk_sealed)).toMatch(/^v1:/);
      // The public half stays readable; only secrets are sealed.
      expect(dump).toContain("public-k1");
    });

    it("survives a restart", async () => {
      const { store, open } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.grants.create(grant("g1", "prod"));
      await store.signingKeys.insert(signingKey("k1"));
      await store.meta.set("bootstrap", "done");
      const rev = await store.changes.latestRevision();
      await store.close();
      await store.close(); // idempotent

      const again = await open();
      expect(await again.clusters.get("prod")).toEqual(cluster("prod"));
      expect(await again.grants.get("g1")).toEqual(grant("g1", "prod"));
      expect((await again.signingKeys.list(T0))[0]?.privateJwk).toBe(signingKey("k1").privateJwk);
      expect(await again.meta.get("bootstrap")).toBe("done");
      expect(await again.meta.get("absent")).toBeNull();
      expect(await again.changes.latestRevision()).toBe(rev);
      await again.meta.set("bootstrap", "redone");
      expect(await again.meta.get("bootstrap")).toBe("redone");
      // claim sets only an absent key, and among racing callers exactly one wins.
      expect(await again.meta.claim("bootstrap", "other")).toBe(false);
      expect(await again.meta.get("bootstrap")).toBe("redone");
      const won = await Promise.all(["a", "b", "c", "d"].map((v) => again.meta.claim("race", v)));
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(await again.meta.get("race")).toBe(["a", "b", "c", "d"][won.indexOf(true)]);
    });

    it("refuses a wrong encryption key with a clear error", async () => {
      const { store, database, open } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.close();
      const wrong = randomBytes(32);
      await expect(open(wrong)).rejects.toThrow(/cannot decrypt .*wrong encryption key\?/);

      // Even past the start-up check, reading a secret sealed with another key says so.
      await database.raw("delete from meta");
      const misconfigured = await open(wrong);
      await expect(misconfigured.clusters.get("prod")).rejects.toThrow(/cannot decrypt .*wrong encryption key\?/);
    });

    it("binds a sealed secret to its row", async () => {
      const { store, database } = await setup();
      await store.clusters.create(cluster("prod"));
      await store.clusters.create(cluster("dev"));
      await database.raw("update clusters set credential_sealed = (select credential_sealed from clusters where name = 'prod') where name = 'dev'");
      await expect(store.clusters.get("dev")).rejects.toThrow(/cannot decrypt/);
      expect((await store.clusters.get("prod"))?.credential).toEqual(cluster("prod").credential);
    });
  });
}

export async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
  return Date.now() - start;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
