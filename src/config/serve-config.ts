/**
 * `kubegate serve` settings: one table of options, each a flag and an env var
 * KUBEGATE_<NAME>, with defaults filled and every group validated in one place.
 */
import { homedir } from "node:os";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { parseDuration } from "./duration.ts";
import { loadTokenExchangeConfig, type ExchangeIssuer } from "./token-exchange-config.ts";
import type { EdgeLimits } from "../data/edge.ts";

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ServeConfig {
  dataDir: string;
  controlListen: ListenAddress;
  dataListen: ListenAddress;
  /** postgres:// URL, or undefined for SQLite in the data directory. */
  database: string | undefined;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  tlsCaFile: string | undefined;
  encryptionKeyFile: string | undefined;
  /** Base64 of 32 bytes, from KUBEGATE_ENCRYPTION_KEY. */
  encryptionKey: string | undefined;
  issuer: string;
  adminGroup: string;
  dataPlaneGroup: string;
  tokenTtlMs: number;
  tokenMaxTtlMs: number;
  mintRate: number;
  mintBurst: number;
  /** Public data-plane URL written into kubeconfigs; default from --data-listen. */
  dataUrl: string;
  syncHeartbeatMs: number;
  /** Data plane: how long it serves on its last view without the control plane. */
  syncStalenessMs: number;
  /** Data plane: ping interval of agent tunnels; three missed pings drop a tunnel. */
  agentHeartbeatMs: number;
  /** Data plane: how often each direct member is asked GET /version (its READY/OFFLINE status). */
  memberProbeIntervalMs: number;
  impersonationPrefix: string;
  /** Data plane: whether a token expiring during a stream cuts it. */
  cutStreamsOnTokenExpiry: boolean;
  logLevel: string;
  /** serve data: the control plane to sync from, and how to trust and authenticate to it. */
  controlUrl: string | undefined;
  controlCaFile: string | undefined;
  controlTokenFile: string | undefined;
  upstreamConnectTimeoutMs: number;
  /** Data-plane worker processes sharing the data port (1: the data plane runs in-process). */
  dataWorkers: number;
  /** Data plane: requests per second each user may make per replica (0: unlimited). */
  requestRate: number;
  requestBurst: number;
  upstreamResponseTimeoutMs: number;
  /** Control plane: largest request message, in bytes. */
  controlMaxMessageBytes: number;
  /** Data port: connection-level limits and timeouts. */
  edge: EdgeLimits;
  /** Data plane: concurrent requests and streams per user, and per cluster, on this replica. */
  maxStreamsPerUser: number;
  maxStreamsPerCluster: number;
  oidcIssuerUrl: string | undefined;
  oidcClientId: string | undefined;
  oidcUsernameClaim: string;
  oidcGroupsClaim: string;
  oidcUsernamePrefix: string;
  /** Prepended to OIDC group names (empty: a grant to group `platform` matches the IdP's `platform`). */
  oidcGroupsPrefix: string;
  /** Scopes the CLI and console request when they log in. */
  oidcScopes: string[];
  /** CI issuers whose ID tokens ExchangeToken accepts (empty: exchange is off). */
  tokenExchangeIssuers: ExchangeIssuer[];
  /** Control plane: how long AuditLog keeps an event. */
  auditRetentionMs: number;
  /** Data plane: how often audited requests are sent to the control plane. */
  auditFlushMs: number;
}

type Kind = "string" | "duration" | "number" | "listen" | "boolean";

