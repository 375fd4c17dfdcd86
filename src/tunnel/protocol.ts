/**
 * The agent tunnel's wire protocol, small and written down (docs/agent.md has the whole
 * story). The agent dials the data plane over TLS and asks, on an ordinary HTTPS port, for
 *
 *   GET /agent/v1/tunnel HTTP/1.1
 *   Connection: Upgrade
 *   Upgrade: kubegate-tunnel.v1
 *   Authorization: Bearer kga_...
 *   Kubegate-Agent-Version: 0.1.0
 *
 * After "101 Switching Protocols" the roles flip: on that byte stream the data plane is
 * the HTTP/2 client and the agent the HTTP/2 server. Every ordinary Kubernetes request is
 * one HTTP/2 stream; every upgrade (exec, attach, port-forward) is one HTTP/2 CONNECT
 * stream carrying a single HTTP/1.1 connection. HTTP/2's own per-stream flow control keeps
 * a stalled reader from holding up any other stream.
 *
 * The agent mesh: every data-plane process has an id. The agent names the ids it already
 * holds a tunnel to (`Kubegate-Tunnels`, possibly empty, which also says it takes part);
 * a process among them refuses with 409, so the agent dials again until the load balancer
 * hands it a process it lacks. Both the 101 and the 409 carry the process's own id
 * (`Kubegate-Data-Plane`) and the current set (`Kubegate-Data-Planes`); when the set
 * changes the data plane sends it down every tunnel as `POST /agent/v1/data-planes` on
 * the `:authority` kubegate-data-plane, which the agent answers itself with 204.
 */

/** The Upgrade token of the tunnel. */
export const TUNNEL_PROTOCOL = "kubegate-tunnel.v1";
export const TUNNEL_PATH = "/agent/v1/tunnel";
/** POST with the bootstrap token as bearer: answers {cluster, credential}. */
export const ENROLL_PATH = "/agent/v1/enroll";
/** POST with the current credential as bearer: answers {cluster, credential}. */
export const ROTATE_PATH = "/agent/v1/rotate";
export const AGENT_VERSION_HEADER = "kubegate-agent-version";
/**
 * Agent → data plane: the agent presents a front-proxy client certificate (this header
 * carries its CN), so it can serve a cluster in front-proxy identity mode. The data plane
 * refuses a tunnel without it for such a cluster: an agent that cannot present the
 * certificate would send X-Remote-* on its own credential, which the member ignores.
 */
export const AGENT_FRONT_PROXY_HEADER = "kubegate-agent-front-proxy";
/** Optional: the cluster the agent believes it serves; a mismatch is refused. The 101 names it back. */
export const AGENT_CLUSTER_HEADER = "kubegate-cluster";
/**
 * The only :authority a CONNECT stream may name. The agent dials its own API server
 * whatever a stream says, and refuses a CONNECT that names anything else.
 */
export const APISERVER_AUTHORITY = "kube-apiserver:443";

/** Per-stream receive window on both ends: a stalled reader buffers at most this much. */
export const TUNNEL_STREAM_WINDOW = 1024 * 1024;
/** Per-session receive window: many streams flow at once without waiting for WINDOW_UPDATE. */
export const TUNNEL_SESSION_WINDOW = 64 * 1024 * 1024;
/** Streams the agent accepts at once on one tunnel (watches each hold one). */
export const TUNNEL_MAX_STREAMS = 100_000;

/** Agent → data plane: the ids of the data planes the agent already holds a tunnel to. */
export const HELD_TUNNELS_HEADER = "kubegate-tunnels";
/** Data plane → agent: this process's id. */
export const DATA_PLANE_HEADER = "kubegate-data-plane";
/** Data plane → agent: every live data-plane id, comma-separated. */
export const DATA_PLANES_HEADER = "kubegate-data-planes";
/** The :authority of the data plane's own messages down a tunnel (never forwarded). */
export const MESH_AUTHORITY = "kubegate-data-plane";
export const DATA_PLANES_PATH = "/agent/v1/data-planes";
/** At most this many ids in a set, each at most 64 characters of [A-Za-z0-9._-]. */
export const MAX_DATA_PLANES = 256;
const DATA_PLANE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Parses a comma-separated id list; undefined when the header is absent or malformed. */
export function parseDataPlaneIds(header: string | string[] | undefined): string[] | undefined {
  if (typeof header !== "string") return undefined;
  const ids = header.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (ids.length > MAX_DATA_PLANES || !ids.every((id) => DATA_PLANE_ID.test(id))) return undefined;
  return [...new Set(ids)].sort();
}

export const isDataPlaneId = (value: unknown): value is string => typeof value === "string" && DATA_PLANE_ID.test(value);
