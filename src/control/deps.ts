/**
 * What the control-plane services share: the store, the token signer, the mint limiter
 * and the settings they act on. Built once by the server, passed to each service factory.
 */
import type { ExchangeIssuer } from "../config/token-exchange-config.ts";
import type { Logger } from "../log.ts";
import type { Caller } from "./caller.ts";
import type { IssuerMetadata } from "./oidc-discovery.ts";
import type { Store } from "../store/types.ts";
import type { TokenSigner } from "../token/signer.ts";
import type { RateLimiter } from "../net/rate-limit.ts";

export interface ControlSettings {
  issuer: string;
  adminGroup: string;
  dataPlaneGroup: string;
  tokenDefaultTtlMs: number;
  tokenMaxTtlMs: number;
  /** Public base URL of the data plane, e.g. https://gateway.example:9443. */
  dataUrl: string;
  /** PEM CA that kubectl uses to verify the data plane. */
  dataCaPem: string;
  /** How often an idle sync stream sends a heartbeat. */
  syncHeartbeatMs: number;
  /** What GetLoginConfig tells the CLI and console; unset without an OIDC issuer. */
  oidcLogin?: { issuerUrl: string; clientId: string; scopes: string[] };
  /** CI issuers ExchangeToken trusts; none (or unset) turns the exchange off. */
  tokenExchangeIssuers?: ExchangeIssuer[];
}

/** Console sessions as the identity service starts them (the authenticator checks the credential). */
export interface SessionStarter {
  start(credential: string): Promise<{ caller: Caller; cookie: string; expiresAt: Date }>;
  clearCookie(): string;
}

export interface ControlDeps {
  store: Store;
  signer: TokenSigner;
  mintLimiter: RateLimiter;
  settings: ControlSettings;
  log: Logger;
  clock: () => Date;
  /** Set once the authenticator exists; absent in harnesses that serve no console. */
  sessions?: SessionStarter;
  /** The login issuer's discovery (shared with the authenticator); unset without OIDC. */
  oidcIssuer?: () => Promise<IssuerMetadata>;
}
