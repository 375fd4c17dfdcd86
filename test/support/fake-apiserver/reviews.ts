/**
 * SelfSubjectAccessReview and SelfSubjectRulesReview, answered with the same
 * authorizer that guards every request, so `kubectl auth can-i` tells the truth; and
 * SelfSubjectReview, the identity the request acted as (`kubectl auth whoami`).
 */
import type { RequestContext } from "./context.ts";
import { decodeBody } from "./body.ts";
import { sendJson } from "./http-io.ts";
import { rulesFor } from "./rbac.ts";
import { badRequest, methodNotAllowed } from "./status.ts";

type ResourceAttributes = { namespace?: string; verb?: string; group?: string; resource?: string; subresource?: string; name?: string };
type NonResourceAttributes = { path?: string; verb?: string };
type Review = { apiVersion?: string; kind?: string; metadata?: unknown; spec?: { resourceAttributes?: ResourceAttributes; nonResourceAttributes?: NonResourceAttributes; namespace?: string } };

async function accessReview(ctx: RequestContext): Promise<void> {
  const review = (await decodeBody(ctx.req)) as Review;
  const ra = review?.spec?.resourceAttributes;
  const nra = review?.spec?.nonResourceAttributes;
  if (!ra && !nra) throw badRequest("SelfSubjectAccessReview.authorization.k8s.io is invalid: spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified");
  const allowed = ra
    ? ctx.authorize({ user: ctx.user, verb: ra.verb ?? "", resourceRequest: true, apiGroup: ra.group ?? "", resource: ra.resource ?? "", subresource: ra.subresource ?? "", namespace: ra.namespace ?? "", name: ra.name ?? "", path: "" })
    : ctx.authorize({ user: ctx.user, verb: nra!.verb ?? "", resourceRequest: false, apiGroup: "", resource: "", subresource: "", namespace: "", name: "", path: nra!.path ?? "" });
  const status: Record<string, unknown> = { allowed };
  if (allowed) status["reason"] = "allowed by the fake apiserver's RBAC";
  sendJson(ctx.res, 201, { kind: "SelfSubjectAccessReview", apiVersion: "authorization.k8s.io/v1", metadata: { creationTimestamp: null }, spec: review.spec, status });
}

async function rulesReview(ctx: RequestContext): Promise<void> {
  const review = (await decodeBody(ctx.req)) as Review;
  const namespace = review?.spec?.namespace ?? "";
  const all = ctx.user.groups.includes("system:masters") ? [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"] }, { verbs: ["*"], nonResourceURLs: ["*"] }] : rulesFor(ctx.store, ctx.user, namespace);
  const resourceRules = [
    { verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"] },
    ...all.filter((r) => !r.nonResourceURLs).map((r) => ({ verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}) })),
  ];
  const nonResourceRules = [
    { verbs: ["get"], nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/", "/openapi", "/openapi/*"] },
    ...all.filter((r) => r.nonResourceURLs).map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs ?? [] })),
  ];
  sendJson(ctx.res, 201, { kind: "SelfSubjectRulesReview", apiVersion: "authorization.k8s.io/v1", metadata: { creationTimestamp: null }, spec: review.spec ?? {}, status: { resourceRules, nonResourceRules, incomplete: false } });
}

function subjectReview(ctx: RequestContext): void {
  ctx.req.resume();
  const { name, uid, groups, extra } = ctx.user;
  const userInfo = { username: name, ...(uid === undefined ? {} : { uid }), groups, ...(extra === undefined ? {} : { extra }) };
  sendJson(ctx.res, 201, { kind: "SelfSubjectReview", apiVersion: "authentication.k8s.io/v1", metadata: { creationTimestamp: null }, status: { userInfo } });
}

/** Serves POST on the self review resources. */
export async function handleReview(ctx: RequestContext): Promise<void> {
  if (ctx.info.verb !== "create") throw methodNotAllowed();
  if (ctx.info.resource === "selfsubjectreviews") return subjectReview(ctx);
  if (ctx.info.resource === "selfsubjectaccessreviews") return accessReview(ctx);
  return rulesReview(ctx);
}
