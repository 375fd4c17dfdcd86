/**
 * The whole path for data-plane tests: a member cluster (the fake, or a real
 * kube-apiserver), kubegate (control and data plane in one process, as `kubegate serve`
 * runs them) on port 0 in a temp dir, the member registered in direct or agent mode, and
 * helpers to make users with grants and kubeconfigs.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll } from "vitest";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { IdentityMode } from "../../gen/kubegate/v1/cluster_pb.ts";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { KubeconfigMode } from "../../gen/kubegate/v1/token_pb.ts";
import { createKubegateClients, type KubegateClients } from "../../src/client/clients.ts";
import { resolveServeConfig } from "../../src/config/serve-config.ts";
import { createLogger } from "../../src/log.ts";
import { startKubegate, type Kubegate } from "../../src/serve/kubegate.ts";
import { startAgent, type Agent, type AgentOptions } from "../../src/tunnel/agent.ts";
import { clusterRoleBinding, roleBinding, startFakeApiserver, type FakeApiserver, type FakeApiserverOptions, type KubeObject } from "./fake-apiserver/index.ts";
import { FRONT_PROXY_CLIENT, type KubeApiserver } from "./kube-apiserver.ts";
import type { KeyPair } from "../../src/tls/pki.ts";
import { KUBECTL, clientEnv, run, type RunResult } from "./programs.ts";

export type RoleName = "view" | "edit" | "admin" | "cluster-admin";
const ROLES: Record<RoleName, Role> = { view: Role.VIEW, edit: Role.EDIT, admin: Role.ADMIN, "cluster-admin": Role.CLUSTER_ADMIN };

export interface TestUser {
  name: string;
  key: string;
  grantId: string;
  clients: KubegateClients;
  /** Mints a token for the member (or another cluster). */
  token(cluster?: string, ttlMs?: number): Promise<string>;
  /** Writes a kubeconfig from MintKubeconfig (embedded-token mode) and returns its path. */
  kubeconfig(opts?: { namespace?: string; ttlMs?: number; clusters?: string[] }): Promise<string>;
}

/** What the gateway needs of a member cluster, fake or real. */
export interface Member {
  url: string;
  caPem: string;
  /** The credential kubegate reaches the member with: allowed to impersonate. */
  gatewayToken: string;
  /** A kubeconfig for that token (the agent's, out of cluster). */
  gatewayKubeconfig(): Promise<string>;
  /** A front-proxy client certificate whose CN the member allows (front-proxy identity mode). */
  frontProxyCertificate(): Promise<KeyPair>;
  /** Creates (or replaces) RBAC objects in the member, as its admin. */
  seed(objects: KubeObject[]): Promise<void>;
  /** Stops the member, when the gateway owns it. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  flags?: Record<string, string>;
  clusterName?: string;
  /** "agent": the member is registered in agent mode and reached through an in-process agent. */
  mode?: "direct" | "agent";
  manageRbac?: boolean;
  /** "front-proxy": registered in front-proxy identity mode; the gateway (direct) or the agent presents the member's front-proxy certificate. */
  identity?: "impersonate" | "front-proxy";
  agent?: Partial<AgentOptions>;
  /** Agent mode: false registers the cluster but starts no in-process agent (the test runs its own). */
  startAgent?: boolean;
}

