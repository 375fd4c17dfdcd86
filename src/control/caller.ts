/**
 * Who is calling the control plane, resolved once per request by the auth interceptor
 * and read by services from the handler context.
 */
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { errors } from "../errors.ts";

export interface Caller {
  subject: string;
  groups: string[];
  admin: boolean;
  /** A data-plane replica: may call the sync service. */
  dataPlane: boolean;
  authenticatedBy: "api-key" | "oidc" | "internal";
  apiKeyId: string;
}

/** Unset until the interceptor authenticates the call. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "kubegate caller" });

/** The authenticated caller; every RPC requires one. */
export function callerOf(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(callerKey);
  if (caller === undefined) throw errors.unauthenticated("missing credentials: send Authorization: Bearer <API key>");
  return caller;
}

/** The caller, who must be an admin to do `action`. */
export function requireAdmin(ctx: HandlerContext, action: string): Caller {
  const caller = callerOf(ctx);
  if (!caller.admin) throw errors.adminOnly(action);
  return caller;
}
