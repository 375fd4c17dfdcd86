/**
 * Starts a real control plane in-process on port 0 in a temporary data directory, with
 * helpers to reach it as an admin or as any API-key subject over any protocol.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createKubegateClients, type KubegateClients, type Protocol } from "../../src/client/clients.ts";
import { resolveServeConfig, type ServeConfig } from "../../src/config/serve-config.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { BOOTSTRAP_KEY_FILE, startControlPlane, type ControlPlane } from "../../src/serve/control-plane.ts";
import { clusterRoleBinding, type FakeApiserver } from "./fake-apiserver/index.ts";

export interface TestControlPlane {
  url: string;
  caPem: string;
  adminKey: string;
  dataDir: string;
  config: ServeConfig;
  plane: ControlPlane;
  /** Every log line, parsed. */
  logs: Record<string, unknown>[];
  log: Logger;
  clients(credential?: string, protocol?: Protocol): KubegateClients;
  /** Creates an API key for a subject and returns its secret. */
  apiKey(subject: string, groups?: string[]): Promise<string>;
  close(): Promise<void>;
}

/** Flags as `kubegate serve` takes them (without dashes), e.g. { "mint-burst": "3" }. */
export async function startTestControlPlane(
  flags: Record<string, string> = {},
  opts: { dataDir?: string; env?: NodeJS.ProcessEnv; clock?: () => Date } = {},
): Promise<TestControlPlane> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), "kubegate-cp-")));
  const config = resolveServeConfig(
    { "data-dir": dataDir, "control-listen": "127.0.0.1:0", "data-listen": "127.0.0.1:0", ...flags },
    opts.env ?? {},
  );
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level: "info" }, sink);
  const plane = await startControlPlane(config, log, opts.clock);
  const adminKey = plane.bootstrapAdminKey ?? (await readFile(join(dataDir, BOOTSTRAP_KEY_FILE), "utf8")).trim();
  const clients = (credential = adminKey, protocol: Protocol = "connect") =>
    createKubegateClients({ baseUrl: plane.url, caPem: plane.tls.caPem, credential, protocol });
  return {
    url: plane.url,
    caPem: plane.tls.caPem,
    adminKey,
    dataDir,
    config,
    plane,
    logs,
    log,
    clients,
    async apiKey(subject, groups = []) {
      const res = await clients().identity.createApiKey({ name: `${subject}-key`, subject, groups });
      return res.secret;
    },
    async close() {
      await plane.close(1000);
      if (opts.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The fake member registered in direct mode as "member", `user` granted view on it (and
 * bound to view in the fake, as the member's RBAC would), with an API key and a token
 * minted through the control plane at `connect`.
 */
export async function viewerOnFakeMember(
  admin: KubegateClients,
  fake: FakeApiserver,
  user: string,
  connect: { baseUrl: string; caPem: string },
): Promise<{ grantId: string; apiKey: string; token: string; clients: KubegateClients }> {
  await admin.clusters.registerCluster({
    name: "member",
    mode: { case: "direct", value: { serverUrl: fake.url, caPem: fake.caPem, credential: { kind: { case: "bearerToken", value: fake.gatewayToken! } } } },
  });
  const grant = (await admin.grants.createGrant({ cluster: "member", subject: { kind: SubjectKind.USER, name: user }, role: Role.VIEW })).grant!;
  fake.seed(clusterRoleBinding(user, "view", [{ kind: "User", name: `kubegate:${user}` }]));
  const apiKey = (await admin.identity.createApiKey({ name: user, subject: user })).secret;
  const clients = createKubegateClients({ ...connect, credential: apiKey });
  const token = (await clients.tokens.mintToken({ cluster: "member" })).token;
  return { grantId: grant.id, apiKey, token, clients };
}
