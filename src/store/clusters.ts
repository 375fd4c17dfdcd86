/**
 * Registered member clusters. The gateway's credential for a direct-mode cluster is sealed
 * at rest, bound to the cluster's name so a sealed value cannot be moved to another row.
 */
import type { Selectable, Updateable } from "kysely";
import { toDate, toDateOrNull, toMs, toMsOrNull, type StoreContext } from "./context.ts";
import { withDbErrors } from "./db-errors.ts";
import { rememberResult } from "./idempotent-results.ts";
import type { ClustersTable } from "./schema.ts";
import type { ClusterCredentialSecret, ClusterMode, ClusterPhase, ClusterRecord, IdentityMode, Store } from "./types.ts";

export function createClustersRepository({ db, sealer, mutate }: StoreContext): Store["clusters"] {
  const sealContext = (name: string): string => `cluster:${name}`;

  const sealCredential = (name: string, credential: ClusterCredentialSecret | null): string | null =>
    credential === null ? null : sealer.seal(JSON.stringify(credential), sealContext(name));

  const toRecord = (row: Selectable<ClustersTable>): ClusterRecord => ({
    name: row.name,
    displayName: row.display_name,
    labels: JSON.parse(row.labels) as Record<string, string>,
    mode: row.mode as ClusterMode,
    serverUrl: row.server_url,
    caPem: row.ca_pem,
    credential:
      row.credential_sealed === null
        ? null
        : (JSON.parse(sealer.open(row.credential_sealed, sealContext(row.name))) as ClusterCredentialSecret),
    manageRbac: Number(row.manage_rbac) === 1,
    identityMode: row.identity_mode as IdentityMode,
    status: {
      phase: row.status_phase as ClusterPhase,
      kubernetesVersion: row.status_kubernetes_version,
      agentVersion: row.status_agent_version,
      lastSeenAt: toDateOrNull(row.status_last_seen_at),
      message: row.status_message,
    },
    agentBootstrapHash: row.agent_bootstrap_hash,
    agentCredentialHash: row.agent_credential_hash,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  });

  const findBy = async (column: "name" | "agent_bootstrap_hash" | "agent_credential_hash", value: string) => {
    const row = await db.selectFrom("clusters").selectAll().where(column, "=", value).executeTakeFirst();
    return row ? toRecord(row) : null;
  };

  return {
    create: (rec, remember) =>
      withDbErrors(`cluster "${rec.name}"`, () =>
        mutate(async (trx, emit) => {
          await trx
            .insertInto("clusters")
            .values({
              name: rec.name,
              display_name: rec.displayName,
              labels: JSON.stringify(rec.labels),
              mode: rec.mode,
              server_url: rec.serverUrl,
              ca_pem: rec.caPem,
              credential_sealed: sealCredential(rec.name, rec.credential),
              manage_rbac: rec.manageRbac ? 1 : 0,
              identity_mode: rec.identityMode,
              status_phase: rec.status.phase,
              status_kubernetes_version: rec.status.kubernetesVersion,
              status_agent_version: rec.status.agentVersion,
              status_last_seen_at: toMsOrNull(rec.status.lastSeenAt),
              status_message: rec.status.message,
              agent_bootstrap_hash: rec.agentBootstrapHash,
              agent_credential_hash: rec.agentCredentialHash,
              created_at: toMs(rec.createdAt),
              updated_at: toMs(rec.updatedAt),
            })
            .execute();
          if (remember !== undefined) await rememberResult(trx, sealer, remember);
          emit("cluster", rec.name);
        }),
      ),

    get: (name) => findBy("name", name),

    async list(page) {
      let query = db.selectFrom("clusters").selectAll().orderBy("name").limit(page.limit);
      if (page.after !== undefined) query = query.where("name", ">", page.after);
      return (await query.execute()).map(toRecord);
    },

    update: (name, patch, at) =>
      withDbErrors(`cluster "${name}"`, () =>
        mutate(async (trx, emit) => {
          const set: Updateable<ClustersTable> = { updated_at: toMs(at) };
          if (patch.displayName !== undefined) set.display_name = patch.displayName;
          if (patch.labels !== undefined) set.labels = JSON.stringify(patch.labels);
          if (patch.serverUrl !== undefined) set.server_url = patch.serverUrl;
          if (patch.caPem !== undefined) set.ca_pem = patch.caPem;
          if (patch.credential !== undefined) set.credential_sealed = sealCredential(name, patch.credential);
          if (patch.manageRbac !== undefined) set.manage_rbac = patch.manageRbac ? 1 : 0;
          if (patch.agentBootstrapHash !== undefined) set.agent_bootstrap_hash = patch.agentBootstrapHash;
          if (patch.agentCredentialHash !== undefined) set.agent_credential_hash = patch.agentCredentialHash;

          const row = await trx.updateTable("clusters").set(set).where("name", "=", name).returningAll().executeTakeFirst();
          if (!row) return null;
          emit("cluster", name);
          return toRecord(row);
        }),
      ),

    setStatus: (name, status) =>
      mutate(async (trx, emit) => {
        const values = {
          status_phase: status.phase,
          status_kubernetes_version: status.kubernetesVersion,
          status_agent_version: status.agentVersion,
          status_last_seen_at: toMsOrNull(status.lastSeenAt),
          status_message: status.message,
        };
        // Heartbeats arrive every few seconds per cluster; only a change the data plane
        // cares about (phase, versions, message) goes into the change log. The conditional
        // update tells the two apart atomically, without a read-then-write race.
        const changed = await trx
          .updateTable("clusters")
          .set(values)
          .where("name", "=", name)
          .where((eb) =>
            eb.or([
              eb("status_phase", "<>", status.phase),
              eb("status_kubernetes_version", "<>", status.kubernetesVersion),
              eb("status_agent_version", "<>", status.agentVersion),
              eb("status_message", "<>", status.message),
            ]),
          )
          .executeTakeFirst();
        if (changed.numUpdatedRows > 0n) {
          emit("cluster", name);
          return true;
        }
        const seen = await trx.updateTable("clusters").set(values).where("name", "=", name).executeTakeFirst();
        return seen.numUpdatedRows > 0n;
      }),

    delete: (name) =>
      mutate(async (trx, emit) => {
        const grants = await trx.deleteFrom("grants").where("cluster", "=", name).returning("id").execute();
        await trx.deleteFrom("agent_tunnels").where("cluster", "=", name).execute();
        const deleted = await trx.deleteFrom("clusters").where("name", "=", name).executeTakeFirst();
        if (deleted.numDeletedRows === 0n) return false;
        for (const id of grants.map((g) => g.id).sort()) emit("grant", id, true);
        emit("cluster", name, true);
        return true;
      }),

    findByAgentBootstrapHash: (hash) => findBy("agent_bootstrap_hash", hash),
    findByAgentCredentialHash: (hash) => findBy("agent_credential_hash", hash),

    swapAgentCredential: (match, credentialHash, at) =>
      mutate(async (trx, emit) => {
        let query = trx
          .updateTable("clusters")
          .set({ agent_bootstrap_hash: null, agent_credential_hash: credentialHash, updated_at: toMs(at) })
          .where("mode", "=", "agent");
        query =
          "bootstrapHash" in match
            ? query.where("agent_bootstrap_hash", "=", match.bootstrapHash)
            : query.where("agent_credential_hash", "=", match.credentialHash);
        const row = await query.returningAll().executeTakeFirst();
        if (!row) return null;
        emit("cluster", row.name);
        return toRecord(row);
      }),
  };
}
