/** The control plane's Connect services, called from the page's own origin with the session cookie. */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuditLog } from "../../gen/kubegate/v1/audit_pb.ts";
import { ClusterRegistry } from "../../gen/kubegate/v1/cluster_pb.ts";
import { AccessGrants } from "../../gen/kubegate/v1/grant_pb.ts";
import { IdentityService } from "../../gen/kubegate/v1/identity_pb.ts";
import { TokenService } from "../../gen/kubegate/v1/token_pb.ts";

const transport = createConnectTransport({ baseUrl: location.origin });
export const identity = createClient(IdentityService, transport);
export const clusters = createClient(ClusterRegistry, transport);
export const grants = createClient(AccessGrants, transport);
export const tokens = createClient(TokenService, transport);
export const audit = createClient(AuditLog, transport);

/** Who is logged in, as WhoAmI says. */
export interface Me {
  subject: string;
  groups: string[];
  admin: boolean;
  /** Logged in through the OIDC issuer (else with an API key). */
  viaOidc: boolean;
}
