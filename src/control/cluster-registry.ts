/**
 * ClusterRegistry: admins register, update and remove member clusters; everyone else
 * sees only the clusters they hold an active grant on.
 */
import { randomBytes } from "node:crypto";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { ClusterCredential } from "../../gen/kubegate/v1/cluster_pb.ts";
import { ClusterRegistry, RegisterClusterRequestSchema, RegisterClusterResponseSchema } from "../../gen/kubegate/v1/cluster_pb.ts";
import { errors, isKubegateError } from "../errors.ts";
import { matchesLabels, parseLabelSelector, type LabelSelector } from "../kube/label-selector.ts";
import { StoreConflictError, type ClusterCredentialSecret, type ClusterPatch, type ClusterRecord } from "../store/types.ts";
import { hashSecret } from "./authenticator.ts";
import { callerOf, requireAdmin, type Caller } from "./caller.ts";
import { clusterToProto } from "./convert.ts";
import type { ControlDeps } from "./deps.ts";
import { idempotent } from "./idempotency.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";
import * as v from "./validate.ts";

/** Agent bootstrap tokens are one-time secrets with their own prefix. */
export const AGENT_BOOTSTRAP_PREFIX = "kgb_";
/** An enrolled agent's long-lived credential. */
export const AGENT_CREDENTIAL_PREFIX = "kga_";

/** A new agent credential: prefix plus 256 random bits; only its hash is stored. */
export function newAgentCredential(): string {
  return AGENT_CREDENTIAL_PREFIX + randomBytes(32).toString("base64url");
}

function credentialFromProto(c: ClusterCredential | undefined, field: string): ClusterCredentialSecret {
  switch (c?.kind.case) {
    case "bearerToken":
      return { kind: "bearer", token: v.bearerToken(`${field}.bearer_token`, c.kind.value) };
    case "clientCertificate": {
      const { certPem, keyPem } = c.kind.value;
      v.clientCertificate(`${field}.client_certificate`, certPem, keyPem);
      return { kind: "client-certificate", certPem, keyPem };
    }
    default:
      throw errors.invalid(field, "is required: a bearer_token or a client_certificate the gateway presents to the member");
  }
}

function selector(text: string): LabelSelector {
  try {
    return parseLabelSelector(v.maxLength("label_selector", text, 4096));
  } catch (err) {
    if (isKubegateError(err)) throw err;
    throw errors.invalid("label_selector", (err as Error).message);
  }
}

/** The clusters a non-admin may see: those with a PENDING or APPLIED grant for them. */
export async function visibleClusters(deps: ControlDeps, caller: Caller): Promise<Set<string> | "all"> {
  if (caller.admin) return "all";
  const now = deps.clock();
  const grants = await deps.store.grants.listFor(null, caller.subject, caller.groups, ["PENDING", "APPLIED"]);
  return new Set(grants.filter((g) => g.expiresAt === null || g.expiresAt > now).map((g) => g.cluster));
}

