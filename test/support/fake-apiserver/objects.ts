/**
 * CRUD for stored resources: get, list (selectors, limit/continue, Table),
 * create, update, the four PATCH types, delete and deletecollection, with
 * dryRun honoured and errors worded like kube-apiserver.
 */
import type { RequestContext } from "./context.ts";
import { decodeBody, mediaType } from "./body.ts";
import { checkBindingEscalation } from "./escalation.ts";
import { sendJson } from "./http-io.ts";
import { type KubeObject, copy, meta } from "./object.ts";
import { jsonPatch, mergePatch, strategicMerge } from "./patch.ts";
import { type ResourceType, groupVersion } from "./resources.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { apiError, badRequest, methodNotAllowed, notFound, successStatus } from "./status.ts";
import { tableContentType, toTable, wantsTable } from "./table.ts";
import { handleWatch } from "./watch.ts";

function isDryRun(ctx: RequestContext): boolean {
  return ctx.query.getAll("dryRun").includes("All");
}

/** Selects the objects a list, watch or deletecollection is about. */
export function selectorPredicate(ctx: RequestContext): (o: KubeObject) => boolean {
  const labels = parseLabelSelector(ctx.query.get("labelSelector"));
  const fields = parseFieldSelector(ctx.query.get("fieldSelector"));
  return (o) => labels(o) && fields(o);
}

function stripTypeMeta(o: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest as KubeObject;
}

function respondObject(ctx: RequestContext, t: ResourceType, code: number, obj: KubeObject): void {
  const table = wantsTable(String(ctx.req.headers["accept"] ?? ""));
  if (table && ctx.req.method === "GET") {
    sendJson(ctx.res, code, toTable(t, [obj], { version: table, includeObject: ctx.query.get("includeObject"), listMeta: { resourceVersion: meta(obj).resourceVersion } }), tableContentType(table));
    return;
  }
  sendJson(ctx.res, code, obj);
}

