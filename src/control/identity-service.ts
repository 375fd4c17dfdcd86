/**
 * IdentityService: who am I, and API keys for services, CI and people. A key's secret
 * is returned once and only its SHA-256 is stored.
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { CreateApiKeyRequestSchema, CreateApiKeyResponseSchema, IdentityService } from "../../gen/kubegate/v1/identity_pb.ts";
import { errors } from "../errors.ts";
import { createApiKey } from "./api-keys.ts";
import { audit } from "./audit.ts";
import { callerOf, requireAdmin } from "./caller.ts";
import { apiKeyToProto } from "./convert.ts";
import type { ControlDeps } from "./deps.ts";
import { idempotent } from "./idempotency.ts";
import { redeemAuthorizationCode } from "./oidc-code.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";
import { createTokenExchange } from "./token-exchange.ts";
import * as v from "./validate.ts";

export function identityService(deps: ControlDeps): ServiceImpl<typeof IdentityService> {
  const { store, clock } = deps;
  const exchange = createTokenExchange(deps);
  return {
    async whoAmI(_req, ctx) {
      const c = callerOf(ctx);
      return { subject: c.subject, groups: c.groups, admin: c.admin, authenticatedBy: c.authenticatedBy, apiKeyId: c.apiKeyId };
    },

    async createApiKey(req, ctx) {
      const caller = requireAdmin(ctx, "create API keys");
      const call = { method: "IdentityService.CreateApiKey", caller: caller.subject, requestSchema: CreateApiKeyRequestSchema, request: req, responseSchema: CreateApiKeyResponseSchema };
      return idempotent(deps, call, async (remember) => {
        const name = v.subjectName("name", req.name);
        const subject = v.subjectName("subject", req.subject);
        if (req.groups.length > 64) throw errors.invalid("groups", "at most 64");
        const groups = [...new Set(req.groups.map((g, i) => v.subjectName(`groups[${i}]`, g)))];
        const expiresAt = req.expireTime === undefined ? null : timestampDate(req.expireTime);
        if (expiresAt !== null && expiresAt <= clock()) throw errors.invalid("expire_time", "must be in the future");
        const { record, secret } = await createApiKey(deps, { name, subject, groups, expiresAt, createdBy: caller.subject }, (r, sec) => remember({ apiKey: apiKeyToProto(r), secret: sec }));
        await audit(deps, { audit: "apikey.create", by: caller.subject, apiKey: record.id, subject, groups }, "API key created");
        return { apiKey: apiKeyToProto(record), secret };
      });
    },

    async listApiKeys(req, ctx) {
      requireAdmin(ctx, "list API keys");
      const size = v.pageSize(req.pageSize);
      const filter = { r: req.includeRevoked };
      const after = decodePageToken(req.pageToken, filter);
      const rows = await store.apiKeys.list({ after, limit: size + 1 }, req.includeRevoked);
      const page = rows.slice(0, size);
      return { apiKeys: page.map(apiKeyToProto), nextPageToken: rows.length > size ? encodePageToken(page.at(-1)!.id, filter) : "" };
    },

    async getLoginConfig() {
      const oidc = deps.settings.oidcLogin;
      if (oidc === undefined) return { tokenExchange: exchange !== undefined };
      // The console cannot read the issuer's discovery itself (its CSP allows only this
      // origin): the control plane passes the endpoint on, or nothing while it is unreachable.
      const authorizationEndpoint = deps.oidcIssuer === undefined ? "" : await deps.oidcIssuer().then((m) => m.authorizationEndpoint, () => "");
      return { oidc: { issuerUrl: oidc.issuerUrl, clientId: oidc.clientId, scopes: oidc.scopes, authorizationEndpoint }, tokenExchange: exchange !== undefined };
    },

    async exchangeToken(req) {
      if (exchange === undefined) throw errors.precondition("token exchange is not configured on this control plane: it trusts no CI issuer");
      return exchange.exchange(req);
    },

    async startSession(req, ctx) {
      const sessions = deps.sessions;
      if (sessions === undefined) throw errors.precondition("this control plane serves no console sessions");
      let credential: string;
      if (req.oidcCode !== undefined) {
        if (req.credential !== "") throw errors.invalid("credential", "give a credential or an oidc_code, not both");
        const oidc = deps.settings.oidcLogin;
        if (oidc === undefined || deps.oidcIssuer === undefined) throw errors.precondition("this control plane has no OIDC issuer configured: log in with an API key");
        credential = await redeemAuthorizationCode(deps.oidcIssuer, oidc.clientId, req.oidcCode);
      } else {
        if (req.credential === "") throw errors.invalid("credential", "is required: an API key or an OIDC ID token");
        credential = v.maxLength("credential", req.credential, 16_384);
      }
      const { caller, cookie, expiresAt } = await sessions.start(credential);
      ctx.responseHeader.append("set-cookie", cookie);
      await audit(deps, { audit: "console.session.start", subject: caller.subject, via: caller.authenticatedBy, apiKey: caller.apiKeyId || undefined, expiresAt }, "console session started");
      return { subject: caller.subject, groups: caller.groups, admin: caller.admin, expireTime: timestampFromDate(expiresAt) };
    },

    async endSession(_req, ctx) {
      if (deps.sessions !== undefined) ctx.responseHeader.append("set-cookie", deps.sessions.clearCookie());
      return {};
    },

    async revokeApiKey(req, ctx) {
      const caller = requireAdmin(ctx, "revoke API keys");
      const id = v.maxLength("id", req.id, 64);
      if (!(await store.apiKeys.revoke(id, clock()))) throw errors.apiKeyNotFound(id);
      await audit(deps, { audit: "apikey.revoke", by: caller.subject, apiKey: id }, "API key revoked");
      return {};
    },
  };
}
