/**
 * A real kube-apiserver (v1.32) with its own etcd, for one test file: free loopback ports,
 * a temp dir, its own PKI (client CA, serving certificate, service-account keys, a
 * front-proxy CA), and the aggregated roles admin/edit/view filled as the controller-manager
 * would. The binary comes from KUBE_APISERVER_BIN (envtest's convention), else from the
 * tarball's unpack script beside the checkout; etcd from Debian's etcd-server. Stopped by
 * its handle; nothing is left behind. Also imported by bench/ (Node runs it by type stripping).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { createCa, issueClientCert, issueServerCert, type KeyPair } from "../../src/tls/pki.ts";
import { renderKubeconfig } from "./fake-apiserver/kubeconfig.ts";
import type { KubeObject } from "./fake-apiserver/object.ts";
import { freePort } from "./ports.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const UNPACK = join(ROOT, "..", "shared", "kube-apiserver", "unpack.sh");
export const ETCD_BIN = "/usr/bin/etcd";
/** The user kubegate reaches the member as (direct mode, and the agent out of cluster). */
export const GATEWAY_USER = "kubegate-gateway";
/** The front-proxy client certificate's CN, the one allowed name. */
export const FRONT_PROXY_CLIENT = "front-proxy-client";

export interface KubeApiserverOptions {
  /** `--goaway-chance`: the share of HTTP/2 requests answered with GOAWAY. */
  goawayChance?: number;
  /** More flags, as `--name=value`. */
  extraFlags?: string[];
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

export interface KubeApiserver {
  url: string;
  caPem: string;
  /** The CA of --client-ca-file (it also signed the serving certificate); issue more client certificates with it. */
  clientCa: KeyPair;
  /** A client certificate in system:masters. */
  admin: KeyPair;
  /** A bearer token for GATEWAY_USER, bound only to deploy/'s kubegate-agent ClusterRole. */
  gatewayToken: string;
  /** The front-proxy CA (--requestheader-client-ca-file) and a client certificate it signed. */
  frontProxy: { ca: KeyPair; client: KeyPair };
  dir: string;
  /** Calls the API as the admin; never throws on a status. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Creates an object, or replaces it when it exists (as the admin). */
  apply(obj: KubeObject): Promise<void>;
  /** Creates the namespace unless it exists. */
  namespace(name: string): Promise<void>;
  /** Writes a kubeconfig for the admin (default) or a bearer token, and returns its path. */
  kubeconfig(name: string, user?: { token: string } | { clientCert: KeyPair }): Promise<string>;
  /** Stops the API server (etcd keeps running) and starts it again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Why the real API server cannot run here, or undefined when it can. */
export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (!existsSync(ETCD_BIN)) missing.push(`etcd (${ETCD_BIN}, Debian's etcd-server)`);
  if (process.env["KUBE_APISERVER_BIN"] ? !existsSync(process.env["KUBE_APISERVER_BIN"]) : !existsSync(UNPACK))
    missing.push("kube-apiserver (set KUBE_APISERVER_BIN to a v1.32 binary)");
  return missing;
}

/**
 * True when the real API server can run. In CI (CI=true) a missing part fails the file;
 * elsewhere its tests skip with a loud message.
 */
export function realApiserverAvailable(): boolean {
  const missing = missingPrerequisites();
  if (missing.length === 0) return true;
  if (process.env["CI"] === "true") throw new Error(`the real kube-apiserver tests need ${missing.join(" and ")}, which CI must install`);
  console.warn(
    `\n${"!".repeat(72)}\n!!! SKIPPING the real kube-apiserver tests: missing ${missing.join("; ")}.\n` +
      `!!! In CI (CI=true) they fail instead of skipping.\n${"!".repeat(72)}\n`,
  );
  return false;
}

/** The kube-apiserver binary: KUBE_APISERVER_BIN, else unpacked (sha256-checked) into a cache directory. */
export function apiserverBinary(): string {
  const fromEnv = process.env["KUBE_APISERVER_BIN"];
  if (fromEnv) return fromEnv;
  const cache = join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "kubegate-test");
  const r = spawnSync(UNPACK, [cache], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`unpacking kube-apiserver failed: ${r.stderr}`);
  return r.stdout.trim();
}