/** The control plane's default read limit on a request message; kubegate's clients write no more. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

interface OptionSpec {
  flag: string;
  kind: Kind;
  help: string;
  default?: string;
}

/** Every serve option, in the order `--help` shows them. */
export const serveOptions: Record<string, OptionSpec> = {
  dataDir: { flag: "data-dir", kind: "string", help: "state directory (default $KUBEGATE_HOME, else ~/.kubegate)" },
  controlListen: { flag: "control-listen", kind: "listen", default: "127.0.0.1:8443", help: "control plane address (Connect, gRPC, gRPC-Web)" },
  dataListen: { flag: "data-listen", kind: "listen", default: "127.0.0.1:9443", help: "data plane address (the Kubernetes API proxy)" },
  database: { flag: "database", kind: "string", help: "postgres:// URL; default: SQLite in the data directory" },
  tlsCertFile: { flag: "tls-cert-file", kind: "string", help: "serving certificate (default: kubegate's own CA issues one)" },
  tlsKeyFile: { flag: "tls-key-file", kind: "string", help: "serving private key" },
  tlsCaFile: { flag: "tls-ca-file", kind: "string", help: "CA bundle clients need for --tls-cert-file (written into kubeconfigs)" },
  encryptionKeyFile: { flag: "encryption-key-file", kind: "string", help: "AES-256 key (base64) for secrets at rest; default <data-dir>/encryption.key" },
  issuer: { flag: "issuer", kind: "string", default: "kubegate", help: "token issuer (iss)" },
  adminGroup: { flag: "admin-group", kind: "string", default: "kubegate:admins", help: "callers in this group administer kubegate" },
  dataPlaneGroup: { flag: "data-plane-group", kind: "string", default: "kubegate:data-planes", help: "API keys in this group may sync as a data plane" },
  tokenTtl: { flag: "token-ttl", kind: "duration", default: "15m", help: "default token lifetime" },
  tokenMaxTtl: { flag: "token-max-ttl", kind: "duration", default: "1h", help: "longest token lifetime a caller may ask for" },
  mintRate: { flag: "mint-rate", kind: "number", default: "5", help: "tokens per second each subject may mint (sustained)" },
  mintBurst: { flag: "mint-burst", kind: "number", default: "20", help: "tokens each subject may mint in a burst" },
  dataUrl: { flag: "data-url", kind: "string", help: "public data-plane URL for kubeconfigs (default https://<data-listen>)" },
  syncHeartbeat: { flag: "sync-heartbeat", kind: "duration", default: "5s", help: "sync stream heartbeat interval" },
  syncStaleness: { flag: "sync-staleness", kind: "duration", default: "60s", help: "data plane serves this long without the control plane, then fails closed" },
  agentHeartbeat: { flag: "agent-heartbeat", kind: "duration", default: "5s", help: "data plane pings agent tunnels this often; three missed pings mark the agent offline" },
  memberProbeInterval: {
    flag: "member-probe-interval",
    kind: "duration",
    default: "15s",
    help: "data plane: asks each direct member GET /version this often (jittered) to mark it READY or OFFLINE",
  },
  impersonationPrefix: { flag: "impersonation-prefix", kind: "string", default: "kubegate:", help: "prefix of the impersonated user and groups" },
  cutStreamsOnTokenExpiry: { flag: "cut-streams-on-token-expiry", kind: "boolean", default: "false", help: "end live streams when their token expires" },
  logLevel: { flag: "log-level", kind: "string", default: "info", help: "pino log level" },
  controlUrl: { flag: "control", kind: "string", help: "serve data: control plane URL to sync from" },
  controlCaFile: { flag: "control-ca-file", kind: "string", help: "serve data: CA of the control plane (default <data-dir>/ca.crt)" },
  controlTokenFile: { flag: "control-token-file", kind: "string", help: "serve data: file holding a data-plane API key" },
  dataWorkers: { flag: "data-workers", kind: "number", default: "1", help: "data-plane worker processes sharing the data port (one per core)" },
  requestRate: { flag: "request-rate", kind: "number", default: "0", help: "data plane: requests/s per user and replica; 0 means unlimited" },
  requestBurst: { flag: "request-burst", kind: "number", default: "100", help: "data plane: request burst per user" },
  upstreamConnectTimeout: { flag: "upstream-connect-timeout", kind: "duration", default: "10s", help: "data plane: time to connect to a member" },
  upstreamResponseTimeout: {
    flag: "upstream-response-timeout",
    kind: "duration",
    default: "60s",
    help: "data plane: time for a member to start answering (streams are never cut after that)",
  },
  controlMaxMessageBytes: {
    flag: "control-max-message-bytes",
    kind: "number",
    default: String(DEFAULT_MAX_MESSAGE_BYTES),
    help: "control plane: largest request message (ResourceExhausted beyond)",
  },
  dataMaxConcurrentStreams: { flag: "data-max-concurrent-streams", kind: "number", default: "250", help: "data port: concurrent streams per client HTTP/2 connection" },
  dataMaxResets: { flag: "data-max-resets-per-second", kind: "number", default: "200", help: "data port: streams a client may reset per second on one connection, then GOAWAY" },
  dataMaxHeaderBytes: { flag: "data-max-header-bytes", kind: "number", default: "65536", help: "data port: bytes of request headers (431 beyond)" },
  dataMaxHeaderCount: { flag: "data-max-header-count", kind: "number", default: "200", help: "data port: request header fields" },
  dataHandshakeTimeout: { flag: "data-handshake-timeout", kind: "duration", default: "5s", help: "data port: TCP accept to the end of the TLS handshake" },
  dataHeaderTimeout: { flag: "data-header-timeout", kind: "duration", default: "10s", help: "data port: time to send a request's headers (slowloris)" },
  dataIdleTimeout: {
    flag: "data-idle-timeout",
    kind: "duration",
    default: "2m",
    help: "data port: idle connections are closed after this; open streams are PINGed, never cut",
  },
  maxStreamsPerUser: { flag: "max-streams-per-user", kind: "number", default: "1000", help: "data plane: concurrent requests and streams per user and replica (429 beyond)" },
  maxStreamsPerCluster: {
    flag: "max-streams-per-cluster",
    kind: "number",
    default: "10000",
    help: "data plane: concurrent requests and streams per cluster and replica (429 beyond)",
  },
  oidcIssuerUrl: { flag: "oidc-issuer-url", kind: "string", help: "accept OIDC ID tokens from this issuer" },
  oidcClientId: { flag: "oidc-client-id", kind: "string", help: "OIDC audience" },
  oidcUsernameClaim: { flag: "oidc-username-claim", kind: "string", default: "email", help: "claim holding the user name" },
  oidcGroupsClaim: { flag: "oidc-groups-claim", kind: "string", default: "groups", help: "claim holding the groups" },
  oidcUsernamePrefix: { flag: "oidc-username-prefix", kind: "string", default: "oidc:", help: "prefix for OIDC user names" },
  oidcGroupsPrefix: { flag: "oidc-groups-prefix", kind: "string", default: "", help: "prefix for OIDC group names" },
  oidcScopes: { flag: "oidc-scopes", kind: "string", default: "openid,email,offline_access", help: "scopes `kubegate login` requests, comma-separated (add groups for Dex)" },
  tokenExchangeConfig: { flag: "token-exchange-config", kind: "string", help: "YAML file of trusted CI issuers whose ID tokens trade for API keys (docs/ci-token-exchange.md)" },
  auditRetention: {
    flag: "audit-retention",
    kind: "duration",
    default: "7d",
    help: "control plane: how long `kubegate audit` and AuditLog keep events (at most 100,000 per cluster); the log keeps everything",
  },
  auditFlushInterval: { flag: "audit-flush-interval", kind: "duration", default: "2s", help: "data plane: how often audited requests are sent to the control plane (sooner every 500)" },
};

