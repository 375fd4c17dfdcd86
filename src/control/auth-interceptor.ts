/**
 * The outermost interceptor: authenticates every call before any service code runs and
 * puts the Caller on the handler context. The few calls that come before a credential
 * exists (how to log in, trading a CI token for one) run without a Caller.
 */
import type { Interceptor } from "@connectrpc/connect";
import type { Authenticator } from "./authenticator.ts";
import { callerKey } from "./caller.ts";
import type { ConsoleSessions } from "./console-session.ts";

/** Methods that need no credentials, by "service/method" as Connect routes them. */
const PUBLIC_METHODS = new Set([
  "kubegate.v1.IdentityService/GetLoginConfig",
  "kubegate.v1.IdentityService/ExchangeToken",
  "kubegate.v1.IdentityService/StartSession",
  "kubegate.v1.IdentityService/EndSession",
]);

/** With `sessions`, a call without Authorization may authenticate by its console session cookie. */
export function authInterceptor(authenticator: Authenticator, sessions?: ConsoleSessions): Interceptor {
  return (next) => async (req) => {
    if (PUBLIC_METHODS.has(`${req.service.typeName}/${req.method.name}`)) return next(req);
    let authorization = req.header.get("authorization");
    if (authorization === null && sessions !== undefined) {
      const credential = sessions.credentialOf(req.header);
      if (credential !== undefined) authorization = `Bearer ${credential}`;
    }
    const caller = await authenticator.authenticate(authorization);
    req.contextValues.set(callerKey, caller);
    return next(req);
  };
}
