/**
 * TokenService: short-lived, single-cluster tokens for the data plane, and kubeconfigs
 * that make plain kubectl use them. Minting needs a live grant on the cluster, for
 * admins too: being an admin of kubegate is not access to every cluster.
 */
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import { KubeconfigMode, TokenService } from "../../gen/kubegate/v1/token_pb.ts";
import { formatDuration } from "../config/duration.ts";
import { errors } from "../errors.ts";
import { buildKubeconfig, type KubeconfigEntry } from "../kube/kubeconfig.ts";
import type { GrantRecord } from "../store/types.ts";
import { toJwks } from "../token/signer.ts";
import { createTokenVerifier, TokenError } from "../token/verifier.ts";
import { audit } from "./audit.ts";
import { callerOf, type Caller } from "./caller.ts";
import { signingKeyToProto } from "./convert.ts";
import type { ControlDeps } from "./deps.ts";
import * as v from "./validate.ts";

const MIN_TTL_MS = 1000;

export function tokenService(deps: ControlDeps): ServiceImpl<typeof TokenService> {
  const { store, signer, settings, clock } = deps;

  function ttl(d: Duration | undefined, field: string): number {
    if (d === undefined) return Math.min(settings.tokenDefaultTtlMs, settings.tokenMaxTtlMs);
    const ms = durationMs(d);
    if (ms < MIN_TTL_MS) throw errors.invalid(field, "must be at least 1s");
    if (ms > settings.tokenMaxTtlMs) throw errors.invalid(field, `must be at most ${formatDuration(settings.tokenMaxTtlMs)}`);
    return ms;
  }

  function limit(caller: Caller): void {
    const wait = deps.mintLimiter.take(caller.subject);
    if (wait > 0) throw errors.rateLimited("token minting", wait);
  }

  /** The caller's live grants on the cluster; PermissionDenied when there are none. */
  async function grantsFor(caller: Caller, cluster: string): Promise<GrantRecord[]> {
    if ((await store.clusters.get(cluster)) === null) throw errors.clusterNotFound(cluster);
    const now = clock();
    const grants = (await store.grants.listFor(cluster, caller.subject, caller.groups, ["PENDING", "APPLIED"])).filter(
      (g) => g.expiresAt === null || g.expiresAt > now,
    );
    if (grants.length === 0) throw errors.noAccess(cluster);
    return grants;
  }

  async function mint(caller: Caller, cluster: string, ttlMs: number) {
    const grants = await grantsFor(caller, cluster);
    // A grant's expiry bounds the token: it must not outlive the access it stands for.
    const latestGrantEnd = Math.max(...grants.map((g) => (g.expiresAt === null ? Infinity : g.expiresAt.getTime())));
    const effectiveTtl = Math.max(MIN_TTL_MS, Math.min(ttlMs, latestGrantEnd - clock().getTime()));
    const signed = await signer.sign({
      subject: caller.subject,
      cluster,
      groups: caller.groups,
      grants: grants.map((g) => g.id),
      ttlMs: effectiveTtl,
    });
    await audit(deps, { audit: "token.mint", subject: caller.subject, cluster, jti: signed.jti, expiresAt: signed.expiresAt }, "token minted");
    return signed;
  }

  return {
    async mintToken(req, ctx) {
      const caller = callerOf(ctx);
      const cluster = v.dnsLabel("cluster", req.cluster);
      const ttlMs = ttl(req.ttl, "ttl");
      limit(caller);
      const signed = await mint(caller, cluster, ttlMs);
      return {
        token: signed.token,
        expireTime: timestampFromDate(signed.expiresAt),
        tokenId: signed.jti,
        grantIds: signed.claims.grants,
      };
    },

    async mintKubeconfig(req, ctx) {
      const caller = callerOf(ctx);
      if (req.allClusters && req.clusters.length > 0) throw errors.invalid("clusters", "give clusters or all_clusters, not both");
      if (!req.allClusters && req.clusters.length === 0) throw errors.invalid("clusters", "name at least one cluster, or set all_clusters");
      if (req.clusters.length > 500) throw errors.invalid("clusters", "at most 500");
      const namespace = req.namespace === "" ? undefined : v.dnsLabel("namespace", req.namespace);
      const embedded = req.mode === KubeconfigMode.EMBEDDED_TOKEN;
      const ttlMs = ttl(req.ttl, "ttl");
      const command = v.maxLength("exec_command", req.execCommand, 4096) || "kubegate";
      const extraArgs = req.execArgs.map((a, i) => v.maxLength(`exec_args[${i}]`, a, 4096));
      limit(caller);
      let clusters: string[];
      if (req.allClusters) {
        const now = clock();
        const grants = await store.grants.listFor(null, caller.subject, caller.groups, ["PENDING", "APPLIED"]);
        clusters = [...new Set(grants.filter((g) => g.expiresAt === null || g.expiresAt > now).map((g) => g.cluster))].sort();
        if (clusters.length === 0) throw errors.forbidden("you do not have access to any cluster: ask an admin for a grant");
      } else {
        clusters = [...new Set(req.clusters.map((c, i) => v.dnsLabel(`clusters[${i}]`, c)))];
      }
      const entries: KubeconfigEntry[] = [];
      let earliest: Date | undefined;
      for (const cluster of clusters) {
        const server = `${settings.dataUrl}/clusters/${cluster}`;
        if (embedded) {
          const signed = await mint(caller, cluster, ttlMs);
          if (earliest === undefined || signed.expiresAt < earliest) earliest = signed.expiresAt;
          entries.push({ cluster, server, caPem: settings.dataCaPem, namespace, auth: { mode: "token", token: signed.token } });
        } else {
          await grantsFor(caller, cluster);
          entries.push({
            cluster,
            server,
            caPem: settings.dataCaPem,
            namespace,
            auth: { mode: "exec", command, args: ["kube-token", "--cluster", cluster, ...extraArgs] },
          });
        }
      }
      return {
        kubeconfig: buildKubeconfig(entries),
        clusters,
        expireTime: earliest === undefined ? undefined : timestampFromDate(earliest),
      };
    },

    async revokeToken(req, ctx) {
      const caller = callerOf(ctx);
      const now = clock();
      if (req.target.case === "tokenId") {
        if (!caller.admin) throw errors.adminOnly("revoke tokens by id (revoke your own by giving the token itself)");
        const jti = v.maxLength("token_id", req.target.value, 128);
        if (jti === "") throw errors.invalid("token_id", "is required");
        // The token's expiry is unknown here; keep the revocation as long as any token can live.
        await store.revocations.revokeToken({ jti, expiresAt: new Date(now.getTime() + settings.tokenMaxTtlMs), revokedAt: now });
        await audit(deps, { audit: "token.revoke", by: caller.subject, jti }, "token revoked");
        return {};
      }
      if (req.target.case !== "token") throw errors.invalid("target", "give token_id or token");
      const text = v.maxLength("token", req.target.value, v.LIMITS.token);
      const verifier = createTokenVerifier({ issuer: settings.issuer, clock: () => now.getTime() });
      verifier.setKeys((await signer.publicKeys()).map((k) => ({ kid: k.kid, x: k.publicX })));
      let aud: string;
      try {
        aud = String(decodeJwt(text).aud ?? "");
      } catch {
        throw errors.invalid("token", "is not a JWT");
      }
      let claims;
      try {
        claims = await verifier.verify(text, aud);
      } catch (err) {
        if (err instanceof TokenError && err.rejection === "expired") return {}; // nothing left to revoke
        throw errors.tokenNotFound();
      }
      if (!caller.admin && claims.sub !== caller.subject) throw errors.forbidden("you may revoke only your own tokens");
      await store.revocations.revokeToken({ jti: claims.jti, expiresAt: new Date(claims.exp * 1000), revokedAt: now });
      await audit(deps, { audit: "token.revoke", by: caller.subject, jti: claims.jti, subject: claims.sub }, "token revoked");
      return {};
    },

    async getSigningKeys(_req, ctx) {
      callerOf(ctx);
      const keys = await signer.publicKeys();
      return { jwksJson: JSON.stringify(toJwks(keys)), keys: keys.map(signingKeyToProto), issuer: settings.issuer };
    },
  };
}
