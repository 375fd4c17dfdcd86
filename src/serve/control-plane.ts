/**
 * Starts the control plane: store, signing keys, the bootstrap admin key on first start,
 * the Connect listener and a maintenance loop (grant expiry, pruning). Used by
 * `kubegate serve` and `kubegate serve control`.
 */
import { randomBytes } from "node:crypto";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { listenUrl, type ServeConfig } from "../config/serve-config.ts";
import { AUDIT_EVENTS_PER_CLUSTER, audit } from "../control/audit.ts";
import { createAuthenticator } from "../control/authenticator.ts";
import type { ControlDeps } from "../control/deps.ts";
import { createApiKey } from "../control/api-keys.ts";
import { createRateLimiter } from "../net/rate-limit.ts";
import { startControlServer } from "../control/server.ts";
import { expireDataPlanes } from "../control/sync-service.ts";
import { IDEMPOTENCY_WINDOW_MS } from "../control/idempotency.ts";
import type { Logger } from "../log.ts";
import { prepareDataDir } from "./data-dir.ts";
import { openStore } from "../store/open.ts";
import { loadOrCreateEncryptionKey } from "../store/seal.ts";
import { builtConsoleDir } from "../control/console-assets.ts";
import { createConsoleSessions, sessionStarter } from "../control/console-session.ts";
import { issuerDiscovery } from "../control/oidc-discovery.ts";
import { EXCHANGED_KEY_CREATOR, EXCHANGED_KEY_RETENTION_MS } from "../control/token-exchange.ts";
import type { Store } from "../store/types.ts";
import { loadTlsMaterial, type TlsMaterial } from "../tls/material.ts";
import { createTokenSigner } from "../token/signer.ts";

export const BOOTSTRAP_KEY_FILE = "bootstrap-admin.key";
const BOOTSTRAP_META = "bootstrap_admin_key_id";

export interface ControlPlane {
  url: string;
  port: number;
  tls: TlsMaterial;
  store: Store;
  /** The bootstrap admin key, only on the start that created it. */
  bootstrapAdminKey: string | undefined;
  /** Credential the in-process data plane syncs with; valid for this process only. */
  internalDataPlaneSecret: string;
  /** Sets the data-plane URL written into kubeconfigs once its listener is up. */
  setDataUrl(url: string): void;
  /** Drains in-flight calls for up to graceMs, then closes listener and store. */
  close(graceMs?: number): Promise<void>;
}

async function bootstrapAdmin(store: Store, config: ServeConfig, clock: () => Date, log: Logger): Promise<string | undefined> {
  if ((await store.meta.get(BOOTSTRAP_META)) !== null) return undefined;
  const { record, secret } = await createApiKey(
    { store, clock },
    { name: "bootstrap-admin", subject: "admin", groups: [config.adminGroup], expiresAt: null, createdBy: "kubegate" },
  );
  // Replicas starting together on an empty database race to here: one claim wins, and
  // the others revoke the key they made, which nobody has seen.
  if (!(await store.meta.claim(BOOTSTRAP_META, record.id))) {
    await store.apiKeys.revoke(record.id, clock());
    return undefined;
  }
  const file = join(config.dataDir, BOOTSTRAP_KEY_FILE);
  await writeFile(file, secret + "\n", { mode: 0o600 });
  await chmod(file, 0o600);
  log.info({ apiKey: record.id, file }, "bootstrap admin API key created");
  return secret;
}

