/**
 * What one GET /version says of a direct member, in words a person can act on: READY with
 * the member's gitVersion, or OFFLINE with why (nothing listens there, the certificate does
 * not verify against the cluster's CA, the credential was refused, no answer in time).
 */
import { TLS_FAILURES } from "../forward/upstream-failure.ts";
import type { MemberResponse } from "./member-request.ts";

export interface ProbeOutcome {
  phase: "READY" | "OFFLINE";
  kubernetesVersion: string;
  message: string;
}

/** The control plane refuses a longer version (and with it the whole report). */
const MAX_VERSION = 64;

const offline = (message: string): ProbeOutcome => ({ phase: "OFFLINE", kubernetesVersion: "", message });

/** The Status message of an error answer, if it carries one. */
function statusMessage(res: MemberResponse): string {
  const body = res.body as { kind?: unknown; message?: unknown } | undefined;
  return body?.kind === "Status" && typeof body.message === "string" && body.message !== "" ? `: ${body.message}` : "";
}

/** The member answered: READY only for a 200 that names a version. */
export function outcomeOfAnswer(res: MemberResponse): ProbeOutcome {
  if (res.status === 200) {
    const version = (res.body as { gitVersion?: unknown } | undefined)?.gitVersion;
    if (typeof version === "string" && version !== "") return { phase: "READY", kubernetesVersion: version.slice(0, MAX_VERSION), message: "" };
    return offline("the server's /version names no gitVersion: is the server URL a Kubernetes API server?");
  }
  if (res.status === 401) return offline("the API server refused kubegate's credential (401)");
  if (res.status === 403) return offline(`the API server does not let kubegate's credential read /version (403)${statusMessage(res)}`);
  return offline(`the API server answered GET /version with HTTP ${res.status}${statusMessage(res)}`);
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * The member could not be asked: `err` is what memberRequest threw (a DataPathError whose
 * cause is the socket's or TLS error), `timedOut` whether the probe's own deadline ended it.
 */
export function outcomeOfFailure(serverUrl: string, err: unknown, deadline: { timedOut: boolean; timeoutMs: number }): ProbeOutcome {
  const cause = (err instanceof Error && err.cause instanceof Error ? err.cause : err) as NodeJS.ErrnoException;
  const code = cause.code ?? "";
  if (code === "KUBEGATE_CONNECT_TIMEOUT") return offline(`cannot reach ${serverUrl}: no connection within ${seconds(deadline.timeoutMs)}`);
  if (deadline.timedOut || code === "KUBEGATE_RESPONSE_TIMEOUT" || code === "ETIMEDOUT")
    return offline(`${serverUrl} did not answer GET /version within ${seconds(deadline.timeoutMs)}`);
  switch (code) {
    case "ECONNREFUSED":
      return offline(`cannot reach ${serverUrl}: ECONNREFUSED (nothing accepts connections there)`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return offline(`cannot reach ${serverUrl}: ${code} (its host name does not resolve)`);
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return offline(`cannot reach ${serverUrl}: ${code} (no route to the host)`);
    case "ECONNRESET":
    case "EPIPE":
      return offline(`cannot reach ${serverUrl}: ${code} (the connection was closed before an answer)`);
    case "CERT_HAS_EXPIRED":
      return offline(`the API server's certificate has expired (${code})`);
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return offline(`the API server's certificate is not valid for the host of ${serverUrl} (${code})`);
  }
  if (TLS_FAILURES.has(code)) return offline(`the API server's certificate is not signed by the cluster's CA (${code})`);
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) return offline(`the TLS handshake with ${serverUrl} failed: ${cause.message}`);
  // No cause: the upstream could not even be built (a front-proxy cluster without its certificate).
  if (code === "") return offline(cause.message);
  return offline(`lost the connection to ${serverUrl}: ${code} ${cause.message}`);
}
