/**
 * startFakeApiserver: a kube-apiserver stand-in on 127.0.0.1 (port 0) speaking
 * TLS with ALPN h2 and http/1.1, with its own CA, token and client-certificate
 * authentication, impersonation, RBAC, discovery, CRUD, watch, logs, exec and
 * a SPDY echo — plus test hooks and a request log. Test code only.
 */
import { X509Certificate, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import http2 from "node:http2";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { type KeyPair, createCa, issueClientCert, issueServerCert } from "../../../src/tls/pki.ts";
import { admit } from "./admission.ts";
import { type ApiSettings, routeApiRequest } from "./api.ts";
import { type Authenticators, type TokenTable, type TokenUser, peerCertificateCn, withoutRequestHeaders } from "./authn.ts";
import type { RequestContext } from "./context.ts";
import { armDrop } from "./drop.ts";
import { type Hooks, createHooks } from "./hooks.ts";
import { type Req, type Res, headerRecord, sendError, sendJson, sendStatus, tlsSocketOf } from "./http-io.ts";
import { type KubeconfigUser, renderKubeconfig } from "./kubeconfig.ts";
import { type KubeObject, meta } from "./object.ts";
import { type FakeApiserverOptions, resolveOptions } from "./options.ts";
import { IMPERSONATOR_ROLE, clusterRoleBinding, defaultRbacObjects } from "./rbac-defaults.ts";
import { createRbacAuthorizer } from "./rbac.ts";
import { type RecordedRequest, createRequestLog, queryRecord } from "./request-log.ts";
import { findByKind, findByResource } from "./resources.ts";
import { failureStatus } from "./status.ts";
import { type Store, createStore } from "./store.ts";
import { type StreamKind, createStreamRegistry } from "./streams.ts";
import { createUpgradeHandler } from "./upgrade.ts";

export type { FakeApiserverOptions } from "./options.ts";

/** The handle a test holds. */
export interface FakeApiserver {
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  /** PEM of the CA that signed the serving certificate. */
  caPem: string;
  /** The CA trusted for client certificates; issue more with issueClientCert. */
  clientCa: KeyPair;
  /** With the `requestHeader` option: the requestheader CA (the client CA when `ca: "client"`). */
  frontProxyCa?: KeyPair;
  /** With the `requestHeader` option: a certificate of the requestheader CA with this CN (a front proxy's, if the CN is allowed). */
  issueFrontProxyCert(commonName: string): Promise<KeyPair>;
  /** Token of user "admin" in group system:masters. */
  adminToken: string;
  /** Client certificate of user "admin-cert" in group system:masters. */
  adminCert: KeyPair;
  /** Token of the gateway identity, when the `gateway` option is set. */
  gatewayToken?: string;
  /** Temporary directory owned by the fake (kubeconfigs go here); removed by close(). */
  dir: string;
  /** Adds (or replaces) a bearer token. */
  addToken(token: string, user: string, groups?: string[]): void;
  /** Issues a client certificate the fake accepts (CN = user, O = groups). */
  issueClientCert(user: string, groups?: string[]): Promise<KeyPair>;
  /** Writes a kubeconfig for kubectl and returns its path. */
  kubeconfig(user?: KubeconfigUser, fileName?: string): Promise<string>;
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[];
  clearRequests(): void;
  /** Fault injection. */
  hooks: Hooks;
  /** Creates or replaces objects directly (no auth); returns them as stored. */
  seed(...objects: KubeObject[]): KubeObject[];
  /** Reads an object directly. */
  getObject(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  /** Deletes an object directly. */
  deleteObject(apiVersion: string, kind: string, namespace: string | undefined, name: string): void;
  /** Live long-running streams by kind. */
  liveStreams(): Record<StreamKind, number>;
  /** Open TLS connections. */
  openConnections(): number;
  /** Ends every stream, closes every connection and the listener, removes `dir`. */
  close(): Promise<void>;
}

const PUBLIC_TOKEN_BYTES = 24;

function seedObjects(store: Store, objects: KubeObject[]): KubeObject[] {
  const nsType = findByResource("", "v1", "namespaces")!;
  return objects.map((o) => {
    const t = findByKind(String(o["apiVersion"]), String(o["kind"]));
    if (!t || !t.stored) throw new Error(`fake apiserver cannot store ${String(o["apiVersion"])}/${String(o["kind"])}`);
    const m = meta(o);
    if (t.namespaced) {
      m.namespace ??= "default";
      if (!store.get(nsType, undefined, m.namespace)) store.create(nsType, { metadata: { name: m.namespace } });
    }
    let existing = store.get(t, m.namespace, m.name ?? "");
    // A binding's roleRef cannot be updated (validateUpdate): seeding another role replaces it.
    if (existing && "roleRef" in existing && JSON.stringify(existing["roleRef"]) !== JSON.stringify(o["roleRef"])) {
      store.remove(t, m.namespace, m.name ?? "");
      existing = undefined;
    }
    return existing ? store.update(t, { ...o, metadata: { ...m, resourceVersion: undefined } }) : store.create(t, o);
  });
}

/** Starts a fake kube-apiserver on 127.0.0.1, port 0. */
export async function startFakeApiserver(options?: FakeApiserverOptions): Promise<FakeApiserver> {
  const randomToken = () => randomBytes(PUBLIC_TOKEN_BYTES).toString("base64url");
  const opts = resolveOptions(options, randomToken);
  const dir = await mkdtemp(join(tmpdir(), "fake-apiserver-"));
  const [ca, clientCa] = await Promise.all([createCa("fake-apiserver-ca"), createCa("fake-apiserver-client-ca")]);
  const [serving, adminCert] = await Promise.all([issueServerCert(ca, ["127.0.0.1", "localhost"]), issueClientCert(clientCa, "admin-cert", ["system:masters"])]);
  const rh = opts.requestHeader;
  const frontProxyCa = rh === undefined ? undefined : rh.ca === "client" ? clientCa : await createCa("fake-apiserver-front-proxy-ca");

  const store = createStore(findByResource("", "v1", "namespaces")!);
  const authorize = createRbacAuthorizer(store);
  const tokens: TokenTable = new Map();
  const adminToken = randomToken();
  tokens.set(adminToken, { user: "admin", groups: ["system:masters"] });
  for (const [token, u] of Object.entries(opts.tokens)) tokens.set(token, u);
  const authn: Authenticators = {
    tokens,
    clientCas: [new X509Certificate(clientCa.certPem)],
    ...(rh === undefined || frontProxyCa === undefined ? {} : { requestHeader: { ...rh, cas: [new X509Certificate(frontProxyCa.certPem)] } }),
  };
  const initial: KubeObject[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } }, { apiVersion: "v1", kind: "Namespace", metadata: { name: "kube-system" } }, ...defaultRbacObjects()];
  if (opts.gateway) {
    tokens.set(opts.gateway.token, { user: opts.gateway.user });
    initial.push(clusterRoleBinding(IMPERSONATOR_ROLE, IMPERSONATOR_ROLE, [{ kind: "User", name: opts.gateway.user }]));
  }
  if (opts.seedPod) initial.push({ apiVersion: "v1", kind: "Pod", metadata: { name: "fake-pod", namespace: "default", labels: { app: "fake" } }, spec: { containers: [{ name: "main", image: "busybox:1.36" }] } });
  seedObjects(store, [...initial, ...opts.objects]);

  const log = createRequestLog();
  const hooks = createHooks();
  const streams = createStreamRegistry();
  const timings = { bookmarkIntervalMs: opts.bookmarkIntervalMs, logLineIntervalMs: opts.logLineIntervalMs };
  const settings: ApiSettings = { version: opts.version, serverAddress: "127.0.0.1:0" };

  async function onRequest(req: Req, res: Res): Promise<void> {
    const url = new URL(req.url ?? "/", "https://fake");
    const headers = headerRecord(req.rawHeaders);
    const method = req.method ?? "GET";
    const rec = log.record({ httpVersion: req.httpVersion, method, path: url.pathname, rawQuery: url.search.slice(1), query: queryRecord(url.searchParams), headers, clientCertificateCn: peerCertificateCn(tlsSocketOf(req)) });
    res.on("finish", () => (rec.status = res.statusCode));
    try {
      let admitted: ReturnType<typeof admit> | undefined;
      let admissionError: unknown;
      try {
        admitted = admit({
          method,
          path: url.pathname,
          query: url.searchParams,
          headers,
          socket: tlsSocketOf(req),
          authn,
          authorize,
          onIdentity: (r, i, by) => ((rec.user = r), (rec.impersonatedUser = i), (rec.authenticatedBy = by)),
          onAuthenticationErrors: (errors) => (rec.authenticationErrors = errors),
        });
      } catch (e) {
        admissionError = e;
      }
      const hooked = hooks.take(method, url.pathname, false);
      if (hooked.delayMs) await new Promise((r) => setTimeout(r, hooked.delayMs));
      if (hooked.drop) armDrop(res, hooked.drop);
      if (hooked.fail) return sendStatus(res, hooked.fail.status ?? failureStatus(hooked.fail.code, "InternalError", "failure injected by a test hook"), hooked.fail.code);
      if (hooked.redirect) {
        res.setHeader("location", hooked.redirect.location);
        return sendJson(res, hooked.redirect.code, failureStatus(hooked.redirect.code, "Found", "redirected by a test hook"));
      }
      if (admissionError) throw admissionError;
      const { info, user } = admitted!;
      const ctx: RequestContext = { req, res, info, query: url.searchParams, headers: withoutRequestHeaders(headers, authn.requestHeader), user: user ?? { name: "system:anonymous", groups: ["system:unauthenticated"] }, store, authorize, streams, timings };
      await routeApiRequest(ctx, settings);
    } catch (e) {
      sendError(res, e);
    }
  }

  const server = http2.createSecureServer({
    allowHTTP1: true,
    // kube-apiserver (Go) has no per-connection memory cap; Node's default (10 MB) would
    // refuse new streams on a connection that carries a stalled watch's backlog.
    maxSessionMemory: 512,
    key: serving.keyPem,
    cert: serving.certPem,
    // Both CAs are offered for client certificates and every handshake completes, as with
    // kube-apiserver's tls.RequestClientCert: OpenSSL's verdict and the CA the chain ends at
    // then decide, per authenticator, whether the certificate counts or is a 401 (authn.ts).
    ca: frontProxyCa === undefined || frontProxyCa === clientCa ? clientCa.certPem : [clientCa.certPem, frontProxyCa.certPem],
    requestCert: true,
    rejectUnauthorized: false,
  });
  const sockets = new Set<Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("secureConnection", (s: TLSSocket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => {});
  });
  server.on("request", (req, res) => void onRequest(req, res));
  server.on("upgrade", createUpgradeHandler({ store, authn, authorize, hooks, log, streams }) as unknown as (req: IncomingMessage, socket: Socket, head: Buffer) => void);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  settings.serverAddress = `127.0.0.1:${port}`;
  const url = `https://127.0.0.1:${port}`;
  let kubeconfigs = 0;
  let closed: Promise<void> | undefined;

  const typeOf = (apiVersion: string, kind: string) => {
    const t = findByKind(apiVersion, kind);
    if (!t || !t.stored) throw new Error(`fake apiserver does not serve ${apiVersion}/${kind}`);
    return t;
  };

  return {
    url,
    port,
    caPem: ca.certPem,
    clientCa,
    adminToken,
    adminCert,
    gatewayToken: opts.gateway?.token,
    dir,
    addToken(token, user, groups = []) {
      tokens.set(token, { user, groups } satisfies TokenUser);
    },
    issueClientCert: (user, groups = []) => issueClientCert(clientCa, user, groups),
    ...(frontProxyCa === undefined ? {} : { frontProxyCa }),
    issueFrontProxyCert(commonName) {
      if (frontProxyCa === undefined) throw new Error("the fake apiserver was started without the requestHeader option");
      return issueClientCert(frontProxyCa, commonName);
    },
    async kubeconfig(user = {}, fileName) {
      const file = join(dir, fileName ?? `kubeconfig-${++kubeconfigs}.json`);
      await writeFile(file, renderKubeconfig(url, ca.certPem, { ...user, token: user.token ?? adminToken }), { mode: 0o600 });
      return file;
    },
    requests: log.entries,
    clearRequests: () => log.clear(),
    hooks,
    seed: (...objects) => seedObjects(store, objects),
    getObject: (apiVersion, kind, namespace, name) => store.get(typeOf(apiVersion, kind), namespace, name),
    deleteObject: (apiVersion, kind, namespace, name) => void store.remove(typeOf(apiVersion, kind), namespace, name),
    liveStreams: () => streams.counts(),
    openConnections: () => sockets.size,
    close() {
      closed ??= (async () => {
        streams.endAll();
        const listening = new Promise<void>((r) => server.close(() => r()));
        for (const s of sessions) s.destroy();
        for (const s of sockets) s.destroy();
        await listening;
        await rm(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
