/**
 * Why the local proxy could not pass a request on, as the Kubernetes Status its client
 * reads: the control plane's own words when it refused to mint (no access, unknown
 * cluster, rate limit), and the proxy's when the data plane could not be reached. Only
 * messages written here or by the control plane are sent; never a token, never a body.
 */
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/kubegate/v1/errors_pb.ts";
import { DataPathError } from "../forward/kube-status.ts";
import type { ErrorKind } from "../errors.ts";
import { TLS_FAILURES } from "../forward/upstream-failure.ts";
import type { ClusterAccess, ClusterTarget } from "./cluster-tokens.ts";

const BY_CODE: Partial<Record<Code, ErrorKind>> = {
  [Code.InvalidArgument]: "invalid",
  [Code.NotFound]: "notFound",
  [Code.PermissionDenied]: "forbidden",
  [Code.Unauthenticated]: "unauthenticated",
  [Code.ResourceExhausted]: "rateLimited",
  [Code.FailedPrecondition]: "precondition",
  [Code.DeadlineExceeded]: "timeout",
  [Code.Unavailable]: "unavailable",
};

/**
 * Where the cluster is and a token for it, both from the control plane; a refusal comes
 * back as the Status the local client gets.
 */
export async function clusterTargetAndToken(access: ClusterAccess, cluster: string): Promise<{ target: ClusterTarget; token: string }> {
  try {
    const [target, token] = await Promise.all([access.target(cluster), access.token(cluster)]);
    return { target, token };
  } catch (err) {
    throw controlPlaneRefusal(err);
  }
}

/** A failed MintToken or MintKubeconfig, as the Status the local client gets. */
export function controlPlaneRefusal(err: unknown): DataPathError {
  if (!(err instanceof ConnectError)) {
    const message = err instanceof Error ? err.message : String(err);
    return new DataPathError("internal", `kubegate proxy: ${message}`);
  }
  const kind = BY_CODE[err.code] ?? "badGateway";
  let message = err.rawMessage;
  if (err.code === Code.Unauthenticated) message = `${message}: run \`kubegate login\` with a valid API key`;
  if (err.code === Code.Unavailable) message = `cannot reach the kubegate control plane: ${message}`;
  const retry = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
  const retryAfterSeconds = retry === undefined ? undefined : Math.max(1, Math.ceil(durationMs(retry) / 1000));
  return new DataPathError(kind, message, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
}


/** Code of the error a connect timeout is raised with. */
export const CONNECT_TIMEOUT = "KUBEGATE_CONNECT_TIMEOUT";

/** A failed connection to the data plane, as a 502/503/504 Status naming where it was. */
export function dataPlaneFailure(where: string, err: NodeJS.ErrnoException): DataPathError {
  const detail = `${err.code ?? ""} ${err.message}`.trim();
  const at = `the kubegate data plane at ${where}`;
  if (err.code === "ECONNREFUSED") return new DataPathError("unavailable", `${at} refused the connection`, { detail });
  if (err.code === CONNECT_TIMEOUT) return new DataPathError("timeout", `${at} could not be reached in time`, { detail });
  if (err.code !== undefined && TLS_FAILURES.has(err.code))
    return new DataPathError("badGateway", `${at} presented a certificate that the CA from the control plane does not verify`, { detail });
  if (err.code === "ENOTFOUND" || err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH" || err.code === "EAI_AGAIN")
    return new DataPathError("unavailable", `${at} is unreachable`, { detail });
  return new DataPathError("badGateway", `${at} closed the connection unexpectedly`, { detail });
}
