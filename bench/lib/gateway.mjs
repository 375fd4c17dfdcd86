/**
 * kubegate as the data path sees it: `kubegate serve` (both planes, as a child process, so
 * its CPU and memory are its own, audit lines to a log file), members registered in
 * direct mode, and users with a grant and a minted token, all through the public API.
 */
import { dirname, join } from "node:path";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { startChildControlPlane } from "./kubegate.mjs";
import { httpsRequest, pollUntil } from "./https.mjs";
import { importDist } from "./paths.mjs";

const DATA_RE = /data plane listening on (https:\/\/\S+)/;

/**
 * Starts `kubegate serve` (SQLite, temp data dir, ports 0) and waits until its data plane
 * has its first view (/readyz). Resolves to the child control plane's handle plus
 * { dataUrl, admin (clients with the bootstrap key), logFile }. `options.env` goes to the child.
 */
export async function startGateway(flags = {}, options = {}) {
  const target = await startChildControlPlane({ "sync-heartbeat": "1s", ...flags }, options);
  try {
    const [, dataUrl] = await target.process.waitFor(DATA_RE, 10_000);
    await pollUntil(`${dataUrl}/readyz`, (r) => r.status === 200, { caPem: target.caPem });
    const { createKubegateClients } = await importDist("src/client/clients.js");
    const admin = createKubegateClients({ baseUrl: target.url, caPem: target.caPem, credential: target.adminKey });
    return { ...target, dataUrl, admin, logFile: join(dirname(target.dataDir), "stderr.log") };
  } catch (err) {
    await target.stop();
    throw err;
  }
}

/** Registers a member in direct mode: the gateway dials `serverUrl`, trusts `caPem`, sends `bearer`. */
export async function registerDirect(gw, name, { serverUrl, caPem, bearer }) {
  await gw.admin.clusters.registerCluster({
    name,
    mode: { case: "direct", value: { serverUrl, caPem, credential: { kind: { case: "bearerToken", value: bearer } } } },
  });
}

/**
 * A user with an API key and a grant (`role`: view | edit | admin | cluster-admin) on
 * `cluster`. Resolves to { name, grantId, token(ttlMs) }; token() mints as the user.
 */
export async function createUser(gw, { name, cluster, role = "view", groups = [] }) {
  const { createKubegateClients } = await importDist("src/client/clients.js");
  const { Role, SubjectKind } = await importDist("gen/kubegate/v1/grant_pb.js");
  const roles = { view: Role.VIEW, edit: Role.EDIT, admin: Role.ADMIN, "cluster-admin": Role.CLUSTER_ADMIN };
  const { secret } = await gw.admin.identity.createApiKey({ name: `${name} key`, subject: name, groups });
  const { grant } = await gw.admin.grants.createGrant({ cluster, subject: { kind: SubjectKind.USER, name }, role: roles[role] });
  const clients = createKubegateClients({ baseUrl: gw.url, caPem: gw.caPem, credential: secret });
  return {
    name,
    grantId: grant.id,
    clients,
    async token(ttlMs) {
      return (await clients.tokens.mintToken({ cluster, ttl: ttlMs === undefined ? undefined : durationFromMs(ttlMs) })).token;
    },
  };
}

/**
 * Waits until a GET of `path` through the data plane with `token` answers 2xx: the data
 * plane has learnt the cluster and the grant from the sync stream.
 */
export async function waitForRoute(gw, cluster, path, token, timeoutMs = 10_000) {
  return pollUntil(`${gw.dataUrl}/clusters/${cluster}${path}`, (r) => r.status >= 200 && r.status < 300, { caPem: gw.caPem, headers: { authorization: `Bearer ${token}` } }, timeoutMs);
}

export { httpsRequest };
