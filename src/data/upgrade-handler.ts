/**
 * Upgrades (exec, attach, port-forward over SPDY/3.1 or WebSocket) on our own path, since
 * http2-proxy does not carry SPDY. Only those two protocols are accepted; the member's
 * answer is relayed; anything but 101 ends the connection so nothing else rides on it;
 * after 101 bytes flow both ways until either side closes or a revocation cuts them.
 */
import { randomUUID } from "node:crypto";
import type { ClientRequest, IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { headerBlock, splice } from "../forward/upgrade-relay.ts";
import { admit, type AdmitFacts } from "./admission.ts";
import { auditSession, recordOutcome } from "./audit.ts";
import { redirectRefusal, upstreamFailure } from "../forward/upstream-failure.ts";
import type { HandlerContext } from "./handler.ts";
import { sanitizeResponseHeaders } from "../forward/hop-by-hop.ts";
import { DataPathError, writeStatusToSocket } from "../forward/kube-status.ts";

const PROTOCOLS = new Set(["spdy/3.1", "websocket"]);

export async function handleUpgrade(ctx: HandlerContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const started = performance.now();
  const requestId = randomUUID();
  const facts: AdmitFacts = {};
  let status = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let reason: string | undefined;
  let grant: string | undefined;
  const finish = () => {
    recordOutcome(ctx, {
      requestId,
      facts,
      grant,
      status,
      bytesIn,
      bytesOut,
      durationMs: Math.round(performance.now() - started),
      reason,
      protocol: `HTTP/${req.httpVersion} upgrade ${req.headers.upgrade ?? ""}`,
    });
  };
  const refuse = (err: DataPathError) => {
    status = err.status;
    reason ??= err.detail;
    writeStatusToSocket(socket, err);
    finish();
  };
  socket.on("error", () => socket.destroy());

  let admitted;
  try {
    const protocol = (req.headers.upgrade ?? "").toLowerCase();
    if (!PROTOCOLS.has(protocol))
      throw new DataPathError("invalid", `upgrade to ${JSON.stringify(req.headers.upgrade ?? "")} is not supported: only SPDY/3.1 and websocket`, { status: 400 });
    admitted = await admit(ctx, { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, upgrade: true, requestId }, facts);
    grant = admitted.grant.id;
  } catch (err) {
    refuse(err instanceof DataPathError ? err : new DataPathError("internal", "internal error in kubegate"));
    return;
  }

  const upstream = admitted.upstream;
  let proxyReq: ClientRequest | undefined;
  let removeSession: (() => void) | undefined;
  let upstreamSocket: Duplex | undefined;
  const cut = (why: string) => {
    reason ??= why;
    socket.destroy();
    upstreamSocket?.destroy();
    proxyReq?.destroy();
  };
  try {
    // Registered first: a user or cluster at its stream cap never opens an upstream connection.
    removeSession = ctx.sessions.add({ id: requestId, kind: "upgrade", cluster: admitted.cluster, claims: admitted.claims, info: admitted.info, cut });
    // Registered before the wait, so a revocation meanwhile cuts it.
    if (upstream.waitReady !== undefined) await upstream.waitReady(ctx.connectTimeoutMs);
    if (socket.destroyed) {
      // Gone while waiting: the client left, or a revocation cut it.
      removeSession();
      reason ??= "client closed the connection while the agent's tunnel was awaited";
      finish();
      return;
    }
    proxyReq = upstream.request({
      method: req.method ?? "GET",
      path: admitted.target,
      headers: { ...admitted.headers, connection: "Upgrade", upgrade: req.headers.upgrade! },
      timeout: ctx.responseTimeoutMs,
    });
  } catch (err) {
    removeSession?.();
    refuse(err instanceof DataPathError ? err : upstreamFailure(admitted.cluster, err as NodeJS.ErrnoException));
    return;
  }
  socket.once("close", () => {
    if (upstreamSocket === undefined) proxyReq.destroy();
  });

  proxyReq.on("timeout", () => proxyReq.destroy(Object.assign(new Error("response timeout"), { code: "KUBEGATE_RESPONSE_TIMEOUT" })));
  proxyReq.on("error", (err) => {
    removeSession?.();
    removeSession = undefined;
    if (status === 0) refuse(upstreamFailure(admitted.cluster, err));
  });
  proxyReq.on("response", (res) => {
    removeSession?.();
    removeSession = undefined;
    // As for ordinary requests: a redirect could lead the client, or a credential, elsewhere.
    const redirect = redirectRefusal(admitted.cluster, res.statusCode ?? 0);
    if (redirect !== undefined) {
      res.destroy();
      refuse(redirect);
      return;
    }
    // The member refused the upgrade: relay its answer, then close so nothing else rides on it.
    status = res.statusCode ?? 502;
    reason ??= `member answered the upgrade with ${status}`;
    const headers = sanitizeResponseHeaders(res.headers);
    delete headers["content-length"];
    socket.write(headerBlock(`HTTP/1.1 ${status} ${res.statusMessage ?? ""}`, { ...headers, connection: "close" }));
    res.on("data", (c: Buffer) => (bytesOut += c.length));
    res.pipe(socket);
    res.on("end", () => socket.end());
    res.on("error", () => socket.destroy());
    socket.once("close", () => {
      res.destroy();
      finish();
    });
  });
  proxyReq.on("upgrade", (res, upSocket, upHead) => {
    status = 101;
    upstreamSocket = upSocket;
    proxyReq.setTimeout(0);
    const headers = sanitizeResponseHeaders(res.headers);
    socket.write(headerBlock("HTTP/1.1 101 Switching Protocols", { ...headers, connection: "Upgrade", upgrade: res.headers.upgrade ?? req.headers.upgrade! }));
    auditSession(ctx, "upgrade", "start", requestId, facts, { grant, protocol: req.headers.upgrade });
    // Bytes the client sent right after its request head belong to the upgraded stream.
    bytesIn += head.length;
    bytesOut += upHead.length;
    socket.on("data", (c: Buffer) => (bytesIn += c.length));
    upSocket.on("data", (c: Buffer) => (bytesOut += c.length));
    splice(socket, upSocket, {
      clientHead: head,
      upstreamHead: upHead,
      onEnd() {
        removeSession?.();
        auditSession(ctx, "upgrade", "end", requestId, facts, { grant, reason, bytesIn, bytesOut, durationMs: Math.round(performance.now() - started) });
        finish();
      },
    });
  });
  proxyReq.end();
}
