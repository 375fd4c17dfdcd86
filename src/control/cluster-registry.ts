/**
 * ClusterRegistry: admins register, update and remove member clusters; everyone else
 * sees only the clusters they hold an active grant on.
 */
import { randomBytes } from "node:crypto";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { ClusterCredential } from "../../gen/kubegate/v1/cluster_pb.ts";
import { ClusterRegistry, IdentityMode, RegisterClusterRequestSchema, RegisterClusterResponseSchema } from "../../gen/kubegate/v1/cluster_pb.ts";
import { errors, isKubegateError } from "../errors.ts";
import { matchesLabels, parseLabelSelector, type LabelSelector } from "../kube/label-selector.ts";
import { StoreConflictError, type ClusterCredentialSecret, type ClusterPatch, type ClusterRecord, type IdentityMode as IdentityModeName } from "../store/types.ts";
import { hashSecret } from "./authenticator.ts";
import { callerOf, requireAdmin, type Caller } from "./caller.ts";
import { clusterToProto } from "./convert.ts";
import { audit } from "./audit.ts";
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

function identityModeFromProto(m: IdentityMode): IdentityModeName {
  if (m === IdentityMode.UNSPECIFIED || m === IdentityMode.IMPERSONATE) return "impersonate";
  if (m === IdentityMode.FRONT_PROXY) return "front-proxy";
  throw errors.invalid("identity_mode", "must be IMPERSONATE or FRONT_PROXY");
}

/** The credential a direct cluster is reached with, which must suit its identity mode. */
function credentialFromProto(c: ClusterCredential | undefined, field: string, identity: IdentityModeName): ClusterCredentialSecret {
  if (identity === "front-proxy") {
    if (c?.kind.case !== "frontProxyCertificate")
      throw errors.invalid(
        field,
        "front-proxy mode presents only the front-proxy client certificate: set front_proxy_certificate (signed by the member's --requestheader-client-ca-file, its CN in --requestheader-allowed-names) and no bearer_token or client_certificate",
      );
    const { certPem, keyPem } = c.kind.value;
    v.frontProxyCertificate(`${field}.front_proxy_certificate`, certPem, keyPem);
    return { kind: "front-proxy", certPem, keyPem };
  }
  switch (c?.kind.case) {
    case "bearerToken":
      return { kind: "bearer", token: v.bearerToken(`${field}.bearer_token`, c.kind.value) };
    case "clientCertificate": {
      const { certPem, keyPem } = c.kind.value;
      v.clientCertificate(`${field}.client_certificate`, certPem, keyPem);
      return { kind: "client-certificate", certPem, keyPem };
    }
    case "frontProxyCertificate":
      throw errors.invalid(`${field}.front_proxy_certificate`, "needs identity_mode FRONT_PROXY; in impersonate mode give a bearer_token or a client_certificate");
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
  const { store, clock } = deps;

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
        const identityMode = identityModeFromProto(req.identityMode);
        // kubegate's own writes to a direct member need an identity of its own; in front-proxy
        // mode it holds only the front-proxy certificate and asserts no user for itself.
        if (identityMode === "front-proxy" && req.manageRbac && req.mode.case === "direct")
          throw errors.invalid("manage_rbac", "is not available for a direct cluster in front-proxy mode: kubegate holds no identity of its own there; bind roles to the kubegate: users and groups yourself, or use agent mode");
        const base = {
          name,
          displayName: v.maxLength("display_name", req.displayName, v.LIMITS.displayName) || name,
          labels: v.labels("labels", req.labels),
          manageRbac: req.manageRbac,
          identityMode,
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
              credential: credentialFromProto(d.credential, "direct.credential", identityMode),
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
        await audit(deps, { audit: "cluster.register", by: caller.subject, cluster: name, mode: rec.mode, identityMode }, "cluster registered");
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
            if (path === "credential") patch.credential = credentialFromProto(req.credential, "credential", current.identityMode);
            break;
          default:
            throw errors.invalid("update_mask", `unknown field ${JSON.stringify(path)}`);
        }
      }
      const updated = await store.clusters.update(name, patch, clock());
      if (updated === null) throw errors.clusterNotFound(name);
      await audit(deps, { audit: "cluster.update", by: caller.subject, cluster: name, fields: paths }, "cluster updated");
      return { cluster: clusterToProto(updated) };
    },

    async deregisterCluster(req, ctx) {
      const caller = requireAdmin(ctx, "deregister clusters");
      const name = v.dnsLabel("name", req.name);
      if (!(await store.clusters.delete(name))) throw errors.clusterNotFound(name);
      await audit(deps, { audit: "cluster.deregister", by: caller.subject, cluster: name }, "cluster deregistered");
      return {};
    },
  };
}
