/**
 * A record of every request received, so tests can prove what a proxy forwarded
 * (headers, identity, impersonation) and what it stripped.
 */
import type { UserInfo } from "./identity.ts";

/** One received request. */
export interface RecordedRequest {
  id: number;
  time: Date;
  /** "1.1" or "2.0". */
  httpVersion: string;
  method: string;
  path: string;
  /** The raw query string without "?". */
  rawQuery: string;
  /** Query parameters; repeated ones keep every value. */
  query: Record<string, string[]>;
  /** Lowercased names; a header sent more than once is an array. */
  headers: Record<string, string | string[]>;
  /** The `Upgrade` header of an upgrade request. */
  upgrade?: string;
  /** Who authenticated (token, client certificate, or request headers from the front proxy), if anyone. */
  user?: UserInfo;
  /** Which authenticator accepted the request. */
  authenticatedBy?: "requestheader" | "x509" | "token";
  /** Why authentication failed (every authenticator's error, as kube-apiserver logs them), for a 401. */
  authenticationErrors?: string[];
  /** The CN of the client certificate presented on the connection, if any. */
  clientCertificateCn?: string;
  /** Who the request acted as after impersonation, when impersonation headers were honoured. */
  impersonatedUser?: UserInfo;
  /** The status code sent (101 for accepted upgrades), once known. */
  status?: number;
}

/** The log: an array that tests read, and a way to add to it. */
export interface RequestLog {
  readonly entries: RecordedRequest[];
  record(r: Omit<RecordedRequest, "id" | "time">): RecordedRequest;
  clear(): void;
}

/** Creates an empty request log. */
export function createRequestLog(): RequestLog {
  let next = 1;
  const entries: RecordedRequest[] = [];
  return {
    entries,
    record(r) {
      const rec: RecordedRequest = { id: next++, time: new Date(), ...r };
      entries.push(rec);
      return rec;
    },
    clear() {
      entries.length = 0;
    },
  };
}

/** Query string to a multi-valued record. */
export function queryRecord(params: URLSearchParams): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of params) (out[k] ??= []).push(v);
  return out;
}
