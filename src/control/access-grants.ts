/**
 * AccessGrants: admins grant a subject a role on a cluster and revoke it; people read
 * their own grants. Revocations reach every data plane through the change log.
 */
import { randomBytes } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Subject } from "../../gen/kubegate/v1/grant_pb.ts";
import { AccessGrants, CreateGrantRequestSchema, CreateGrantResponseSchema } from "../../gen/kubegate/v1/grant_pb.ts";
import { errors } from "../errors.ts";
import type { GrantRecord, GrantState, SubjectKind } from "../store/types.ts";
import { audit } from "./audit.ts";
import { callerOf, requireAdmin, type Caller } from "./caller.ts";
import { grantToProto, roleFromProto, stateFromProto, subjectKindFromProto } from "./convert.ts";
import type { ControlDeps } from "./deps.ts";
import { idempotent } from "./idempotency.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";
import * as v from "./validate.ts";
import { GRANT_STATES, canMoveGrant, isLiveGrantState } from "../grant-state.ts";

/** States in which a grant still gives (or is about to give) access. */

function subjectFromProto(s: Subject | undefined, field = "subject"): { kind: SubjectKind; name: string } {
  if (s === undefined) throw errors.invalid(field, "is required (kind USER or GROUP, and a name)");
  return { kind: subjectKindFromProto(s.kind, `${field}.kind`), name: v.subjectName(`${field}.name`, s.name) };
}

function holds(caller: Caller, g: GrantRecord): boolean {
  return g.subjectKind === "user" ? g.subjectName === caller.subject : caller.groups.includes(g.subjectName);
}

function namespaces(list: string[]): string[] {
  if (list.length > v.LIMITS.namespaces) throw errors.invalid("namespaces", `at most ${v.LIMITS.namespaces}`);
  const seen = new Set(list.map((ns, i) => v.dnsLabel(`namespaces[${i}]`, ns)));
  return [...seen].sort();
}

