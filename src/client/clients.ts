/**
 * Typed Connect clients for every kubegate service over one transport, with the bearer
 * credential attached. Used by the CLI, the data plane's sync loop and tests.
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AuditLog } from "../../gen/kubegate/v1/audit_pb.ts";
import { ClusterRegistry } from "../../gen/kubegate/v1/cluster_pb.ts";
import { AccessGrants } from "../../gen/kubegate/v1/grant_pb.ts";
import { IdentityService } from "../../gen/kubegate/v1/identity_pb.ts";
import { DataPlaneSyncService } from "../../gen/kubegate/v1/sync_pb.ts";
import { TokenService } from "../../gen/kubegate/v1/token_pb.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../config/serve-config.ts";

export type Protocol = "connect" | "grpc" | "grpc-web";

/**
 * Messages larger than this are refused here with ResourceExhausted, before a byte is sent:
 * node's HTTP/2 client would otherwise buffer them past its session memory and lose the
 * whole connection, other calls on it included. The control plane's default read limit.
 */
export const WRITE_MAX_BYTES = DEFAULT_MAX_MESSAGE_BYTES;

export interface ClientOptions {
  baseUrl: string;
  /** PEM CA for the control plane's certificate; system roots when absent. */
  caPem?: string;
  /** API key or OIDC ID token; a function is called per request (rotation, refresh). */
  credential?: string | (() => string | Promise<string>);
  protocol?: Protocol;
  /** Default WRITE_MAX_BYTES. */
  writeMaxBytes?: number;
}

export interface KubegateClients {
  clusters: Client<typeof ClusterRegistry>;
  grants: Client<typeof AccessGrants>;
  tokens: Client<typeof TokenService>;
  identity: Client<typeof IdentityService>;
  sync: Client<typeof DataPlaneSyncService>;
  audit: Client<typeof AuditLog>;
  transport: Transport;
}

/** A transport for the chosen protocol; gRPC-Web goes over HTTP/1.1 as browsers would. */
export function createTransport(opts: ClientOptions): Transport {
  const credential = opts.credential;
  const auth: Interceptor = (next) => async (req) => {
    if (credential !== undefined) req.header.set("authorization", `Bearer ${typeof credential === "function" ? await credential() : credential}`);
    return next(req);
  };
  const tls = opts.caPem === undefined ? {} : { ca: opts.caPem };
  const writeMaxBytes = opts.writeMaxBytes ?? WRITE_MAX_BYTES;
  switch (opts.protocol ?? "connect") {
    case "grpc":
      return createGrpcTransport({ baseUrl: opts.baseUrl, nodeOptions: tls, interceptors: [auth], writeMaxBytes });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: opts.baseUrl, httpVersion: "1.1", nodeOptions: tls, interceptors: [auth], writeMaxBytes });
    case "connect":
      return createConnectTransport({ baseUrl: opts.baseUrl, httpVersion: "2", nodeOptions: tls, interceptors: [auth], writeMaxBytes });
  }
}

export function createKubegateClients(opts: ClientOptions): KubegateClients {
  const transport = createTransport(opts);
  return {
    clusters: createClient(ClusterRegistry, transport),
    grants: createClient(AccessGrants, transport),
    tokens: createClient(TokenService, transport),
    identity: createClient(IdentityService, transport),
    sync: createClient(DataPlaneSyncService, transport),
    audit: createClient(AuditLog, transport),
    transport,
  };
}
