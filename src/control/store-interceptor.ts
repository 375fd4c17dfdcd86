/**
 * A store that cannot be reached (PostgreSQL restarting, the network to it cut) is the
 * caller's Unavailable with a retry hint, not an Internal error carrying a driver message:
 * retrying is the right move and loses nothing, since a write either committed or did not.
 */
import type { Interceptor } from "@connectrpc/connect";
import { KubegateError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { isStoreUnavailable } from "../store/db-errors.ts";

export function storeInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      log.warn({ err: (err as Error).message, method: req.method.name }, "store unavailable");
      throw new KubegateError("unavailable", "the kubegate store is unavailable; retry in a moment", { cause: err, retryAfterMs: 1_000 });
    }
  };
}