export async function startControlPlane(config: ServeConfig, log: Logger, clock: () => Date = () => new Date()): Promise<ControlPlane> {
  await prepareDataDir(config.dataDir);
  const encryptionKey = await loadOrCreateEncryptionKey({
    dataDir: config.dataDir,
    keyFile: config.encryptionKeyFile,
    envValue: config.encryptionKey,
  });
  const store = await openStore({ database: config.database, dataDir: config.dataDir, encryptionKey, log: log.child({ component: "store" }) });
  try {
    const hosts = [...new Set([config.controlListen.host, config.dataListen.host].filter((h) => h !== "0.0.0.0" && h !== "::"))];
    if (config.dataUrl !== "") hosts.push(new URL(config.dataUrl).hostname.replace(/^\[|\]$/g, ""));
    const tls = await loadTlsMaterial({
      dataDir: config.dataDir,
      hosts,
      certFile: config.tlsCertFile,
      keyFile: config.tlsKeyFile,
      caFile: config.tlsCaFile,
    });
    const signer = createTokenSigner({ keys: store.signingKeys, issuer: config.issuer, maxTtlMs: config.tokenMaxTtlMs, clock });
    await signer.ensureKey();
    const bootstrapAdminKey = await bootstrapAdmin(store, config, clock, log);
    const internalDataPlaneSecret = randomBytes(32).toString("base64url");
    // The issuer and client go together (checked with the config): both set, or OIDC is off.
    const oidcClient = config.oidcIssuerUrl === undefined || config.oidcClientId === undefined ? undefined : { issuerUrl: config.oidcIssuerUrl, clientId: config.oidcClientId };
    const oidcIssuer = oidcClient === undefined ? undefined : issuerDiscovery(oidcClient.issuerUrl);
    const deps: ControlDeps = {
      store,
      signer,
      mintLimiter: createRateLimiter({ perSecond: config.mintRate, burst: config.mintBurst }),
      settings: {
        issuer: config.issuer,
        adminGroup: config.adminGroup,
        dataPlaneGroup: config.dataPlaneGroup,
        tokenDefaultTtlMs: config.tokenTtlMs,
        tokenMaxTtlMs: config.tokenMaxTtlMs,
        dataUrl: config.dataUrl || listenUrl(config.dataListen),
        dataCaPem: tls.caPem,
        syncHeartbeatMs: config.syncHeartbeatMs,
        oidcLogin: oidcClient === undefined ? undefined : { ...oidcClient, scopes: config.oidcScopes },
        tokenExchangeIssuers: config.tokenExchangeIssuers,
      },
      log: log.child({ component: "control" }),
      clock,
      ...(oidcIssuer === undefined ? {} : { oidcIssuer }),
    };
    const authenticator = createAuthenticator({
      store,
      adminGroup: config.adminGroup,
      dataPlaneGroup: config.dataPlaneGroup,
      internalSecret: internalDataPlaneSecret,
      oidc:
        oidcClient === undefined
          ? undefined
          : {
              ...oidcClient,
              usernameClaim: config.oidcUsernameClaim,
              groupsClaim: config.oidcGroupsClaim,
              usernamePrefix: config.oidcUsernamePrefix,
              groupsPrefix: config.oidcGroupsPrefix,
              ...(oidcIssuer === undefined ? {} : { discovery: oidcIssuer }),
            },
      clock,
    });
    const sessions = createConsoleSessions(encryptionKey, clock);
    deps.sessions = sessionStarter(authenticator, sessions, clock);
    const server = await startControlServer({
      deps,
      authenticator,
      sessions,
      consoleDir: builtConsoleDir(),
      tls,
      listen: config.controlListen,
      readMaxBytes: config.controlMaxMessageBytes,
      ready: async () => (await store.changes.latestRevision()) >= 0,
    });
    const maintenance = startMaintenance(store, clock, { syncHeartbeatMs: config.syncHeartbeatMs, auditRetentionMs: config.auditRetentionMs }, log);
    return {
      url: listenUrl(config.controlListen, server.port),
      port: server.port,
      tls,
      store,
      bootstrapAdminKey,
      internalDataPlaneSecret,
      setDataUrl(url) {
        if (config.dataUrl === "") deps.settings.dataUrl = url;
      },
      async close(graceMs?: number) {
        maintenance.stop();
        await server.close(graceMs);
        log.debug("control listener closed");
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * Expires grants as they reach their time and data planes whose sync went silent (every
 * second), and prunes old state (hourly), audit events past retention and cap included.
 */
function startMaintenance(store: Store, clock: () => Date, settings: { syncHeartbeatMs: number; auditRetentionMs: number }, log: Logger): { stop(): void } {
  let running = false;
  let lastPrune = 0;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const now = clock();
      const expired = await store.grants.expireDue(now);
      for (const g of expired) await audit({ log, store, clock }, { audit: "grant.expire", grant: g.id, cluster: g.cluster }, "grant expired");
      await expireDataPlanes(store, now, settings.syncHeartbeatMs, log);
      if (now.getTime() - lastPrune > 3_600_000) {
        lastPrune = now.getTime();
        await store.revocations.pruneExpired(now);
        await store.signingKeys.pruneRetired(now);
        await store.changes.prune(new Date(now.getTime() - 24 * 3_600_000));
        await store.idempotentResults.prune(new Date(now.getTime() - IDEMPOTENCY_WINDOW_MS));
        // One key per CI job: ended ones go after a week (the audit log keeps the exchange).
        const pruned = await store.apiKeys.pruneEnded(EXCHANGED_KEY_CREATOR, new Date(now.getTime() - EXCHANGED_KEY_RETENTION_MS));
        if (pruned > 0) log.info({ pruned }, "exchanged API keys that ended over a week ago deleted");
        const aged = await store.auditEvents.prune(new Date(now.getTime() - settings.auditRetentionMs));
        const capped = await store.auditEvents.cap(AUDIT_EVENTS_PER_CLUSTER);
        if (aged + capped > 0) log.info({ aged, capped }, "audit events past --audit-retention or the per-cluster cap deleted");
      }
    } catch (err) {
      log.warn({ err }, "maintenance failed; will retry");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
