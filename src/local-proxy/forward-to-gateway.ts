/**
 * Forwards one ordinary request to the data plane, streaming both ways with no buffering:
 * the response head goes out the moment it arrives (a watch shows events as they happen),
 * and a client that goes away closes the upstream request. A 401 means the token was
 * refused (revoked, or the data plane's keys moved on): the token is forgotten, and a
 * GET or HEAD without a body is retried once with a fresh one.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type https from "node:https";
import { pipeline } from "node:stream";
import { sanitizeResponseHeaders } from "../forward/hop-by-hop.ts";
import { abortResponse, type DataPathError, writeStatus } from "../forward/kube-status.ts";
import type { ClusterAccess } from "./cluster-tokens.ts";
import { clusterTargetAndToken, controlPlaneRefusal, dataPlaneFailure } from "./refusals.ts";
import { requestUpstream, where } from "./gateway-request.ts";

export interface ForwardDeps {
  access: ClusterAccess;
  agent: https.Agent;
  connectTimeoutMs: number;
  /** Reports a refusal the proxy made (one line; no token, no query). */
  onRefusal(req: IncomingMessage, err: DataPathError): void;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

export async function forwardRequest(deps: ForwardDeps, req: IncomingMessage, res: ServerResponse, cluster: string, path: string): Promise<void> {
  const refuse = (err: DataPathError) => {
    deps.onRefusal(req, err);
    if (!res.destroyed) writeStatus(res, err);
  };
  const method = req.method ?? "GET";
  const retryable = (method === "GET" || method === "HEAD") && !hasBody(req);

  const resolved = await clusterTargetAndToken(deps.access, cluster).catch((err: DataPathError) => void refuse(err));
  if (resolved === undefined || res.destroyed) return;
  const { target, token } = resolved;

  const send = (bearer: string, retried: boolean) => {
    const upstream = requestUpstream({ target, token: bearer, method, path, headers: req.headers, agent: deps.agent, connectTimeoutMs: deps.connectTimeoutMs });
    const onClientGone = () => {
      if (!res.writableFinished) upstream.destroy();
    };
    res.once("close", onClientGone);

    upstream.on("error", (err) => {
      if (res.destroyed) return; // the client left first; nothing to tell
      if (res.headersSent) abortResponse(res);
      else refuse(dataPlaneFailure(where(target), err));
    });
    upstream.on("response", (answer) => {
      if (answer.statusCode === 401) {
        deps.access.invalidate(cluster, bearer);
        if (retryable && !retried) {
          answer.resume();
          res.off("close", onClientGone);
          deps.access.token(cluster).then(
            (fresh) => {
              if (!res.destroyed) send(fresh, true);
            },
            (err: unknown) => refuse(controlPlaneRefusal(err)),
          );
          return;
        }
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, sanitizeResponseHeaders(answer.headers));
      res.flushHeaders();
      pipeline(answer, res, () => undefined);
    });

    if (retryable) {
      req.resume();
      upstream.end();
    } else {
      req.pipe(upstream);
    }
  };
  send(token, false);
}
