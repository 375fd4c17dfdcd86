/**
 * The one Store implementation, over a Kysely<Database> of either dialect: the
 * repositories share a context, and every write goes through the change log's `mutate`.
 */
import type { Kysely } from "kysely";
import { createApiKeysRepository } from "./api-keys.ts";
import { createAuditEventsRepository } from "./audit-events.ts";
import { createChangesRepository, createMutate, type ChangeNotifier } from "./change-log.ts";
import { createClustersRepository } from "./clusters.ts";
import { createDataPlanesRepository } from "./data-planes.ts";
import type { StoreContext } from "./context.ts";
import { createGrantsRepository } from "./grants.ts";
import { createIdempotentResultsRepository } from "./idempotent-results.ts";
import { createMetaRepository } from "./meta.ts";
import type { StoreDialect } from "./migrations.ts";
import { createRevocationsRepository } from "./revocations.ts";
import type { Database } from "./schema.ts";
import type { Sealer } from "./seal.ts";
import { createSigningKeysRepository } from "./signing-keys.ts";
import type { Store } from "./types.ts";

export interface SqlStoreOptions {
  db: Kysely<Database>;
  dialect: StoreDialect;
  sealer: Sealer;
  /** Tells this process's subscribers; on PostgreSQL also fed by LISTEN. */
  notifier: ChangeNotifier;
  /** Identifies this instance in NOTIFY payloads. */
  instanceId: string;
  /** Releases resources besides `db` (the LISTEN connection); runs before `db` closes. */
  onClose?: () => Promise<void>;
}

export function createSqlStore(options: SqlStoreOptions): Store {
  const { db, dialect, sealer, notifier } = options;
  const mutate = createMutate({ db, dialect, instanceId: options.instanceId, onCommitted: () => notifier.notify() });
  const context: StoreContext = { db, sealer, mutate };
  let closing: Promise<void> | undefined;

  return {
    dialect,
    clusters: createClustersRepository(context),
    grants: createGrantsRepository(context),
    apiKeys: createApiKeysRepository(context),
    signingKeys: createSigningKeysRepository(context),
    revocations: createRevocationsRepository(context),
    changes: createChangesRepository(db, notifier),
    idempotentResults: createIdempotentResultsRepository(context),
    meta: createMetaRepository(db),
    dataPlanes: createDataPlanesRepository(context),
    auditEvents: createAuditEventsRepository(context),
    close() {
      closing ??= (async () => {
        try {
          await options.onClose?.();
        } finally {
          notifier.close();
          await db.destroy();
        }
      })();
      return closing;
    },
  };
}
