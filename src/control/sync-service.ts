/**
 * DataPlaneSyncService: the data plane's only source of truth. A snapshot (or a resume
 * from a retained revision), then deltas read from the change log as they commit, and a
 * heartbeat when idle so the data plane can tell a quiet view from a stale one.
 */
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Grant } from "../../gen/kubegate/v1/grant_pb.ts";
import {
  DataPlaneSyncService,
  WatchStateResponseSchema,
  type ClusterRoute,
  type SubjectRevocation,
  type TokenRevocation,
  type WatchStateResponse,
} from "../../gen/kubegate/v1/sync_pb.ts";
import type { SigningKey } from "../../gen/kubegate/v1/token_pb.ts";
import { errors } from "../errors.ts";
import type { ChangeEvent, GrantRecord, Store, SubjectRevocationRecord, TokenRevocationRecord } from "../store/types.ts";
import type { Logger } from "../log.ts";
import { reportedEvents } from "./audit-log.ts";
import { hashSecret } from "./authenticator.ts";
import { callerOf } from "./caller.ts";
import { AGENT_BOOTSTRAP_PREFIX, AGENT_CREDENTIAL_PREFIX, newAgentCredential } from "./cluster-registry.ts";
import { clusterToRoute, grantToProto, phaseFromProto, stateFromProto, signingKeyToProto, subjectToProto } from "./convert.ts";
import type { ControlDeps } from "./deps.ts";
import * as v from "./validate.ts";
import { LIVE_GRANT_STATES, REPORTED_GRANT_STATES, canMoveGrant } from "../grant-state.ts";

const BATCH = 500;

function requireDataPlane(ctx: HandlerContext): void {
  const caller = callerOf(ctx);
  if (!caller.dataPlane) throw errors.forbidden("only data-plane credentials may use the sync service");
}

const tokenRevocation = (r: TokenRevocationRecord): TokenRevocation =>
  ({ $typeName: "kubegate.v1.TokenRevocation", tokenId: r.jti, expireTime: timestampFromDate(r.expiresAt) });

const subjectRevocation = (r: SubjectRevocationRecord): SubjectRevocation => ({
  $typeName: "kubegate.v1.SubjectRevocation",
  subject: subjectToProto(r.subjectKind, r.subjectName),
  revokeTime: timestampFromDate(r.revokedAt),
});

/** Waits until the store reports a change, the timeout passes, or the call ends. */
function waitForChange(subscribe: (l: () => void) => () => void, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unsubscribe = subscribe(done);
    signal.addEventListener("abort", done);
  });
}

/** How long a data plane stays in the mesh without a sign of life from its sync stream. */
export const dataPlaneTtlMs = (syncHeartbeatMs: number) => 3 * syncHeartbeatMs;

const NO_TUNNEL = "the agent is not connected to any data plane";
const NO_ANSWER = "no live data plane gets an answer from the API server";

/**
 * Clusters no live data plane reaches any more are OFFLINE: an agent cluster whose last
 * tunnel went, a direct cluster whose last data plane to get an answer from it left.
 */
async function markOffline(store: Store, clusters: string[], log: Logger): Promise<void> {
  for (const name of clusters) {
    const current = await store.clusters.get(name);
    if (current === null) continue;
    const agent = current.mode === "agent";
    await store.clusters.setStatus(name, { ...current.status, phase: "OFFLINE", message: agent ? NO_TUNNEL : NO_ANSWER });
    if (agent) log.info({ cluster: name }, "agent cluster OFFLINE: no data plane holds its tunnel");
    else log.info({ cluster: name }, "direct cluster OFFLINE: no live data plane reaches it");
  }
}

/** Drops data planes whose sync stream went silent (their control plane died), for the maintenance loop. */
export async function expireDataPlanes(store: Store, now: Date, syncHeartbeatMs: number, log: Logger): Promise<void> {
  const { ids, orphaned } = await store.dataPlanes.expire(new Date(now.getTime() - dataPlaneTtlMs(syncHeartbeatMs)));
  if (ids.length > 0) log.info({ dataPlanes: ids }, "data planes left the agent mesh (no sync stream seen)");
  await markOffline(store, orphaned, log);
}

