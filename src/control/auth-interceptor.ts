/**
 * The outermost interceptor: authenticates every call before any service code runs and
 * puts the Caller on the handler context.
 */
import type { Interceptor } from "@connectrpc/connect";
import type { Authenticator } from "./authenticator.ts";
import { callerKey } from "./caller.ts";

export function authInterceptor(authenticator: Authenticator): Interceptor {
  return (next) => async (req) => {
    const caller = await authenticator.authenticate(req.header.get("authorization"));
    req.contextValues.set(callerKey, caller);
    return next(req);
  };
}