export interface MemberGateway {
  member: Member;
  kubegate: Kubegate;
  dataUrl: string;
  caPem: string;
  dir: string;
  admin: KubegateClients;
  /** Every log line, parsed. */
  logs: Record<string, unknown>[];
  /** Creates an API key, a grant, and the matching RBAC binding in the member. */
  user(name: string, opts?: { role?: RoleName; namespaces?: string[]; groups?: string[]; cluster?: string; bindRbac?: boolean }): Promise<TestUser>;
  /** Agent mode: the running in-process agent (replaced by restartAgent). */
  agent?: Agent;
  /** Agent mode: the bootstrap token the registration returned (used by the first agent to start). */
  bootstrapToken?: string;
  /** Agent mode: starts a (new) agent with the same state directory; resolves when its tunnel is up. */
  restartAgent?(overrides?: Partial<AgentOptions>): Promise<Agent>;
  /** Waits until the data plane's view satisfies `check`. */
  until(check: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A gateway in front of the fake member, which it owns. */
export interface TestGateway extends MemberGateway {
  fake: FakeApiserver;
}

/** A gateway in front of a real kube-apiserver shared by the test file (not closed with it). */
export interface RealGateway extends MemberGateway {
  apiserver: KubeApiserver;
}

export const MEMBER = "member";

export async function startTestGateway(opts: GatewayOptions & { fake?: FakeApiserverOptions } = {}): Promise<TestGateway> {
  // Front-proxy mode: the fake authenticates request headers, allowing the harness's CN only.
  const requestHeader = opts.identity === "front-proxy" ? { requestHeader: { allowedNames: [FRONT_PROXY_CLIENT] } } : {};
  const fake = await startFakeApiserver({ gateway: true, ...requestHeader, ...opts.fake });
  const member: Member = {
    url: fake.url,
    caPem: fake.caPem,
    gatewayToken: fake.gatewayToken!,
    gatewayKubeconfig: () => fake.kubeconfig({ token: fake.gatewayToken! }, "agent-kubeconfig.json"),
    frontProxyCertificate: () => fake.issueFrontProxyCert(FRONT_PROXY_CLIENT),
    seed: async (objects) => void fake.seed(...objects),
    close: () => fake.close(),
  };
  try {
    // Object.assign, not a spread: it keeps the `agent` getter live.
    return Object.assign(await startGateway(member, opts), { fake });
  } catch (err) {
    await fake.close();
    throw err;
  }
}

/** The gateway in front of a real kube-apiserver; the caller starts and stops the API server. */
export async function startRealGateway(apiserver: KubeApiserver, opts: GatewayOptions = {}): Promise<RealGateway> {
  const member: Member = {
    url: apiserver.url,
    caPem: apiserver.caPem,
    gatewayToken: apiserver.gatewayToken,
    gatewayKubeconfig: () => apiserver.kubeconfig("agent", { token: apiserver.gatewayToken }),
    frontProxyCertificate: async () => apiserver.frontProxy.client,
    async seed(objects) {
      for (const obj of objects) {
        const ns = obj.metadata?.namespace;
        if (ns !== undefined) await apiserver.namespace(ns);
        await apiserver.apply(obj);
      }
    },
    close: async () => undefined,
  };
  return Object.assign(await startGateway(member, opts), { apiserver });
}

async function startGateway(member: Member, opts: GatewayOptions): Promise<MemberGateway> {
  const dir = await mkdtemp(join(tmpdir(), "kubegate-gw-"));
  const config = resolveServeConfig(
    { "data-dir": dir, "control-listen": "127.0.0.1:0", "data-listen": "127.0.0.1:0", "sync-heartbeat": "1s", ...opts.flags },
    {},
  );
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      // For debugging a test: KUBEGATE_TEST_LOG=1 echoes kubegate's log lines.
      if (process.env["KUBEGATE_TEST_LOG"]) process.stderr.write(chunk);
      cb();
    },
  });
  const kubegate = await startKubegate("all", config, createLogger({ level: "info" }, sink));
  const control = kubegate.control!;
  const data = kubegate.data!;
  await data.ready;
  const admin = createKubegateClients({ baseUrl: control.url, caPem: control.tls.caPem, credential: control.bootstrapAdminKey! });
  const clusterName = opts.clusterName ?? MEMBER;
  let agent: Agent | undefined;
  let bootstrapToken: string | undefined;
  let restartAgent: TestGateway["restartAgent"];
  const frontProxy = opts.identity === "front-proxy" ? await member.frontProxyCertificate() : undefined;
  const identityMode = frontProxy === undefined ? IdentityMode.IMPERSONATE : IdentityMode.FRONT_PROXY;
  if (opts.mode === "agent") {
    const registered = await admin.clusters.registerCluster({ name: clusterName, mode: { case: "agent", value: {} }, manageRbac: opts.manageRbac ?? false, identityMode });
    bootstrapToken = registered.agentBootstrapToken;
    // The agent reaches the member as the gateway identity would: a token allowed to impersonate.
    const memberKubeconfig = await member.gatewayKubeconfig();
    // Front-proxy mode: the agent's own files hold the certificate (the gateway never sees the key).
    let agentFrontProxy: { certFile: string; keyFile: string } | undefined;
    if (frontProxy !== undefined) {
      agentFrontProxy = { certFile: join(dir, "front-proxy.crt"), keyFile: join(dir, "front-proxy.key") };
      await writeFile(agentFrontProxy.certFile, frontProxy.certPem, { mode: 0o600 });
      await writeFile(agentFrontProxy.keyFile, frontProxy.keyPem, { mode: 0o600 });
    }
    const base: AgentOptions = {
      gatewayUrl: data.url,
      gatewayCaPem: control.tls.caPem,
      cluster: clusterName,
      stateDir: join(dir, "agent-state"),
      bootstrapToken: async () => bootstrapToken,
      apiserver: { kubeconfig: memberKubeconfig, ...(agentFrontProxy === undefined ? {} : { frontProxy: agentFrontProxy }) },
      version: "0.1.0-test",
      log: createLogger({ level: "info" }, sink),
      initialBackoffMs: 50,
      maxBackoffMs: 500,
      ...opts.agent,
    };
    restartAgent = async (overrides = {}) => {
      agent = await startAgent({ ...base, ...overrides });
      await agent.ready;
      await until(() => data.tunnels.count(clusterName) > 0);
      return agent;
    };
    if (opts.startAgent !== false) await restartAgent();
  } else {
    const credential =
      frontProxy === undefined
        ? { kind: { case: "bearerToken" as const, value: member.gatewayToken } }
        : { kind: { case: "frontProxyCertificate" as const, value: { certPem: frontProxy.certPem, keyPem: frontProxy.keyPem } } };
    await admin.clusters.registerCluster({
      name: clusterName,
      mode: { case: "direct", value: { serverUrl: member.url, caPem: member.caPem, credential } },
      manageRbac: opts.manageRbac ?? false,
      identityMode,
    });
  }

  async function until(check: () => boolean, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error("the data plane's view did not catch up in time");
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  await until(() => data.view.clusters.has(clusterName));
  let files = 0;

  return {
    member,
    kubegate,
    dataUrl: data.url,
    caPem: control.tls.caPem,
    dir,
    admin,
    logs,
    until,
    get agent() {
      return agent;
    },
    bootstrapToken,
    restartAgent,
    async user(name, o = {}) {
      const role = o.role ?? "edit";
      const cluster = o.cluster ?? clusterName;
      const key = (await admin.identity.createApiKey({ name, subject: name, groups: o.groups ?? [] })).secret;
      const grant = (
        await admin.grants.createGrant({ cluster, subject: { kind: SubjectKind.USER, name }, role: ROLES[role], namespaces: o.namespaces ?? [] })
      ).grant!;
      if (o.bindRbac !== false) {
        // Direct-mode RBAC is the admin's job: bind the impersonated user in the member.
        const subject = [{ kind: "User" as const, name: `${config.impersonationPrefix}${name}` }];
        if ((o.namespaces ?? []).length === 0) await member.seed([clusterRoleBinding(`kubegate-${name}`, role, subject)]);
        else await member.seed(o.namespaces!.map((ns) => roleBinding(ns, `kubegate-${name}`, { kind: "ClusterRole", name: role }, subject)));
      }
      await until(() => data.view.grants.has(grant.id));
      const clients = createKubegateClients({ baseUrl: control.url, caPem: control.tls.caPem, credential: key });
      return {
        name,
        key,
        grantId: grant.id,
        clients,
        async token(c = cluster, ttlMs) {
          return (await clients.tokens.mintToken({ cluster: c, ttl: ttlMs === undefined ? undefined : durationFromMs(ttlMs) })).token;
        },
        async kubeconfig(k = {}) {
          const res = await clients.tokens.mintKubeconfig({
            clusters: k.clusters ?? [cluster],
            namespace: k.namespace ?? "",
            mode: KubeconfigMode.EMBEDDED_TOKEN,
            ttl: k.ttlMs === undefined ? undefined : durationFromMs(k.ttlMs),
          });
          const file = join(dir, `kubeconfig-${name}-${++files}.yaml`);
          await writeFile(file, res.kubeconfig, { mode: 0o600 });
          return file;
        },
      };
    },
    async close() {
      await agent?.stop();
      await kubegate.close(500);
      await member.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export { timestampFromDate };

/** The id (`jti`) of a kubegate token, which the member sees as the extra kubegate.dev/token-id. */
export function tokenIdOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { jti: string }).jti;
}

/** What kubectlAsAlice gives a describe block; its fields are set once its beforeAll has run. */
export interface KubectlAsAlice {
  gw: TestGateway;
  alice: TestUser;
  /** Alice's kubeconfig (embedded token, namespace default). */
  kubeconfig: string;
  /** kubectl's HOME, a temp dir of its own (its cache), for files a test writes too. */
  home: string;
  kubectl(args: string[], input?: string): Promise<RunResult>;
}

/**
 * For a describe block: a gateway in `mode` with alice (an edit grant) and real kubectl with
 * her kubeconfig, started before the block's tests and closed after them.
 */
export function kubectlAsAlice(mode: "direct" | "agent"): KubectlAsAlice {
  const s = {
    kubectl: (args: string[], input?: string) => run(KUBECTL, args, clientEnv(s.kubeconfig, s.home), input),
  } as KubectlAsAlice;
  beforeAll(async () => {
    s.gw = await startTestGateway({ mode });
    s.alice = await s.gw.user("alice", { role: "edit" });
    s.kubeconfig = await s.alice.kubeconfig({ namespace: "default" });
    s.home = await mkdtemp(join(tmpdir(), "kubegate-kubectl-home-"));
  });
  afterAll(async () => {
    await s.gw?.close();
    if (s.home !== undefined) await rm(s.home, { recursive: true, force: true });
  });
  return s;
}