export function syncService(deps: ControlDeps): ServiceImpl<typeof DataPlaneSyncService> {
  const { store, signer, settings, clock, log } = deps;

  async function allGrants(): Promise<GrantRecord[]> {
    const out: GrantRecord[] = [];
    for (const state of LIVE_GRANT_STATES) {
      let after: string | undefined;
      for (;;) {
        const batch = await store.grants.list({ state }, { after, limit: BATCH });
        out.push(...batch);
        if (batch.length < BATCH) break;
        after = batch.at(-1)!.id;
      }
    }
    return out;
  }

  async function snapshot(revision: number): Promise<WatchStateResponse> {
    const clusters: ClusterRoute[] = [];
    let after: string | undefined;
    for (;;) {
      const batch = await store.clusters.list({ after, limit: BATCH });
      clusters.push(...batch.map(clusterToRoute));
      if (batch.length < BATCH) break;
      after = batch.at(-1)!.name;
    }
    const now = clock();
    return create(WatchStateResponseSchema, {
      revision: BigInt(revision),
      snapshot: true,
      clusters,
      signingKeys: (await signer.publicKeys()).map(signingKeyToProto),
      grants: (await allGrants()).map(grantToProto),
      tokenRevocations: (await store.revocations.listTokens(now)).map(tokenRevocation),
      subjectRevocations: (await store.revocations.listSubjects()).map(subjectRevocation),
      serverTime: timestampFromDate(now),
      issuer: settings.issuer,
      dataPlanes: { ids: await store.dataPlanes.list() },
    });
  }

  async function delta(events: ChangeEvent[]): Promise<WatchStateResponse> {
    // Later events for the same key supersede earlier ones: send each key's current state once.
    const latest = new Map<string, ChangeEvent>();
    for (const e of events) latest.set(`${e.kind}\u0000${e.key}`, e);
    const msg = create(WatchStateResponseSchema, {
      revision: BigInt(events.at(-1)!.revision),
      serverTime: timestampFromDate(clock()),
      issuer: settings.issuer,
    });
    let keys: SigningKey[] | undefined;
    let tokens: TokenRevocationRecord[] | undefined;
    let subjects: SubjectRevocationRecord[] | undefined;
    for (const e of latest.values()) {
      switch (e.kind) {
        case "cluster": {
          const c = e.deleted ? null : await store.clusters.get(e.key);
          if (c === null) msg.removedClusters.push(e.key);
          else msg.clusters.push(clusterToRoute(c));
          break;
        }
        case "grant": {
          const g = e.deleted ? null : await store.grants.get(e.key);
          if (g === null) msg.removedGrants.push(e.key);
          else msg.grants.push(grantToProto(g) as Grant);
          break;
        }
        case "signing_key": {
          keys ??= (await signer.publicKeys()).map(signingKeyToProto);
          const k = keys.find((x) => x.kid === e.key);
          if (e.deleted || k === undefined) msg.removedKeyIds.push(e.key);
          else msg.signingKeys.push(k);
          break;
        }
        case "token_revocation": {
          tokens ??= await store.revocations.listTokens(clock());
          const t = tokens.find((x) => x.jti === e.key);
          if (t !== undefined) msg.tokenRevocations.push(tokenRevocation(t));
          break;
        }
        case "subject_revocation": {
          subjects ??= await store.revocations.listSubjects();
          const s = subjects.find((x) => `${x.subjectKind}:${x.subjectName}` === e.key);
          if (s !== undefined) msg.subjectRevocations.push(subjectRevocation(s));
          break;
        }
        case "data_plane":
          // Sent whole: the set is small, and a data plane replaces its copy.
          msg.dataPlanes ??= { $typeName: "kubegate.v1.DataPlaneSet", ids: await store.dataPlanes.list() };
          break;
      }
    }
    return msg;
  }

  return {
    async *watchState(req, ctx) {
      requireDataPlane(ctx);
      const replica = v.maxLength("replica", req.replica, 256);
      const dataPlane = v.dataPlaneId("data_plane_id", req.dataPlaneId);
      // The stream's own id: when this process redials another control plane, the end of
      // this stream, noticed later, must not remove it from the mesh.
      const stream = randomUUID();
      let touched = clock().getTime();
      if (dataPlane !== "") await store.dataPlanes.join(dataPlane, replica, stream, clock());
      try {
        let revision = Number(req.fromRevision);
        const latest = await store.changes.latestRevision();
        const oldest = await store.changes.oldestRevision();
        // A resume works only while the log still holds every event after it.
        const canResume = revision > 0 && revision <= latest && revision >= oldest - 1;
        log.info({ replica, dataPlane, fromRevision: revision, resumed: canResume }, "data plane connected to sync");
        if (!canResume) {
          revision = latest;
          yield await snapshot(revision);
        }
        while (!ctx.signal.aborted) {
          if (dataPlane !== "" && clock().getTime() - touched >= settings.syncHeartbeatMs) {
            touched = clock().getTime();
            // Gone from the table (expired while this control plane was too busy): join again.
            if (!(await store.dataPlanes.touch(dataPlane, stream, clock()))) await store.dataPlanes.join(dataPlane, replica, stream, clock());
          }
          const events = await store.changes.since(revision, BATCH);
          if (events.length > 0) {
            yield await delta(events);
            revision = events.at(-1)!.revision;
            continue;
          }
          await waitForChange((l) => store.changes.subscribe(l), settings.syncHeartbeatMs, ctx.signal);
          if ((await store.changes.latestRevision()) === revision && !ctx.signal.aborted) {
            yield create(WatchStateResponseSchema, { revision: BigInt(revision), serverTime: timestampFromDate(clock()), issuer: settings.issuer });
          }
        }
      } finally {
        if (dataPlane !== "") {
          try {
            await markOffline(store, await store.dataPlanes.leave(dataPlane, stream), log);
            log.info({ replica, dataPlane }, "data plane left sync");
          } catch (err) {
            // It expires from the mesh within a few heartbeats instead.
            log.warn({ err, dataPlane }, "could not record a data plane leaving");
          }
        }
      }
    },

    async reportClusterStatus(req, ctx) {
      requireDataPlane(ctx);
      if (req.reports.length > 1000) throw errors.invalid("reports", "at most 1000 per call");
      const now = clock();
      // The size of the mesh, read once per call for the READY messages.
      let planes: number | undefined;
      for (const r of req.reports) {
        const phase = phaseFromProto(r.phase);
        if (phase === undefined) throw errors.invalid("reports.phase", "must be READY, OFFLINE or UNKNOWN");
        const dataPlane = v.dataPlaneId("reports.data_plane_id", r.dataPlaneId);
        let message = v.maxLength("reports.message", r.message, v.LIMITS.reason);
        const current = await store.clusters.get(r.cluster);
        if (current === null) continue; // deregistered meanwhile
        if (dataPlane !== "") {
          // Each data plane reports what it reaches: an agent cluster's tunnel held there, a
          // direct member's health probe answered from there. A cluster is READY while any
          // live data plane reaches it and OFFLINE when none does, so one replica cut off
          // from a member (or an agent) cannot flap the status the others see.
          const reached = await store.dataPlanes.setReachable(r.cluster, dataPlane, phase === "READY");
          if (phase !== "READY" && reached > 0) continue;
          if (phase === "READY") {
            planes ??= (await store.dataPlanes.list()).length;
            const count = `${reached} of ${planes} data plane${planes === 1 ? "" : "s"}`;
            message = current.mode === "agent" ? `agent connected to ${count}` : `reached from ${count}`;
          }
        }
        await store.clusters.setStatus(r.cluster, {
          phase,
          kubernetesVersion: v.maxLength("reports.kubernetes_version", r.kubernetesVersion, 64) || current.status.kubernetesVersion,
          agentVersion: v.maxLength("reports.agent_version", r.agentVersion, 64) || current.status.agentVersion,
          lastSeenAt: phase === "READY" ? now : current.status.lastSeenAt,
          message,
        });
      }
      return {};
    },

    async reportGrantStatus(req, ctx) {
      requireDataPlane(ctx);
      if (req.reports.length > 1000) throw errors.invalid("reports", "at most 1000 per call");
      const now = clock();
      for (const r of req.reports) {
        const state = stateFromProto(r.state);
        if (state === undefined || !REPORTED_GRANT_STATES.includes(state)) throw errors.invalid("reports.state", `must be ${REPORTED_GRANT_STATES.join(" or ")}`);
        const message = v.maxLength("reports.message", r.message, v.LIMITS.reason);
        const current = await store.grants.get(r.grantId);
        // A grant revoked, expired or deleted meanwhile keeps its final state.
        if (current === null || !canMoveGrant(current.state, state)) continue;
        if (current.state === state && current.stateMessage === message) continue;
        await store.grants.setState(r.grantId, state, message, now);
        log.info({ grant: r.grantId, cluster: current.cluster, state, message }, "grant RBAC state reported");
      }
      return {};
    },

    async reportAuditEvents(req, ctx) {
      requireDataPlane(ctx);
      // Checked whole before anything is stored: a bad report stores nothing.
      await store.auditEvents.append(reportedEvents(req.events, req.replica));
      return {};
    },

    async enrollAgent(req, ctx) {
      requireDataPlane(ctx);
      if (!req.bootstrapToken.startsWith(AGENT_BOOTSTRAP_PREFIX)) throw errors.unauthenticated("the bootstrap token is not a kubegate agent bootstrap token (kgb_...)");
      const credential = newAgentCredential();
      const rec = await store.clusters.swapAgentCredential({ bootstrapHash: hashSecret(req.bootstrapToken) }, hashSecret(credential), clock());
      if (rec === null)
        throw errors.unauthenticated("the bootstrap token is unknown or was already used: register the cluster again (or rotate) to get a new one");
      log.info({ cluster: rec.name }, "agent enrolled");
      return { cluster: rec.name, agentCredential: credential };
    },

    async rotateAgentCredential(req, ctx) {
      requireDataPlane(ctx);
      const credential = newAgentCredential();
      const rec = req.agentCredential.startsWith(AGENT_CREDENTIAL_PREFIX)
        ? await store.clusters.swapAgentCredential({ credentialHash: hashSecret(req.agentCredential) }, hashSecret(credential), clock())
        : null;
      if (rec === null) throw errors.unauthenticated("the agent credential is unknown or was replaced");
      log.info({ cluster: rec.name }, "agent credential rotated");
      return { cluster: rec.name, agentCredential: credential };
    },
  };
}
