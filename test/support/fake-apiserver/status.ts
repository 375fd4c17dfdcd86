/**
 * Kubernetes `Status` errors as kube-apiserver words them, so kubectl and client
 * libraries print and classify them exactly as they would against a real cluster.
 * Handlers throw `ApiError`; the server turns it into a Status body once.
 */

/** A Status `details.causes` entry. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** The JSON body of a Kubernetes `Status` object. */
export interface StatusBody {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, unknown>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code?: number;
}

/** An error that reaches the client as a Status body with an HTTP code. */
export interface ApiError extends Error {
  name: "ApiError";
  status: StatusBody;
  code: number;
}

/** Type guard by name, not instanceof, so errors crossing module copies still match. */
export function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "ApiError";
}

/** Builds a failure Status body. */
export function failureStatus(code: number, reason: string, message: string, details?: StatusBody["details"]): StatusBody {
  const body: StatusBody = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason };
  if (details) body.details = details;
  body.code = code;
  return body;
}

/** Creates a throwable ApiError. */
export function apiError(code: number, reason: string, message: string, details?: StatusBody["details"]): ApiError {
  const err = new Error(message) as ApiError;
  err.name = "ApiError";
  err.code = code;
  err.status = failureStatus(code, reason, message, details);
  return err;
}

/** "configmaps" or "deployments.apps", the way the real server names a resource in messages. */
export function qualifiedResource(group: string, resource: string): string {
  return group === "" ? resource : `${resource}.${group}`;
}

/** 404 `configmaps "x" not found`. */
export function notFound(group: string, resource: string, name: string): ApiError {
  return apiError(404, "NotFound", `${qualifiedResource(group, resource)} "${name}" not found`, { name, group: group || undefined, kind: resource });
}

/** 409 `configmaps "x" already exists`. */
export function alreadyExists(group: string, resource: string, name: string): ApiError {
  return apiError(409, "AlreadyExists", `${qualifiedResource(group, resource)} "${name}" already exists`, { name, group: group || undefined, kind: resource });
}

/** 409 Conflict for an update against a stale resourceVersion. */
export function conflict(group: string, resource: string, name: string): ApiError {
  return apiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: group || undefined, kind: resource },
  );
}

/** 422 Invalid, with one cause per bad field. */
export function invalid(group: string, kind: string, name: string, causes: Array<{ field: string; message: string }>): ApiError {
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  const list = causes.length > 1 ? `[${text}]` : text;
  return apiError(422, "Invalid", `${kind}${group ? `.${group}` : ""} "${name}" is invalid: ${list}`, {
    name,
    group: group || undefined,
    kind,
    causes: causes.map((c) => ({ reason: "FieldValueInvalid", message: c.message, field: c.field })),
  });
}

/** 400 BadRequest. */
export function badRequest(message: string): ApiError {
  return apiError(400, "BadRequest", message);
}

/** 401, worded exactly like kube-apiserver. */
export function unauthorized(): ApiError {
  return apiError(401, "Unauthorized", "Unauthorized");
}

/** 405 for a verb the resource does not support. */
export function methodNotAllowed(): ApiError {
  return apiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
}

/** 410 Expired, for a watch from a resourceVersion older than the kept history. */
export function gone(requested: number, oldest: number): ApiError {
  return apiError(410, "Expired", `too old resource version: ${requested} (${oldest})`);
}

/** What an authorization decision was about, for the 403 message. */
export interface ForbiddenSubject {
  user: string;
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Non-resource requests carry a path instead. */
  path?: string;
}

/** 403 worded like kube-apiserver: `configmaps "foo" is forbidden: User "x" cannot get resource ...`. */
export function forbidden(s: ForbiddenSubject): ApiError {
  if (s.path !== undefined) {
    return apiError(403, "Forbidden", `forbidden: User "${s.user}" cannot ${s.verb} path "${s.path}"`, {});
  }
  const res = s.subresource ? `${s.resource}/${s.subresource}` : s.resource;
  const subject = s.name ? `${qualifiedResource(s.group, s.resource)} "${s.name}"` : qualifiedResource(s.group, s.resource);
  const scope = s.namespace ? `in the namespace "${s.namespace}"` : "at the cluster scope";
  return apiError(
    403,
    "Forbidden",
    `${subject} is forbidden: User "${s.user}" cannot ${s.verb} resource "${res}" in API group "${s.group}" ${scope}`,
    { name: s.name, group: s.group || undefined, kind: s.resource },
  );
}

/** The body of a Success Status, as DELETE returns for most kinds. */
export function successStatus(details?: StatusBody["details"]): StatusBody {
  const body: StatusBody = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success" };
  if (details) body.details = details;
  return body;
}
