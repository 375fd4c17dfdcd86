/**
 * The error catalogue: every failure kubegate reports is built here, by name, with its
 * Connect code (control plane), HTTP status and Kubernetes Status reason (data plane).
 * The message is for people and is sent; the cause is for the log and never is.
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../gen/kubegate/v1/errors_pb.ts";

/** What each kind of failure means on each surface. */
export const kinds = {
  invalid: { code: Code.InvalidArgument, http: 400, reason: "BadRequest" },
  unauthenticated: { code: Code.Unauthenticated, http: 401, reason: "Unauthorized" },
  forbidden: { code: Code.PermissionDenied, http: 403, reason: "Forbidden" },
  notFound: { code: Code.NotFound, http: 404, reason: "NotFound" },
  exists: { code: Code.AlreadyExists, http: 409, reason: "AlreadyExists" },
  precondition: { code: Code.FailedPrecondition, http: 409, reason: "Conflict" },
  rateLimited: { code: Code.ResourceExhausted, http: 429, reason: "TooManyRequests" },
  badGateway: { code: Code.Unavailable, http: 502, reason: "ServiceUnavailable" },
  unavailable: { code: Code.Unavailable, http: 503, reason: "ServiceUnavailable" },
  timeout: { code: Code.DeadlineExceeded, http: 504, reason: "Timeout" },
  internal: { code: Code.Internal, http: 500, reason: "InternalError" },
} as const;

export type ErrorKind = keyof typeof kinds;

/**
 * A catalogued failure. A ConnectError (and named so: Connect recognises its errors by
 * name), so Connect handlers send it as is.
 */
export class KubegateError extends ConnectError {
  readonly catalogued = true;
  readonly kind: ErrorKind;
  readonly httpStatus: number;
  readonly reason: string;
  /** Seconds a client should wait before retrying (429/503). */
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: ErrorKind, message: string, opts?: { cause?: unknown; retryAfterMs?: number }) {
    const k = kinds[kind];
    const details =
      opts?.retryAfterMs === undefined
        ? []
        : [{ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(opts.retryAfterMs) }) }];
    super(message, k.code, undefined, details, opts?.cause);
    this.kind = kind;
    this.httpStatus = k.http;
    this.reason = k.reason;
    this.retryAfterSeconds = opts?.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(opts.retryAfterMs / 1000));
  }
}

/** Type guard that survives module duplication: checks the name, not the prototype. */
export function isKubegateError(err: unknown): err is KubegateError {
  return err instanceof Error && (err as Partial<KubegateError>).catalogued === true && "kind" in err;
}

const q = (s: string) => JSON.stringify(s);

/** Named constructors; services throw these, never bare strings. */
export const errors = {
  invalid: (field: string, why: string) => new KubegateError("invalid", `${field}: ${why}`),
  unauthenticated: (why: string, cause?: unknown) => new KubegateError("unauthenticated", why, { cause }),
  adminOnly: (action: string) => new KubegateError("forbidden", `only kubegate admins may ${action}`),
  noAccess: (cluster: string) =>
    new KubegateError("forbidden", `you do not have access to cluster ${q(cluster)}: ask an admin for a grant`),
  forbidden: (why: string) => new KubegateError("forbidden", why),
  clusterNotFound: (name: string) => new KubegateError("notFound", `cluster ${q(name)} not found`),
  clusterExists: (name: string) => new KubegateError("exists", `cluster ${q(name)} already exists`),
  grantNotFound: (id: string) => new KubegateError("notFound", `grant ${q(id)} not found`),
  apiKeyNotFound: (id: string) => new KubegateError("notFound", `API key ${q(id)} not found`),
  tokenNotFound: () => new KubegateError("notFound", "token not found or not issued by this kubegate"),
  precondition: (why: string) => new KubegateError("precondition", why),
  rateLimited: (what: string, retryAfterMs: number) =>
    new KubegateError("rateLimited", `${what} rate limit exceeded, retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))}s`, {
      retryAfterMs,
    }),
  unavailable: (why: string, cause?: unknown) => new KubegateError("unavailable", why, { cause }),
  badGateway: (why: string, cause?: unknown) => new KubegateError("badGateway", why, { cause }),
  timeout: (why: string, cause?: unknown) => new KubegateError("timeout", why, { cause }),
  internal: (cause?: unknown) => new KubegateError("internal", "internal error; see the kubegate log", { cause }),
};
