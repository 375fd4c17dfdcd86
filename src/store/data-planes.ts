/**
 * The agent mesh's membership: each data-plane process joins with its sync stream and
 * leaves when that stream ends (or expires when its control plane died without noticing),
 * and records which clusters it reaches: agent clusters whose tunnel it holds, direct ones
 * whose latest health probe it got an answer to. Joining and leaving are logged
 * as "data_plane" changes, so every data plane, and through it every agent, learns the set.
 */
import type { Transaction } from "kysely";
import { toMs, type StoreContext } from "./context.ts";
import type { Database } from "./schema.ts";
import type { EmitChange } from "./change-log.ts";
import type { Store } from "./types.ts";

/** Removes the data planes and what they reached; returns the clusters no remaining data plane reaches. */
async function remove(trx: Transaction<Database>, emit: EmitChange, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const held = await trx.deleteFrom("agent_tunnels").where("data_plane", "in", ids).returning("cluster").execute();
  await trx.deleteFrom("data_planes").where("id", "in", ids).execute();
  for (const id of ids) emit("data_plane", id, true);
  const clusters = [...new Set(held.map((h) => h.cluster))].sort();
  if (clusters.length === 0) return [];
  const still = await trx
    .selectFrom("agent_tunnels")
    .innerJoin("data_planes", "data_planes.id", "agent_tunnels.data_plane")
    .select("agent_tunnels.cluster")
    .where("agent_tunnels.cluster", "in", clusters)
    .execute();
  const kept = new Set(still.map((r) => r.cluster));
  return clusters.filter((c) => !kept.has(c));
}

export function createDataPlanesRepository({ db, mutate }: StoreContext): Store["dataPlanes"] {
  return {
    join: (id, replica, stream, at) =>
      mutate(async (trx, emit) => {
        const row = { replica, stream, seen_at: toMs(at) };
        const added = await trx.insertInto("data_planes").values({ id, ...row }).onConflict((oc) => oc.column("id").doNothing()).executeTakeFirst();
        // Only a new member changes the set; a known one just takes the new stream.
        if ((added.numInsertedOrUpdatedRows ?? 0n) > 0n) emit("data_plane", id);
        else await trx.updateTable("data_planes").set(row).where("id", "=", id).execute();
      }),

    async touch(id, stream, at) {
      const seen = await db.updateTable("data_planes").set({ seen_at: toMs(at) }).where("id", "=", id).where("stream", "=", stream).executeTakeFirst();
      return seen.numUpdatedRows > 0n;
    },

    leave: (id, stream) =>
      mutate(async (trx, emit) => {
        const row = await trx.selectFrom("data_planes").select("id").where("id", "=", id).where("stream", "=", stream).executeTakeFirst();
        return row === undefined ? [] : remove(trx, emit, [id]);
      }),

    expire: (before) =>
      mutate(async (trx, emit) => {
        const rows = await trx.selectFrom("data_planes").select("id").where("seen_at", "<", toMs(before)).orderBy("id").execute();
        const ids = rows.map((r) => r.id);
        return { ids, orphaned: await remove(trx, emit, ids) };
      }),

    async list() {
      const rows = await db.selectFrom("data_planes").select("id").orderBy("id").execute();
      return rows.map((r) => r.id);
    },

    async setReachable(cluster, dataPlane, reachable) {
      if (reachable) {
        await db.insertInto("agent_tunnels").values({ cluster, data_plane: dataPlane }).onConflict((oc) => oc.columns(["cluster", "data_plane"]).doNothing()).execute();
      } else {
        await db.deleteFrom("agent_tunnels").where("cluster", "=", cluster).where("data_plane", "=", dataPlane).execute();
      }
      const row = await db
        .selectFrom("agent_tunnels")
        .innerJoin("data_planes", "data_planes.id", "agent_tunnels.data_plane")
        .select((eb) => eb.fn.countAll<number | string>().as("n"))
        .where("agent_tunnels.cluster", "=", cluster)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}