export const envName = (flag: string) => `KUBEGATE_${flag.toUpperCase().replaceAll("-", "_")}`;

/** A configuration mistake, reported with the flag and env var that set it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export function parseListen(text: string, what: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`${what}: ${JSON.stringify(text)} is not host:port (e.g. 127.0.0.1:8443, [::1]:8443, 0.0.0.0:8443)`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** URL form of a listen address: IPv6 in brackets, wildcard as localhost. */
export function listenUrl(addr: ListenAddress, port = addr.port): string {
  const host = addr.host === "0.0.0.0" || addr.host === "::" ? "localhost" : addr.host;
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/**
 * Resolves the configuration from flags (already parsed into strings), then env vars,
 * then defaults. `env` is injectable for tests.
 */
export function resolveServeConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const raw: Record<string, string | undefined> = {};
  for (const [key, spec] of Object.entries(serveOptions)) {
    raw[key] = flags[spec.flag] ?? env[envName(spec.flag)] ?? spec.default;
  }
  const where = (key: string) => `--${serveOptions[key]!.flag} (${envName(serveOptions[key]!.flag)})`;
  const duration = (key: string) => {
    try {
      return parseDuration(raw[key]!);
    } catch (err) {
      throw new ConfigError(`${where(key)}: ${(err as Error).message}`);
    }
  };
  /** A duration that must not be shorter than `minMs` (a loop that would spin). */
  const atLeast = (key: string, minMs: number, min: string) => {
    const ms = duration(key);
    if (ms < minMs) throw new ConfigError(`${where(key)}: must be at least ${min}, not ${JSON.stringify(raw[key])}`);
    return ms;
  };
  const positive = (key: string) => {
    const n = Number(raw[key]);
    if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${where(key)}: must be a positive number`);
    return n;
  };
  const nonNegative = (key: string) => {
    const n = Number(raw[key]);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${where(key)}: must be a number, 0 or more`);
    return n;
  };
  const positiveDuration = (key: string) => {
    const ms = duration(key);
    if (ms <= 0) throw new ConfigError(`${where(key)}: must be longer than 0 (e.g. 7d, 36h)`);
    return ms;
  };
  const whole = (key: string) => {
    const n = Number(raw[key]);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${where(key)}: must be a whole number, 1 or more`);
    return n;
  };
  const workers = () => {
    const n = Number(raw["dataWorkers"]);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new ConfigError(`${where("dataWorkers")}: must be a whole number from 1 to 64`);
    return n;
  };
  const bool = (key: string) => {
    const val = raw[key]!.toLowerCase();
    if (!["true", "false", "1", "0", "yes", "no"].includes(val)) throw new ConfigError(`${where(key)}: must be true or false`);
    return ["true", "1", "yes"].includes(val);
  };

  const scopes = () => {
    const list = [...new Set(raw["oidcScopes"]!.split(/[\s,]+/).filter((s) => s !== ""))];
    if (!list.includes("openid")) throw new ConfigError(`${where("oidcScopes")}: must include openid`);
    if (list.some((s) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) throw new ConfigError(`${where("oidcScopes")}: a scope is printable ASCII without quotes or backslashes`);
    return list;
  };

  const tokenExchangeIssuers = () => {
    const file = raw["tokenExchangeConfig"];
    if (file === undefined) return [];
    try {
      return loadTokenExchangeConfig(file);
    } catch (err) {
      throw new ConfigError(`${where("tokenExchangeConfig")}: ${(err as Error).message}`);
    }
  };

  const dataDir = resolve(raw["dataDir"] ?? env["KUBEGATE_HOME"] ?? join(homedir(), ".kubegate"));
  const controlListen = parseListen(raw["controlListen"]!, where("controlListen"));
  const dataListen = parseListen(raw["dataListen"]!, where("dataListen"));
  const database = raw["database"];
  if (database !== undefined && !/^postgres(ql)?:\/\//.test(database))
    throw new ConfigError(`${where("database")}: must be a postgres:// URL; omit it for the embedded SQLite store`);
  const tokenTtlMs = duration("tokenTtl");
  const tokenMaxTtlMs = duration("tokenMaxTtl");
  if (tokenTtlMs < 1000 || tokenMaxTtlMs < tokenTtlMs)
    throw new ConfigError(`${where("tokenTtl")} must be at least 1s and at most ${where("tokenMaxTtl")}`);
  if (tokenMaxTtlMs > 24 * 3_600_000) throw new ConfigError(`${where("tokenMaxTtl")}: at most 24h; tokens are meant to be short-lived`);
  if ((raw["oidcIssuerUrl"] === undefined) !== (raw["oidcClientId"] === undefined))
    throw new ConfigError(`${where("oidcIssuerUrl")} and ${where("oidcClientId")} go together`);
  if (raw["controlUrl"] !== undefined && !/^https:\/\/[^/]+\/?$/.test(raw["controlUrl"]))
    throw new ConfigError(`${where("controlUrl")}: must be https://host:port`);
  if (raw["dataUrl"] !== undefined && !/^https:\/\/[^/]+$/.test(raw["dataUrl"]))
    throw new ConfigError(`${where("dataUrl")}: must be https://host[:port] with no path`);

  return {
    dataDir,
    controlListen,
    dataListen,
    database,
    tlsCertFile: raw["tlsCertFile"],
    tlsKeyFile: raw["tlsKeyFile"],
    tlsCaFile: raw["tlsCaFile"],
    encryptionKeyFile: raw["encryptionKeyFile"],
    encryptionKey: env["KUBEGATE_ENCRYPTION_KEY"],
    issuer: raw["issuer"]!,
    adminGroup: raw["adminGroup"]!,
    dataPlaneGroup: raw["dataPlaneGroup"]!,
    tokenTtlMs,
    tokenMaxTtlMs,
    mintRate: positive("mintRate"),
    mintBurst: positive("mintBurst"),
    dataUrl: raw["dataUrl"] ?? "",
    syncHeartbeatMs: duration("syncHeartbeat"),
    syncStalenessMs: duration("syncStaleness"),
    agentHeartbeatMs: duration("agentHeartbeat"),
    memberProbeIntervalMs: atLeast("memberProbeInterval", 100, "100ms"),
    impersonationPrefix: raw["impersonationPrefix"]!,
    cutStreamsOnTokenExpiry: bool("cutStreamsOnTokenExpiry"),
    logLevel: raw["logLevel"]!,
    controlUrl: raw["controlUrl"],
    controlCaFile: raw["controlCaFile"],
    controlTokenFile: raw["controlTokenFile"],
    upstreamConnectTimeoutMs: duration("upstreamConnectTimeout"),
    dataWorkers: workers(),
    requestRate: nonNegative("requestRate"),
    requestBurst: positive("requestBurst"),
    upstreamResponseTimeoutMs: duration("upstreamResponseTimeout"),
    controlMaxMessageBytes: whole("controlMaxMessageBytes"),
    edge: {
      maxConcurrentStreams: whole("dataMaxConcurrentStreams"),
      maxResetsPerSecond: whole("dataMaxResets"),
      maxHeaderBytes: whole("dataMaxHeaderBytes"),
      maxHeaderCount: whole("dataMaxHeaderCount"),
      handshakeTimeoutMs: duration("dataHandshakeTimeout"),
      headerTimeoutMs: duration("dataHeaderTimeout"),
      idleTimeoutMs: duration("dataIdleTimeout"),
    },
    maxStreamsPerUser: whole("maxStreamsPerUser"),
    maxStreamsPerCluster: whole("maxStreamsPerCluster"),
    oidcIssuerUrl: raw["oidcIssuerUrl"],
    oidcClientId: raw["oidcClientId"],
    oidcUsernameClaim: raw["oidcUsernameClaim"]!,
    oidcGroupsClaim: raw["oidcGroupsClaim"]!,
    oidcUsernamePrefix: raw["oidcUsernamePrefix"]!,
    oidcGroupsPrefix: raw["oidcGroupsPrefix"]!,
    oidcScopes: scopes(),
    tokenExchangeIssuers: tokenExchangeIssuers(),
    auditRetentionMs: positiveDuration("auditRetention"),
    auditFlushMs: positiveDuration("auditFlushInterval"),
  };
}
