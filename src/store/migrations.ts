/**
 * The schema, as Kysely migrations kept in code (no migration folder to ship or lose).
 * One definition serves SQLite and PostgreSQL; the few differences (auto-increment,
 * byte-order collation of keys) are chosen by dialect. Add new migrations at the end,
 * never edit an applied one.
 */
import { sql, type ColumnDefinitionBuilder, type Kysely } from "kysely";
import { Migrator, type Migration, type MigrationProvider } from "kysely/migration";

export type StoreDialect = "sqlite" | "postgres";

/**
 * Applies every pending migration. Safe to call from several replicas at once on
 * PostgreSQL: Kysely's migrator holds an advisory lock while it runs, and the migration
 * bookkeeping tables are created idempotently.
 */
export async function migrateToLatest(db: Kysely<any>, dialect: StoreDialect): Promise<void> {
  const migrator = new Migrator({ db, provider: createMigrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const name = results?.find((r) => r.status === "Error")?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`store migration${name ? ` ${name}` : ""} failed: ${reason}`, { cause: error });
  }
}

export function createMigrationProvider(dialect: StoreDialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}

function migrations(dialect: StoreDialect): Record<string, Migration> {
  // Keys sort byte-wise in both dialects, so keyset pages and list order agree whatever
  // the PostgreSQL server's locale (glibc collations ignore "-" on the first pass).
  const key = dialect === "postgres" ? sql`text collate "C"` : sql`text`;

  return {
    "0001_initial": {
      async up(db) {
        await db.schema
          .createTable("clusters")
          .addColumn("name", key, (c) => c.primaryKey())
          .addColumn("display_name", "text", (c) => c.notNull())
          .addColumn("labels", "text", (c) => c.notNull())
          .addColumn("mode", "text", (c) => c.notNull())
          .addColumn("server_url", "text", (c) => c.notNull())
          .addColumn("ca_pem", "text", (c) => c.notNull())
          .addColumn("credential_sealed", "text")
          .addColumn("manage_rbac", "integer", (c) => c.notNull())
          .addColumn("status_phase", "text", (c) => c.notNull())
          .addColumn("status_kubernetes_version", "text", (c) => c.notNull())
          .addColumn("status_agent_version", "text", (c) => c.notNull())
          .addColumn("status_last_seen_at", "bigint")
          .addColumn("status_message", "text", (c) => c.notNull())
          .addColumn("agent_bootstrap_hash", "text")
          .addColumn("agent_credential_hash", "text")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("clusters_agent_bootstrap_hash").unique().on("clusters").column("agent_bootstrap_hash").execute();
        await db.schema.createIndex("clusters_agent_credential_hash").unique().on("clusters").column("agent_credential_hash").execute();

        await db.schema
          .createTable("grants")
          .addColumn("id", key, (c) => c.primaryKey())
          // No ON DELETE CASCADE: the store deletes a cluster's grants itself so that each
          // deletion is logged as a change event.
          .addColumn("cluster", key, (c) => c.notNull().references("clusters.name"))
          .addColumn("subject_kind", "text", (c) => c.notNull())
          .addColumn("subject_name", "text", (c) => c.notNull())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("namespaces", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("state_message", "text", (c) => c.notNull())
          .addColumn("expires_at", "bigint")
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addColumn("created_by", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("grants_cluster").on("grants").column("cluster").execute();
        await db.schema.createIndex("grants_subject").on("grants").columns(["subject_kind", "subject_name"]).execute();
        await db.schema.createIndex("grants_state_expires").on("grants").columns(["state", "expires_at"]).execute();

        await db.schema
          .createTable("api_keys")
          .addColumn("id", key, (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("subject", "text", (c) => c.notNull())
          .addColumn("groups", "text", (c) => c.notNull())
          .addColumn("secret_hash", "text", (c) => c.notNull().unique())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint")
          .addColumn("revoked_at", "bigint")
          .addColumn("last_used_at", "bigint")
          .addColumn("created_by", "text", (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("signing_keys")
          .addColumn("kid", key, (c) => c.primaryKey())
          .addColumn("private_jwk_sealed", "text", (c) => c.notNull())
          .addColumn("public_x", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("active_until", "bigint", (c) => c.notNull())
          .addColumn("retire_at", "bigint", (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("token_revocations")
          .addColumn("jti", key, (c) => c.primaryKey())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addColumn("revoked_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("token_revocations_expires").on("token_revocations").column("expires_at").execute();

        await db.schema
          .createTable("subject_revocations")
          .addColumn("subject_kind", key, (c) => c.notNull())
          .addColumn("subject_name", key, (c) => c.notNull())
          .addColumn("revoked_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("subject_revocations_pk", ["subject_kind", "subject_name"])
          .execute();

        // AUTOINCREMENT (SQLite) and a sequence (PostgreSQL) never reuse a revision, even
        // after pruning, so a sync client's resume point stays meaningful.
        let changes = db.schema.createTable("changes");
        changes =
          dialect === "postgres"
            ? changes.addColumn("revision", "bigserial", (c) => c.primaryKey())
            : changes.addColumn("revision", "integer", (c) => c.primaryKey().autoIncrement());
        await changes
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("deleted", "integer", (c) => c.notNull())
          .addColumn("at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("changes_at").on("changes").column("at").execute();

        await db.schema
          .createTable("meta")
          .addColumn("key", key, (c) => c.primaryKey())
          .addColumn("value", "text", (c) => c.notNull())
          .execute();
      },

      async down(db) {
        for (const table of ["meta", "changes", "subject_revocations", "token_revocations", "signing_keys", "api_keys", "grants", "clusters"]) {
          await db.schema.dropTable(table).ifExists().execute();
        }
      },
    },

    // The first answer of a create carrying a request_id, written in the create's own
    // transaction, so a retry after a lost acknowledgement finds it.
    "0002_idempotent_results": {
      async up(db) {
        await db.schema
          .createTable("idempotent_results")
          .addColumn("key", key, (c) => c.primaryKey())
          .addColumn("fingerprint", "text", (c) => c.notNull())
          .addColumn("response_sealed", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("idempotent_results_created").on("idempotent_results").column("created_at").execute();
      },
      async down(db) {
        await db.schema.dropTable("idempotent_results").ifExists().execute();
      },
    },

    // The agent mesh: live data-plane processes, and which of them holds each agent's
    // tunnel, so a cluster is OFFLINE only when no data plane has it.
    "0003_data_planes": {
      async up(db) {
        await db.schema
          .createTable("data_planes")
          .addColumn("id", key, (c) => c.primaryKey())
          .addColumn("replica", "text", (c) => c.notNull())
          .addColumn("stream", "text", (c) => c.notNull())
          .addColumn("seen_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("agent_tunnels")
          .addColumn("cluster", key, (c) => c.notNull())
          .addColumn("data_plane", key, (c) => c.notNull())
          .addPrimaryKeyConstraint("agent_tunnels_pk", ["cluster", "data_plane"])
          .execute();
        await db.schema.createIndex("agent_tunnels_data_plane").on("agent_tunnels").column("data_plane").execute();
      },
      async down(db) {
        await db.schema.dropTable("agent_tunnels").ifExists().execute();
        await db.schema.dropTable("data_planes").ifExists().execute();
      },
    },

    // Per-cluster identity mode (issue #15): impersonation, as every cluster had before, or
    // the aggregation layer's front-proxy request headers.
    "0004_identity_mode": {
      async up(db) {
        await db.schema.alterTable("clusters").addColumn("identity_mode", "text", (c) => c.notNull().defaultTo("impersonate")).execute();
      },
      async down(db) {
        await db.schema.alterTable("clusters").dropColumn("identity_mode").execute();
      },
    },

    // Recent audit events for AuditLog (issue #16): newest first per cluster, or over all
    // clusters, in keyset pages of (at, id); by actor for the subject filter.
    "0005_audit_events": {
      async up(db) {
        const text = (c: ColumnDefinitionBuilder) => c.notNull().defaultTo("");
        const number = (c: ColumnDefinitionBuilder) => c.notNull().defaultTo(0);
        await db.schema
          .createTable("audit_events")
          .addColumn("id", key, (c) => c.primaryKey())
          .addColumn("at", "bigint", (c) => c.notNull())
          .addColumn("first_at", "bigint", (c) => c.notNull())
          .addColumn("cluster", key, text)
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("actor", key, text)
          .addColumn("verb", "text", text)
          .addColumn("api_group", "text", text)
          .addColumn("resource", "text", text)
          .addColumn("namespace", "text", text)
          .addColumn("name", "text", text)
          .addColumn("status", "integer", number)
          .addColumn("message", "text", text)
          .addColumn("grant_id", "text", text)
          .addColumn("target_subject", "text", text)
          .addColumn("count", "bigint", number)
          .addColumn("request_id", "text", text)
          .addColumn("duration_ms", "bigint", number)
          .addColumn("bytes_in", "bigint", number)
          .addColumn("bytes_out", "bigint", number)
          .addColumn("source", "text", text)
          .execute();
        await db.schema.createIndex("audit_events_cluster_at").on("audit_events").columns(["cluster", "at desc", "id desc"]).execute();
        await db.schema.createIndex("audit_events_at").on("audit_events").columns(["at desc", "id desc"]).execute();
        await db.schema.createIndex("audit_events_actor_at").on("audit_events").columns(["actor", "at desc", "id desc"]).execute();
      },
      async down(db) {
        await db.schema.dropTable("audit_events").ifExists().execute();
      },
    },
  };
}