/** A child whose output goes to a log file, and whose exit is awaited. */
interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
  log: string;
  stop(): Promise<void>;
}

function startChild(bin: string, args: string[], log: string): Child {
  const out = createWriteStream(log);
  const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.pipe(out, { end: false });
  proc.stderr!.pipe(out, { end: false });
  const exited = new Promise<void>((resolve) => proc.once("close", () => out.end(resolve)));
  return {
    proc,
    exited,
    log,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill("SIGTERM");
      const kill = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(kill);
    },
  };
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.split("\n").slice(-25).join("\n");
}

function request(url: string, caPem: string, client: KeyPair, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(`${url}${path}`, {
      method,
      ca: caPem,
      cert: client.certPem,
      key: client.keyPem,
      agent: false,
      headers: { accept: "application/json", ...(payload === undefined ? {} : { "content-type": "application/json" }), ...headers },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: <T>() => JSON.parse(text) as T });
      });
    });
    req.end(payload);
  });
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface ClusterRole {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  rules?: Rule[] | null;
  aggregationRule?: { clusterRoleSelectors?: { matchLabels?: Record<string, string> }[] };
}

/**
 * What the clusterrole-aggregation controller does: each role with an aggregationRule gets
 * the union of the rules of the roles its selectors match. Repeated until nothing changes,
 * since admin aggregates edit, which aggregates view.
 */
export function aggregateRoles(roles: ClusterRole[]): Map<string, Rule[]> {
  const rules = new Map(roles.map((r) => [r.metadata.name, r.rules ?? []]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const role of roles) {
      const selectors = role.aggregationRule?.clusterRoleSelectors;
      if (!selectors) continue;
      const union: Rule[] = [];
      const seen = new Set<string>();
      for (const other of roles) {
        if (other === role) continue;
        const labels = other.metadata.labels ?? {};
        if (!selectors.some((s) => Object.entries(s.matchLabels ?? {}).every(([k, v]) => labels[k] === v))) continue;
        for (const rule of rules.get(other.metadata.name) ?? []) {
          const key = JSON.stringify(rule);
          if (!seen.has(key)) union.push(rule), seen.add(key);
        }
      }
      if (JSON.stringify(union) !== JSON.stringify(rules.get(role.metadata.name))) {
        rules.set(role.metadata.name, union);
        changed = true;
      }
    }
  }
  return rules;
}

