/**
 * The Node floor: what a proxy costs in this runtime before it does any of kubegate's work.
 * Two modes, both TLS on both sides, on 127.0.0.1 port 0, printing `listening on <url>`:
 *
 * - `proxy`: node:http2 secure server with allowHTTP1 (as kubegate's data plane, HTTP/2
 *   requests taken as bare streams as it takes them), every
 *   request a stream on one pooled HTTP/2 session to the upstream, the client's headers
 *   passed on with its Authorization replaced by a bearer token, the upstream's response
 *   headers copied, the body piped. No token check, no authorization, no impersonation, no audit line.
 * - `splice`: a TLS server whose every connection is a TLS connection to the upstream,
 *   bytes piped both ways (HTTP/1.1 only): decrypt and encrypt, no HTTP at all, the least
 *   any TLS-terminating proxy written in Node can do per byte.
 *
 * Usage: node main.mjs --mode proxy|splice --cert F --key F --upstream https://host:port --upstream-ca F [--token-file F]
 */
import http2 from "node:http2";
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    mode: { type: "string", default: "proxy" },
    cert: { type: "string" },
    key: { type: "string" },
    upstream: { type: "string" },
    "upstream-ca": { type: "string" },
    "token-file": { type: "string" },
  },
});
for (const name of ["cert", "key", "upstream", "upstream-ca"]) if (args[name] === undefined) throw new Error(`--${name} is required`);
const serving = { cert: readFileSync(args.cert), key: readFileSync(args.key) };
const upstream = new URL(args.upstream);
const upstreamCa = readFileSync(args["upstream-ca"]);
const token = args["token-file"] === undefined ? "" : readFileSync(args["token-file"], "utf8").trim();

/** Hop-by-hop headers (and the ones this proxy sets itself), dropped both ways. */
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "host", "authorization"]);

function proxyServer() {
  let session;
  const pooled = () => {
    if (session === undefined || session.closed || session.destroyed) {
      session = http2.connect(upstream.origin, { ca: upstreamCa });
      session.on("error", () => {});
    }
    return session;
  };
  /** Copies the headers a proxy passes on (no pseudo-headers, nothing hop-by-hop) from `from` into `to`. */
  const passOn = (from, to) => {
    for (const k in from) if (k[0] !== ":" && !HOP.has(k)) to[k] = from[k];
    return to;
  };
  /** One request upstream; `respond(client, status, headers)` writes the client's head, then the body is piped to `client`. */
  const relay = (method, path, from, body, client, respond) => {
    const bodiless = method === "GET" || method === "HEAD";
    const headers = passOn(from, { ":method": method, ":path": path, ":authority": upstream.host, authorization: `Bearer ${token}` });
    const stream = pooled().request(headers, { endStream: bodiless });
    stream.on("response", (h) => {
      respond(client, Number(h[":status"]), passOn(h, {}));
      stream.pipe(client);
    });
    stream.on("error", () => client.destroy());
    if (!bodiless) body.pipe(stream);
    return stream;
  };
  const respondOnStream = (stream, status, headers) => {
    headers[":status"] = status;
    stream.respond(headers);
  };
  const respondHttp1 = (res, status, headers) => res.writeHead(status, headers);
  const server = http2.createSecureServer({ ...serving, allowHTTP1: true });
  // HTTP/2: the bare stream, without node:http2's compatibility request and response, as
  // kubegate's data plane takes it.
  const onStream = (client, h) => {
    const stream = relay(h[":method"], h[":path"], h, client, client, respondOnStream);
    client.on("error", () => stream.destroy());
  };
  // HTTP/1.1: node:http's request and response.
  server.on("request", (req, res) => relay(req.method, req.url, req.headers, req, res, respondHttp1));
  // Adding 'request' installed node:http2's own 'stream' listener (the compatibility objects): replaced.
  server.removeAllListeners("stream");
  server.on("stream", onStream);
  return server;
}

function spliceServer() {
  return tls.createServer({ ...serving, ALPNProtocols: ["http/1.1"] }, (client) => {
    const member = tls.connect({ host: upstream.hostname, port: Number(upstream.port), ca: upstreamCa, ALPNProtocols: ["http/1.1"] });
    client.pipe(member);
    member.pipe(client);
    const end = () => {
      client.destroy();
      member.destroy();
    };
    client.on("error", end);
    member.on("error", end);
    client.on("close", end);
    member.on("close", end);
  });
}

const server = args.mode === "splice" ? spliceServer() : proxyServer();
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening on https://127.0.0.1:${server.address().port}\n`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