function sortKey(o: KubeObject): string {
  return `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
}

function list(ctx: RequestContext, t: ResourceType): void {
  const rv = String(ctx.store.resourceVersion());
  let items = ctx.store.list(t, t.namespaced ? ctx.info.namespace || undefined : undefined).filter(selectorPredicate(ctx));
  const cont = ctx.query.get("continue");
  if (cont) {
    let after: string;
    try {
      after = String(JSON.parse(Buffer.from(cont, "base64url").toString("utf8")).after);
    } catch {
      throw badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
    }
    items = items.filter((o) => sortKey(o) > after);
  }
  const listMeta: Record<string, unknown> = { resourceVersion: rv };
  const limit = Number(ctx.query.get("limit") ?? "0");
  if (limit > 0 && items.length > limit) {
    listMeta["remainingItemCount"] = items.length - limit;
    items = items.slice(0, limit);
    listMeta["continue"] = Buffer.from(JSON.stringify({ after: sortKey(items[items.length - 1]!), rv })).toString("base64url");
  }
  const table = wantsTable(String(ctx.req.headers["accept"] ?? ""));
  if (table) {
    sendJson(ctx.res, 200, toTable(t, items, { version: table, includeObject: ctx.query.get("includeObject"), listMeta }), tableContentType(table));
    return;
  }
  sendJson(ctx.res, 200, { kind: `${t.kind}List`, apiVersion: groupVersion(t), metadata: listMeta, items: items.map(stripTypeMeta) });
}

/** Checks a submitted object's type and namespace against the URL, filling what is missing. */
function conform(ctx: RequestContext, t: ResourceType, body: unknown): KubeObject {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("the body of the request must be an object");
  const obj = body as KubeObject;
  if (obj["kind"] !== undefined && obj["kind"] !== t.kind) throw badRequest(`the API version in the data (${String(obj["apiVersion"])}) does not match the expected API version (${groupVersion(t)})`);
  const m = meta(obj);
  if (t.namespaced) {
    if (m.namespace && ctx.info.namespace && m.namespace !== ctx.info.namespace) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    }
    m.namespace = ctx.info.namespace || m.namespace;
  }
  return obj;
}

/** RBAC escalation prevention, which the real server applies to every binding it writes. */
function guardEscalation(ctx: RequestContext, t: ResourceType, obj: KubeObject): void {
  checkBindingEscalation(ctx.store, ctx.authorize, ctx.user, t, obj);
}

async function create(ctx: RequestContext, t: ResourceType): Promise<void> {
  const obj = conform(ctx, t, await decodeBody(ctx.req));
  guardEscalation(ctx, t, obj);
  respondObject(ctx, t, 201, ctx.store.create(t, obj, { dryRun: isDryRun(ctx) }));
}

async function update(ctx: RequestContext, t: ResourceType): Promise<void> {
  const obj = conform(ctx, t, await decodeBody(ctx.req));
  const m = meta(obj);
  if (m.name && m.name !== ctx.info.name) throw badRequest(`the name of the object (${m.name}) does not match the name on the URL (${ctx.info.name})`);
  m.name = ctx.info.name;
  guardEscalation(ctx, t, obj);
  respondObject(ctx, t, 200, ctx.store.update(t, obj, { dryRun: isDryRun(ctx) }));
}

async function patch(ctx: RequestContext, t: ResourceType): Promise<void> {
  const type = mediaType(ctx.req);
  const body = await decodeBody(ctx.req);
  const { name, namespace } = ctx.info;
  const current = ctx.store.get(t, namespace, name);
  const dryRun = isDryRun(ctx);
  if (type === "application/apply-patch+yaml") {
    if (!current) {
      const obj = conform(ctx, t, copy(body));
      meta(obj).name = name;
      guardEscalation(ctx, t, obj);
      respondObject(ctx, t, 201, ctx.store.create(t, obj, { dryRun }));
      return;
    }
  } else if (!current) throw notFound(t.group, t.resource, name);
  let patched: unknown;
  switch (type) {
    case "application/merge-patch+json":
      patched = mergePatch(current, body);
      break;
    case "application/strategic-merge-patch+json":
    case "application/apply-patch+yaml":
      patched = strategicMerge(current, body);
      break;
    case "application/json-patch+json":
      patched = jsonPatch(current, body);
      break;
    default:
      throw apiError(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
  }
  const obj = conform(ctx, t, patched);
  const m = meta(obj);
  m.name = name;
  // A patch conflicts only when it names a resourceVersion itself.
  const patchRv = (body as KubeObject | undefined)?.metadata?.resourceVersion;
  m.resourceVersion = typeof patchRv === "string" ? patchRv : current!.metadata?.resourceVersion;
  guardEscalation(ctx, t, obj);
  respondObject(ctx, t, 200, ctx.store.update(t, obj, { dryRun }));
}

function remove(ctx: RequestContext, t: ResourceType): void {
  const gone = ctx.store.remove(t, ctx.info.namespace, ctx.info.name, { dryRun: isDryRun(ctx) });
  // Pods, deployments and namespaces answer with the object; most kinds with a Success Status.
  if (["pods", "deployments", "namespaces"].includes(t.resource)) sendJson(ctx.res, 200, gone);
  else sendJson(ctx.res, 200, successStatus({ name: ctx.info.name, group: t.group || undefined, kind: t.resource, uid: gone.metadata?.uid }));
}

function removeCollection(ctx: RequestContext, t: ResourceType): void {
  const dryRun = isDryRun(ctx);
  const items = ctx.store.list(t, ctx.info.namespace || undefined).filter(selectorPredicate(ctx));
  const removed = items.map((o) => ctx.store.remove(t, o.metadata?.namespace, o.metadata?.name ?? "", { dryRun }));
  sendJson(ctx.res, 200, { kind: `${t.kind}List`, apiVersion: groupVersion(t), metadata: { resourceVersion: String(ctx.store.resourceVersion()) }, items: removed.map(stripTypeMeta) });
}

/** Serves a request on a stored resource (no subresource, or `status`). */
export async function handleObjects(ctx: RequestContext, t: ResourceType): Promise<void> {
  const { verb, subresource, name } = ctx.info;
  if (subresource !== "" && !(subresource === "status" && verb === "get")) throw methodNotAllowed();
  switch (verb) {
    case "get": {
      const obj = ctx.store.get(t, ctx.info.namespace, name);
      if (!obj) throw notFound(t.group, t.resource, name);
      return respondObject(ctx, t, 200, obj);
    }
    case "list":
      return list(ctx, t);
    case "watch":
      return handleWatch(ctx, t, selectorPredicate(ctx));
    case "create":
      if (name) throw methodNotAllowed();
      return create(ctx, t);
    case "update":
      return update(ctx, t);
    case "patch":
      return patch(ctx, t);
    case "delete":
      return remove(ctx, t);
    case "deletecollection":
      return removeCollection(ctx, t);
    default:
      throw methodNotAllowed();
  }
}
