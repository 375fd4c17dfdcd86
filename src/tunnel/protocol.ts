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
 */

/** The Upgrade token of the tunnel. */
export const TUNNEL_PROTOCOL = "kubegate-tunnel.v1";
export const TUNNEL_PATH = "/agent/v1/tunnel";
/** POST with the bootstrap token as bearer: answers {cluster, credential}. */
export const ENROLL_PATH = "/agent/v1/enroll";
/** POST with the current credential as bearer: answers {cluster, credential}. */
export const ROTATE_PATH = "/agent/v1/rotate";
export const AGENT_VERSION_HEADER = "kubegate-agent-version";
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