export function accessGrants(deps: ControlDeps): ServiceImpl<typeof AccessGrants> {
  const { store, clock } = deps;

  async function revoke(g: GrantRecord, reason: string, by: string): Promise<GrantRecord> {
    if (!canMoveGrant(g.state, "REVOKED")) return g;
    const updated = await store.grants.setState(g.id, "REVOKED", reason || `revoked by ${by}`, clock());
    await audit(deps, { audit: "grant.revoke", by, grant: g.id, cluster: g.cluster, subject: `${g.subjectKind}:${g.subjectName}` }, "grant revoked");
    return updated ?? g;
  }

  return {
    async createGrant(req, ctx) {
      const caller = requireAdmin(ctx, "create grants");
      const call = { method: "AccessGrants.CreateGrant", caller: caller.subject, requestSchema: CreateGrantRequestSchema, request: req, responseSchema: CreateGrantResponseSchema };
      return idempotent(deps, call, async (remember) => {
        const clusterName = v.dnsLabel("cluster", req.cluster);
        const subject = subjectFromProto(req.subject);
        const role = roleFromProto(req.role);
        const ns = namespaces(req.namespaces);
        if (role === "cluster-admin" && ns.length > 0)
          throw errors.invalid("namespaces", "cluster-admin is cluster-wide; use admin for namespaces");
        const now = clock();
        const expiresAt = req.expireTime === undefined ? null : timestampDate(req.expireTime);
        if (expiresAt !== null && expiresAt <= now) throw errors.invalid("expire_time", "must be in the future");
        const cluster = await store.clusters.get(clusterName);
        if (cluster === null) throw errors.clusterNotFound(clusterName);
        const rec: GrantRecord = {
          id: `gr-${randomBytes(8).toString("hex")}`,
          cluster: clusterName,
          subjectKind: subject.kind,
          subjectName: subject.name,
          role,
          namespaces: ns,
          // Without RBAC management the admin binds roles in the member: nothing to wait for.
          state: cluster.manageRbac ? "PENDING" : "APPLIED",
          stateMessage: cluster.manageRbac ? "waiting for RBAC to be applied in the member" : "RBAC in the member is managed outside kubegate",
          expiresAt,
          createdAt: now,
          updatedAt: now,
          createdBy: caller.subject,
        };
        const response = { grant: grantToProto(rec) };
        await store.grants.create(rec, remember(response));
        await audit(
          deps,
          { audit: "grant.create", by: caller.subject, grant: rec.id, cluster: clusterName, subject: `${subject.kind}:${subject.name}`, role, namespaces: ns },
          "grant created",
        );
        return response;
      });
    },

    async getGrant(req, ctx) {
      const caller = callerOf(ctx);
      const id = v.maxLength("id", req.id, 64);
      const g = await store.grants.get(id);
      // Someone else's grant is as good as absent: do not confirm it exists.
      if (g === null || (!caller.admin && !holds(caller, g))) throw errors.grantNotFound(id);
      return { grant: grantToProto(g) };
    },

    async listGrants(req, ctx) {
      const caller = callerOf(ctx);
      const size = v.pageSize(req.pageSize);
      const filter = {
        cluster: req.cluster === "" ? undefined : v.dnsLabel("cluster", req.cluster),
        subjectKind: req.subject === undefined || req.subject.name === "" ? undefined : subjectKindFromProto(req.subject.kind),
        subjectName: req.subject === undefined || req.subject.name === "" ? undefined : v.subjectName("subject.name", req.subject.name),
        state: stateFromProto(req.state),
      };
      const after = decodePageToken(req.pageToken, filter);
      let rows: GrantRecord[];
      if (caller.admin) {
        rows = await store.grants.list(filter, { after, limit: size + 1 });
      } else {
        // A person's own grants are few; filter them in memory.
        const states: GrantState[] = filter.state ? [filter.state] : [...GRANT_STATES];
        rows = (await store.grants.listFor(filter.cluster ?? null, caller.subject, caller.groups, states))
          .filter((g) => (filter.subjectKind === undefined || g.subjectKind === filter.subjectKind) && (filter.subjectName === undefined || g.subjectName === filter.subjectName))
          .filter((g) => after === undefined || g.id > after)
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .slice(0, size + 1);
      }
      const page = rows.slice(0, size);
      return { grants: page.map(grantToProto), nextPageToken: rows.length > size ? encodePageToken(page.at(-1)!.id, filter) : "" };
    },

    async revokeGrant(req, ctx) {
      const caller = requireAdmin(ctx, "revoke grants");
      const id = v.maxLength("id", req.id, 64);
      const g = await store.grants.get(id);
      if (g === null) throw errors.grantNotFound(id);
      return { grant: grantToProto(await revoke(g, v.maxLength("reason", req.reason, v.LIMITS.reason), caller.subject)) };
    },

    async revokeSubject(req, ctx) {
      const caller = requireAdmin(ctx, "revoke subjects");
      const subject = subjectFromProto(req.subject);
      const reason = v.maxLength("reason", req.reason, v.LIMITS.reason);
      const now = clock();
      // Record the subject revocation first: tokens die even if a grant update fails later.
      await store.revocations.revokeSubject({ subjectKind: subject.kind, subjectName: subject.name, revokedAt: now });
      let revoked = 0;
      let after: string | undefined;
      for (;;) {
        const batch = await store.grants.list({ subjectKind: subject.kind, subjectName: subject.name }, { after, limit: 200 });
        for (const g of batch) {
          if (isLiveGrantState(g.state)) {
            await revoke(g, reason || `subject revoked by ${caller.subject}`, caller.subject);
            revoked++;
          }
        }
        if (batch.length < 200) break;
        after = batch.at(-1)!.id;
      }
      await audit(deps, { audit: "subject.revoke", by: caller.subject, subject: `${subject.kind}:${subject.name}`, revokedGrants: revoked }, "subject revoked");
      return { revokedGrants: revoked };
    },
  };
}
