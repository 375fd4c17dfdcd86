/**
 * Forwards one ordinary request to the member, streaming both ways with no buffering and
 * no timeout once the response has started. Redirects are never passed on (304 Not
 * Modified is no redirect and passes); connection
 * failures become a Status that names the cluster.
 *
 * HTTP/2 to the member (forward-h2.ts) is the usual path: kube-apiserver offers h2, and
 * multiplexing every request and watch over a few sessions is what makes the data plane
 * fast. http2-proxy (which speaks only HTTP/1.1 upstream) stays as the path for members
 * that negotiate http/1.1.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import proxy from "http2-proxy";
import { clientGone, compatPair, isBareRequest, type ClientRequest, type ClientResponse } from "./client-side.ts";
import { clientClosed, forwardH2 } from "./forward-h2.ts";
import { sanitizeResponseHeaders } from "./hop-by-hop.ts";
import { abortResponse, DataPathError } from "./kube-status.ts";
import { redirectRefusal, upstreamFailure } from "./upstream-failure.ts";
import type { ForwardOptions } from "./upstream.ts";

export { upstreamFailure } from "./upstream-failure.ts";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

function timeoutError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

export async function forward(req: ClientRequest, res: ClientResponse, opts: ForwardOptions): Promise<void> {
  // A stream the client reset while it was being admitted (rapid reset) never reaches the member.
  if (clientGone(res)) throw clientClosed();
  if (opts.upstream.h2.protocol !== "http/1.1" && (await forwardH2(req, res, opts))) return;
  if (!isBareRequest(req)) return forwardHttp1(req, res as Res, opts);
  const compat = compatPair(req);
  await forwardHttp1(compat.req, compat.res, opts);
}

/** The HTTP/1.1 path, over the cluster's keep-alive pool. */
async function forwardHttp1(req: Req, res: Res, opts: ForwardOptions): Promise<void> {
  const { upstream } = opts;
  let redirected: DataPathError | undefined;
  try {
    await (proxy.web as unknown as (req: Req, res: Res, options: object) => Promise<void>)(req, res, {
      onReq: (_req: Req, _defaults: object) => {
        const proxyReq = upstream.http1({ method: req.method ?? "GET", path: opts.target, headers: opts.headers });
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
        redirected = redirectRefusal(upstream.cluster, status);
        if (redirected !== undefined) {
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
    if (redirected !== undefined) throw redirected;
    const e = err as NodeJS.ErrnoException & { statusCode?: number };
    if (res.headersSent) {
      // Mid-stream: the client sees its stream end abruptly, as with the member itself.
      abortResponse(res);
      throw Object.assign(upstreamFailure(upstream.cluster, e), { midStream: true });
    }
    throw upstreamFailure(upstream.cluster, e);
  }
}