export function clusterRegistry(deps: ControlDeps): ServiceImpl<typeof ClusterRegistry> {
  const { store, clock, log } = deps;

  async function mustGet(name: string): Promise<ClusterRecord> {
    const rec = await store.clusters.get(name);
    if (rec === null) throw errors.clusterNotFound(name);
    return rec;
  }

  return {
    async registerCluster(req, ctx: HandlerContext) {
      const caller = requireAdmin(ctx, "register clusters");
      const call = { method: "ClusterRegistry.RegisterCluster", caller: caller.subject, requestSchema: RegisterClusterRequestSchema, request: req, responseSchema: RegisterClusterResponseSchema };
      return idempotent(deps, call, async (remember) => {
        const name = v.dnsLabel("name", req.name);
        const now = clock();
        const base = {
          name,
          displayName: v.maxLength("display_name", req.displayName, v.LIMITS.displayName) || name,
          labels: v.labels("labels", req.labels),
          manageRbac: req.manageRbac,
          status: { phase: "UNKNOWN" as const, kubernetesVersion: "", agentVersion: "", lastSeenAt: null, message: "not yet observed" },
          agentCredentialHash: null,
          createdAt: now,
          updatedAt: now,
        };
        let rec: ClusterRecord;
        let bootstrap = "";
        switch (req.mode.case) {
          case "direct": {
            const d = req.mode.value;
            rec = {
              ...base,
              mode: "direct",
              serverUrl: v.httpsUrl("direct.server_url", d.serverUrl),
              caPem: v.caBundle("direct.ca_pem", d.caPem),
              credential: credentialFromProto(d.credential, "direct.credential"),
              agentBootstrapHash: null,
            };
            break;
          }
          case "agent":
            bootstrap = AGENT_BOOTSTRAP_PREFIX + randomBytes(32).toString("base64url");
            rec = { ...base, mode: "agent", serverUrl: "", caPem: "", credential: null, agentBootstrapHash: hashSecret(bootstrap) };
            break;
          default:
            throw errors.invalid("mode", "choose direct (server URL, CA, credential) or agent");
        }
        const response = { cluster: clusterToProto(rec), agentBootstrapToken: bootstrap, agentGatewayUrl: bootstrap === "" ? "" : deps.settings.dataUrl };
        try {
          await store.clusters.create(rec, remember(response));
        } catch (err) {
          if (err instanceof StoreConflictError) throw errors.clusterExists(name);
          throw err;
        }
        log.info({ audit: "cluster.register", by: caller.subject, cluster: name, mode: rec.mode }, "cluster registered");
        return response;
      });
    },

    async getCluster(req, ctx) {
      const caller = callerOf(ctx);
      const name = v.dnsLabel("name", req.name);
      const visible = await visibleClusters(deps, caller);
      if (visible !== "all" && !visible.has(name)) throw errors.noAccess(name);
      return { cluster: clusterToProto(await mustGet(name)) };
    },

    async listClusters(req, ctx) {
      const caller = callerOf(ctx);
      const size = v.pageSize(req.pageSize);
      const sel = selector(req.labelSelector);
      let after = decodePageToken(req.pageToken, { s: req.labelSelector });
      const visible = await visibleClusters(deps, caller);
      const out: ClusterRecord[] = [];
      // Filters apply after the keyset read, so read in batches until the page is full.
      for (;;) {
        const batch = await store.clusters.list({ after, limit: 200 });
        for (const c of batch) {
          if ((visible === "all" || visible.has(c.name)) && matchesLabels(sel, c.labels)) out.push(c);
          if (out.length > size) break;
        }
        if (out.length > size || batch.length < 200) break;
        after = batch.at(-1)!.name;
      }
      const page = out.slice(0, size);
      const next = out.length > size ? encodePageToken(page.at(-1)!.name, { s: req.labelSelector }) : "";
      return { clusters: page.map(clusterToProto), nextPageToken: next };
    },

    async updateCluster(req, ctx) {
      const caller = requireAdmin(ctx, "update clusters");
      const name = v.dnsLabel("name", req.name);
      const paths = req.updateMask?.paths ?? [];
      if (paths.length === 0)
        throw errors.invalid("update_mask", "name the fields to change: display_name, labels, server_url, ca_pem, credential");
      const current = await mustGet(name);
      const patch: ClusterPatch = {};
      for (const path of paths) {
        switch (path) {
          case "display_name":
            patch.displayName = v.maxLength("display_name", req.displayName, v.LIMITS.displayName) || name;
            break;
          case "labels":
            patch.labels = v.labels("labels", req.labels);
            break;
          case "server_url":
          case "ca_pem":
          case "credential":
            if (current.mode !== "direct")
              throw errors.invalid(path, `cluster ${JSON.stringify(name)} is in agent mode; the agent holds its own credential`);
            if (path === "server_url") patch.serverUrl = v.httpsUrl("server_url", req.serverUrl);
            if (path === "ca_pem") patch.caPem = v.caBundle("ca_pem", req.caPem);
            if (path === "credential") patch.credential = credentialFromProto(req.credential, "credential");
            break;
          default:
            throw errors.invalid("update_mask", `unknown field ${JSON.stringify(path)}`);
        }
      }
      const updated = await store.clusters.update(name, patch, clock());
      if (updated === null) throw errors.clusterNotFound(name);
      log.info({ audit: "cluster.update", by: caller.subject, cluster: name, fields: paths }, "cluster updated");
      return { cluster: clusterToProto(updated) };
    },

    async deregisterCluster(req, ctx) {
      const caller = requireAdmin(ctx, "deregister clusters");
      const name = v.dnsLabel("name", req.name);
      if (!(await store.clusters.delete(name))) throw errors.clusterNotFound(name);
      log.info({ audit: "cluster.deregister", by: caller.subject, cluster: name }, "cluster deregistered");
      return {};
    },
  };
}
