/**
 * The outermost interceptor: authenticates every call before any service code runs and
 * puts the Caller on the handler context. The few calls that come before a credential
 * exists (how to log in, trading a CI token for one) run without a Caller.
 */
import type { Interceptor } from "@connectrpc/connect";
import type { Authenticator } from "./authenticator.ts";
import { callerKey } from "./caller.ts";

/** Methods that need no credentials, by "service/method" as Connect routes them. */
const PUBLIC_METHODS = new Set(["kubegate.v1.IdentityService/GetLoginConfig", "kubegate.v1.IdentityService/ExchangeToken"]);

export function authInterceptor(authenticator: Authenticator): Interceptor {
  return (next) => async (req) => {
    if (PUBLIC_METHODS.has(`${req.service.typeName}/${req.method.name}`)) return next(req);
    const caller = await authenticator.authenticate(req.header.get("authorization"));
    req.contextValues.set(callerKey, caller);
    return next(req);
  };
}
