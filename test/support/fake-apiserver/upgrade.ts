/**
 * Upgrade requests (HTTP/1.1 only, as with the real server): WebSocket exec and
 * attach with the channel protocol, and SPDY/3.1 for exec/attach/port-forward
 * answered by the byte echo. Same admission chain and hooks as plain requests.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { admit } from "./admission.ts";
import { type Authenticators, peerCertificateCn } from "./authn.ts";
import { runExecSession, chooseExecProtocol } from "./exec.ts";
import type { Hooks } from "./hooks.ts";
import { headerRecord, headerValues } from "./http-io.ts";
import { meta } from "./object.ts";
import type { Authorizer } from "./rbac.ts";
import { type RequestLog, queryRecord } from "./request-log.ts";
import { queryFlag } from "./request-info.ts";
import { findByResource } from "./resources.ts";
import { writeRawStatus } from "./raw-response.ts";
import { runSpdyEcho } from "./spdy-echo.ts";
import { type ApiError, apiError, badRequest, failureStatus, forbidden, isApiError, notFound } from "./status.ts";
import type { Store } from "./store.ts";
import type { StreamRegistry } from "./streams.ts";

/** What the upgrade handler needs from the server. */
export interface UpgradeDeps {
  store: Store;
  authn: Authenticators;
  authorize: Authorizer;
  hooks: Hooks;
  log: RequestLog;
  streams: StreamRegistry;
}

const UPGRADABLE = new Set(["exec", "attach", "portforward"]);

function reasonFor(code: number): string {
  return { 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable" }[code] ?? "Unknown";
}

/** Cuts the socket once `afterBytes` bytes followed the first write (the 101). */
function armSocketDrop(socket: Duplex, afterBytes: number): void {
  const write = socket.write.bind(socket) as (chunk: unknown) => boolean;
  let first = true;
  let sent = 0;
  socket.write = ((chunk: string | Uint8Array) => {
    const buf = Buffer.from(chunk as Uint8Array);
    if (first) return (first = false), write(buf);
    const room = afterBytes - sent;
    if (room > 0) write(buf.subarray(0, room));
    sent += buf.length;
    if (sent >= afterBytes) setTimeout(() => socket.destroy(), 20);
    return true;
  }) as typeof socket.write;
  if (afterBytes === 0) setTimeout(() => socket.destroy(), 50);
}

/** Creates the 'upgrade' event listener. */
export function createUpgradeHandler(d: UpgradeDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void> {
  return async (req, socket, head) => {
    socket.on("error", () => {});
    const url = new URL(req.url ?? "/", "https://fake");
    const headers = headerRecord(req.rawHeaders);
    const upgrade = String(req.headers.upgrade ?? "");
    const rec = d.log.record({ httpVersion: req.httpVersion, method: req.method ?? "GET", path: url.pathname, rawQuery: url.search.slice(1), query: queryRecord(url.searchParams), headers, upgrade, clientCertificateCn: peerCertificateCn(req.socket as TLSSocket) });
    const refuse = (e: ApiError) => {
      rec.status = e.code;
      writeRawStatus(socket, e.code, e.status);
    };
    try {
      let admitted: ReturnType<typeof admit> | undefined;
      let admissionError: unknown;
      try {
        admitted = admit({
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          headers,
          socket: req.socket as TLSSocket,
          authn: d.authn,
          authorize: d.authorize,
          onIdentity: (r, i, by) => ((rec.user = r), (rec.impersonatedUser = i), (rec.authenticatedBy = by)),
          onAuthenticationErrors: (errors) => (rec.authenticationErrors = errors),
        });
      } catch (e) {
        admissionError = e;
      }
      const hooked = d.hooks.take(req.method ?? "GET", url.pathname, true);
      if (hooked.delayMs) await new Promise((r) => setTimeout(r, hooked.delayMs));
      const refusal = hooked.rejectUpgrade ?? hooked.fail;
      if (refusal) {
        const code = refusal.code;
        return refuse(apiError(code, reasonFor(code), "upgrade refused by a test hook"));
      }
      if (hooked.redirect) {
        rec.status = hooked.redirect.code;
        return writeRawStatus(socket, hooked.redirect.code, failureStatus(hooked.redirect.code, "Found", "redirected by a test hook"), { Location: hooked.redirect.location });
      }
      if (admissionError) throw admissionError;
      const { info, user } = admitted!;
      if (!info.resourceRequest || info.resource !== "pods" || !UPGRADABLE.has(info.subresource) || info.apiGroup !== "" || !info.name) {
        throw badRequest(`upgrade to "${upgrade}" is not supported on ${url.pathname}`);
      }
      if (info.verb === "get" && !d.authorize({ ...info, user: user!, verb: "create" })) {
        throw forbidden({ user: user!.name, verb: "create", group: "", resource: "pods", subresource: info.subresource, namespace: info.namespace, name: info.name });
      }
      const pod = d.store.get(findByResource("", "v1", "pods")!, info.namespace, info.name);
      if (!pod) throw notFound("", "pods", info.name);
      if (hooked.drop) armSocketDrop(socket, hooked.drop.afterBytes ?? 0);
      if (upgrade.toLowerCase() === "spdy/3.1") {
        rec.status = 101;
        return runSpdyEcho(socket, head, headers, d.streams);
      }
      if (upgrade.toLowerCase() !== "websocket" || info.subresource === "portforward") throw badRequest(`unsupported upgrade "${upgrade}" for pods/${info.subresource}`);
      const containers = ((pod["spec"] as { containers?: Array<{ name: string }> })?.containers ?? []).map((c) => c.name);
      const container = url.searchParams.get("container") ?? containers[0] ?? "";
      if (!containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${info.name}`);
      if ((pod["status"] as { phase?: string })?.phase !== "Running") throw badRequest(`pod ${info.name} is not running`);
      const protocol = chooseExecProtocol(headerValues(headers, "sec-websocket-protocol"));
      const key = headerValues(headers, "sec-websocket-key")[0];
      if (!protocol || !key) throw badRequest("a WebSocket upgrade for exec needs Sec-WebSocket-Key and one of the subprotocols v5.channel.k8s.io, v4.channel.k8s.io");
      const argv = info.subresource === "exec" ? url.searchParams.getAll("command") : undefined;
      if (argv && argv.length === 0) throw badRequest("you must specify at least 1 command");
      rec.status = 101;
      runExecSession({
        socket,
        head,
        key,
        protocol,
        argv,
        stdin: queryFlag(url.searchParams, "stdin"),
        stdout: queryFlag(url.searchParams, "stdout"),
        stderr: queryFlag(url.searchParams, "stderr"),
        tty: queryFlag(url.searchParams, "tty"),
        hostname: meta(pod).name ?? "",
        env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOSTNAME: meta(pod).name ?? "", POD_NAMESPACE: info.namespace, CONTAINER: container },
        streams: d.streams,
      });
    } catch (e) {
      if (isApiError(e)) refuse(e);
      else refuse(apiError(500, "InternalError", `Internal error occurred: ${(e as Error).message}`));
    }
  };
}
