/**
 * Forwards one ordinary request to the member with http2-proxy, streaming both ways with
 * no buffering and no timeout once the response has started. Redirects are never passed
 * on; connection failures become a Status that names the cluster.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import https from "node:https";
import proxy from "http2-proxy";
import { sanitizeResponseHeaders } from "./headers.ts";
import { abortResponse, DataPathError } from "./status.ts";
import type { Upstream } from "./upstream.ts";

export interface ForwardOptions {
  upstream: Upstream;
  /** Kubernetes path and query, exactly as the client sent them. */
  target: string;
  headers: Record<string, string | string[]>;
  connectTimeoutMs: number;
  /** Until the member's response headers arrive; streams are never timed out after that. */
  responseTimeoutMs: number;
  /** Called when the member's response headers arrive. */
  onResponse(status: number): void;
  /** Counts bytes sent to the client. */
  onBytesOut(n: number): void;
}

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

const TLS_FAILURES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
]);

/** Maps a failure to reach the member to the Status the client sees. */
export function upstreamFailure(cluster: string, err: NodeJS.ErrnoException & { statusCode?: number }): DataPathError {
  const name = JSON.stringify(cluster);
  const detail = `${err.code ?? ""} ${err.message}`.trim();
  if (err.code === "ECONNREFUSED") return new DataPathError("unavailable", `cluster ${name} refused the connection`, { detail });
  if (err.code === "KUBEGATE_CONNECT_TIMEOUT") return new DataPathError("timeout", `cluster ${name} could not be reached in time`, { detail });
  if (err.code === "KUBEGATE_RESPONSE_TIMEOUT" || err.code === "ETIMEDOUT")
    return new DataPathError("timeout", `cluster ${name} did not answer in time`, { detail });
  if (err.code !== undefined && TLS_FAILURES.has(err.code))
    return new DataPathError("badGateway", `cluster ${name} presented a certificate that its registered CA does not verify`, { detail });
  if (err.code === "ENOTFOUND" || err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH" || err.code === "EAI_AGAIN")
    return new DataPathError("unavailable", `cluster ${name} is unreachable`, { detail });
  return new DataPathError(err.statusCode === 503 ? "unavailable" : "badGateway", `cluster ${name} closed the connection unexpectedly`, { detail });
}

function timeoutError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

export async function forward(req: Req, res: Res, opts: ForwardOptions): Promise<void> {
  const { upstream } = opts;
  let redirected: number | undefined;
  try {
    await (proxy.web as unknown as (req: Req, res: Res, options: object) => Promise<void>)(req, res, {
      onReq: (_req: Req, _defaults: object) => {
        const proxyReq = https.request({
          method: req.method,
          hostname: upstream.hostname,
          port: upstream.port,
          path: upstream.basePath + opts.target,
          headers: opts.headers,
          agent: upstream.agent,
        });
        const connectTimer = setTimeout(
          () => proxyReq.destroy(timeoutError("KUBEGATE_CONNECT_TIMEOUT", "connect timeout")),
          opts.connectTimeoutMs,
        );
        const responseTimer = setTimeout(
          () => proxyReq.destroy(timeoutError("KUBEGATE_RESPONSE_TIMEOUT", "response timeout")),
          opts.responseTimeoutMs,
        );
        proxyReq.on("socket", (socket) => {
          if (!(socket as { connecting?: boolean }).connecting) clearTimeout(connectTimer);
          else socket.once("secureConnect", () => clearTimeout(connectTimer));
        });
        proxyReq.once("response", () => clearTimeout(responseTimer));
        proxyReq.once("close", () => {
          clearTimeout(connectTimer);
          clearTimeout(responseTimer);
        });
        return Promise.resolve(proxyReq);
      },
      onRes: (_req: Req, _res: Res, proxyRes: IncomingMessage) => {
        const status = proxyRes.statusCode ?? 502;
        opts.onResponse(status);
        if (status >= 300 && status < 400) {
          // Following or relaying a redirect could send the client, or our credential, elsewhere.
          redirected = status;
          proxyRes.destroy();
          throw Object.assign(new Error("redirect"), { code: "KUBEGATE_REDIRECT" });
        }
        (res as ServerResponse).writeHead(status, sanitizeResponseHeaders(proxyRes.headers));
        // Headers go out at once: a watch may send its first event much later.
        if ("flushHeaders" in res && typeof res.flushHeaders === "function") res.flushHeaders();
        proxyRes.on("data", (chunk: Buffer) => opts.onBytesOut(chunk.length));
        proxyRes.pipe(res as NodeJS.WritableStream);
      },
    });
  } catch (err) {
    if (redirected !== undefined)
      throw new DataPathError("badGateway", `cluster ${JSON.stringify(upstream.cluster)} answered with a redirect (${redirected}), which kubegate does not follow or pass on`);
    const e = err as NodeJS.ErrnoException & { statusCode?: number };
    if (res.headersSent) {
      // Mid-stream: the client sees its stream end abruptly, as with the member itself.
      abortResponse(res);
      throw Object.assign(upstreamFailure(upstream.cluster, e), { midStream: true });
    }
    throw upstreamFailure(upstream.cluster, e);
  }
}
