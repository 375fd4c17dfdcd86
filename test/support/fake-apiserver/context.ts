/** What every API handler receives for one authenticated, authorized request. */
import type { UserInfo } from "./identity.ts";
import type { Req, Res } from "./http-io.ts";
import type { Authorizer } from "./rbac.ts";
import type { RequestInfo } from "./request-info.ts";
import type { Store } from "./store.ts";
import type { StreamRegistry } from "./streams.ts";

/** Timings the fake uses for streams; tests shorten them. */
export interface Timings {
  /** Interval between BOOKMARK events on watches that allow them. */
  bookmarkIntervalMs: number;
  /** Interval between lines of a followed log. */
  logLineIntervalMs: number;
}

/** The per-request context. */
export interface RequestContext {
  req: Req;
  res: Res;
  info: RequestInfo;
  query: URLSearchParams;
  headers: Record<string, string | string[]>;
  /** The identity the request acts as (after impersonation). */
  user: UserInfo;
  store: Store;
  authorize: Authorizer;
  streams: StreamRegistry;
  timings: Timings;
}