export async function startKubeApiserver(opts: KubeApiserverOptions = {}): Promise<KubeApiserver> {
  const missing = missingPrerequisites();
  if (missing.length > 0) throw new Error(`cannot start a real kube-apiserver: missing ${missing.join("; ")}`);
  const bin = apiserverBinary();
  const dir = await mkdtemp(join(tmpdir(), "kubegate-kas-"));
  let etcd: Child | undefined;
  let apiserver: Child | undefined;
  try {
    const pki = join(dir, "pki");
    await mkdir(pki);
    const ca = await createCa("kube-apiserver test CA");
    const serving = await issueServerCert(ca, ["127.0.0.1", "localhost"]);
    const admin = await issueClientCert(ca, "test-admin", ["system:masters"]);
    const fpCa = await createCa("front-proxy test CA");
    const fpClient = await issueClientCert(fpCa, FRONT_PROXY_CLIENT);
    const sa = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const gatewayToken = `kgtest-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    const files: Record<string, string> = {
      "ca.crt": ca.certPem,
      "serving.crt": serving.certPem,
      "serving.key": serving.keyPem,
      "front-proxy-ca.crt": fpCa.certPem,
      "front-proxy-client.crt": fpClient.certPem,
      "front-proxy-client.key": fpClient.keyPem,
      "sa.pub": sa.publicKey.export({ type: "spki", format: "pem" }) as string,
      "sa.key": sa.privateKey.export({ type: "sec1", format: "pem" }) as string,
      "tokens.csv": `${gatewayToken},${GATEWAY_USER},${GATEWAY_USER}\n`,
    };
    for (const [name, content] of Object.entries(files)) await writeFile(join(pki, name), content, { mode: 0o600 });

    let url = "";
    let args: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort, securePort] = [await freePort(), await freePort(), await freePort()];
      const etcdData = join(dir, `etcd-${attempt}`);
      etcd = startChild(
        ETCD_BIN,
        [
          "--name=test",
          `--data-dir=${etcdData}`,
          `--listen-client-urls=http://127.0.0.1:${clientPort}`,
          `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=test=http://127.0.0.1:${peerPort}`,
          "--log-level=warn",
        ],
        join(dir, "etcd.log"),
      );
      url = `https://127.0.0.1:${securePort}`;
      args = [
        `--etcd-servers=http://127.0.0.1:${clientPort}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${securePort}`,
        `--cert-dir=${join(dir, "certs")}`,
        `--tls-cert-file=${join(pki, "serving.crt")}`,
        `--tls-private-key-file=${join(pki, "serving.key")}`,
        `--client-ca-file=${join(pki, "ca.crt")}`,
        `--token-auth-file=${join(pki, "tokens.csv")}`,
        `--service-account-key-file=${join(pki, "sa.pub")}`,
        `--service-account-signing-key-file=${join(pki, "sa.key")}`,
        "--service-account-issuer=https://kubernetes.default.svc",
        `--requestheader-client-ca-file=${join(pki, "front-proxy-ca.crt")}`,
        `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        // The aggregation layer's other half: the certificate the API server itself presents
        // to aggregated API servers (the one kubegate's front-proxy mode presents to it).
        `--proxy-client-cert-file=${join(pki, "front-proxy-client.crt")}`,
        `--proxy-client-key-file=${join(pki, "front-proxy-client.key")}`,
        "--authorization-mode=RBAC",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        ...(opts.goawayChance === undefined ? [] : [`--goaway-chance=${opts.goawayChance}`]),
        ...(opts.extraFlags ?? []),
      ];
      apiserver = startChild(bin, args, join(dir, "kube-apiserver.log"));
      const up = await waitReady(url, ca.certPem, admin, apiserver, etcd);
      if (up === "ready") break;
      await apiserver.stop();
      await etcd.stop();
      // Another process took a port between the probe and the bind: try fresh ports.
      if (up === "port-taken" && attempt < 3) continue;
      throw new Error(`kube-apiserver did not become ready:\n${await tail(apiserver.log)}\n--- etcd ---\n${await tail(etcd.log)}`);
    }

    const api: KubeApiserver["api"] = (method, path, body, headers) => request(url, ca.certPem, admin, method, path, body, headers);
    const apply = async (obj: KubeObject) => {
      const collection = collectionPath(obj);
      const what = `${String(obj["kind"])} ${obj.metadata?.name}`;
      const created = await api("POST", collection, obj);
      if (created.status === 409) {
        const current = await api("GET", `${collection}/${obj.metadata?.name}`);
        const resourceVersion = current.json<KubeObject>().metadata?.resourceVersion;
        const replaced = await api("PUT", `${collection}/${obj.metadata?.name}`, { ...obj, metadata: { ...obj.metadata, resourceVersion } });
        if (replaced.status >= 300) throw new Error(`replacing ${what}: ${replaced.status} ${replaced.body}`);
      } else if (created.status >= 300) throw new Error(`creating ${what}: ${created.status} ${created.body}`);
    };
    const fillAggregatedRoles = async () => {
      const roles = (await api("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles")).json<{ items: ClusterRole[] }>().items;
      const filled = aggregateRoles(roles);
      for (const role of roles) {
        if (!role.aggregationRule) continue;
        const rules = filled.get(role.metadata.name) ?? [];
        if (JSON.stringify(rules) === JSON.stringify(role.rules ?? [])) continue;
        const res = await api("PUT", `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role.metadata.name}`, { ...role, rules });
        if (res.status >= 300) throw new Error(`filling ClusterRole ${role.metadata.name}: ${res.status} ${res.body}`);
      }
    };
    await fillAggregatedRoles();
    // The gateway holds exactly the role deploy/ gives the agent: a test then proves it suffices.
    await apply(await gatewayRole());
    await apply({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "kubegate-gateway" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "kubegate-agent" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: GATEWAY_USER }],
    });

    let kubeconfigs = 0;
    const handle: KubeApiserver = {
      url,
      caPem: ca.certPem,
      clientCa: ca,
      admin,
      gatewayToken,
      frontProxy: { ca: fpCa, client: fpClient },
      dir,
      api,
      apply,
      async namespace(name) {
        const res = await api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
        if (res.status >= 300 && res.status !== 409) throw new Error(`creating namespace ${name}: ${res.status} ${res.body}`);
      },
      async kubeconfig(name, user = { clientCert: admin }) {
        const file = join(dir, `${name}-${++kubeconfigs}.kubeconfig`);
        const who = "token" in user ? { token: user.token } : { token: "", clientCert: user.clientCert };
        await writeFile(file, renderKubeconfig(url, ca.certPem, who), { mode: 0o600 });
        return file;
      },
      async restart() {
        await apiserver!.stop();
        apiserver = startChild(bin, args, join(dir, "kube-apiserver.log"));
        if ((await waitReady(url, ca.certPem, admin, apiserver, etcd!)) !== "ready")
          throw new Error(`kube-apiserver did not come back:\n${await tail(apiserver.log)}`);
        await fillAggregatedRoles();
      },
      async close() {
        await apiserver?.stop();
        await etcd?.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
    return handle;
  } catch (err) {
    await apiserver?.stop();
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The collection an object is created in: /api/v1/namespaces/x/configmaps, /apis/g/v/clusterroles. */
function collectionPath(obj: KubeObject): string {
  const apiVersion = String(obj["apiVersion"]);
  const kind = String(obj["kind"]);
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const plural = PLURALS[kind] ?? `${kind.toLowerCase()}s`;
  return obj.metadata?.namespace ? `${base}/namespaces/${obj.metadata.namespace}/${plural}` : `${base}/${plural}`;
}
const PLURALS: Record<string, string> = { CustomResourceDefinition: "customresourcedefinitions", Policy: "policies", Ingress: "ingresses" };

/** deploy/kubegate-agent.yaml's ClusterRole, as written there. */
async function gatewayRole(): Promise<KubeObject> {
  const text = await readFile(join(ROOT, "deploy", "kubegate-agent.yaml"), "utf8");
  const role = parseAllDocuments(text)
    .map((d) => d.toJSON() as KubeObject)
    .find((o) => o?.["kind"] === "ClusterRole" && o.metadata?.name === "kubegate-agent");
  if (!role) throw new Error("deploy/kubegate-agent.yaml has no ClusterRole kubegate-agent");
  return role;
}

/** Polls /readyz until 200; says why it gave up (a port taken, a crash, or time). */
async function waitReady(url: string, caPem: string, admin: KeyPair, apiserver: Child, etcd: Child): Promise<"ready" | "port-taken" | "failed"> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (apiserver.proc.exitCode !== null || etcd.proc.exitCode !== null) {
      await apiserver.exited.catch(() => undefined);
      const logs = (await tail(apiserver.log)) + (await tail(etcd.log));
      return /address already in use/.test(logs) ? "port-taken" : "failed";
    }
    const res = await request(url, caPem, admin, "GET", "/readyz").catch(() => undefined);
    if (res?.status === 200) return "ready";
    await new Promise((r) => setTimeout(r, 200));
  }
  return "failed";
}
