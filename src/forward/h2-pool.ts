/**
 * A small pool of HTTP/2 sessions to one member, as client-go keeps: every ordinary
 * request is a stream on a shared TLS connection, so a burst of requests or 10,000
 * watches cost a handful of handshakes, not one each. Sessions are opened lazily and
 * another only when every open one is at the member's stream limit. A member that
 * picks http/1.1 in ALPN is remembered, and its requests take the HTTP/1.1 path.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from "node:http2";
import tls, { type SecureContext } from "node:tls";

/** Per-stream receive window: a big LIST flows in ~1 MiB bursts, and a stalled reader buffers at most this much. */
export const STREAM_WINDOW = 1024 * 1024;
/** Per-session receive window: many streams flow at once without waiting for WINDOW_UPDATE. */
export const SESSION_WINDOW = 32 * 1024 * 1024;
/** Our own ceiling on streams per session (kube-apiserver's default --http2-max-streams-per-connection). */
export const MAX_STREAMS_PER_SESSION = 1000;
/** A session with no stream for this long is closed; the next request reconnects. */
const IDLE_MS = 90_000;

export interface H2PoolOptions {
  host: string;
  port: number;
  servername: string | undefined;
  secureContext: SecureContext;
  /** Caps streams per session below the member's own limit (default MAX_STREAMS_PER_SESSION). */
  maxStreamsPerSession?: number;
}

/** "unknown" until the first connection's ALPN says which protocol the member speaks. */
export type MemberProtocol = "unknown" | "h2" | "http/1.1";

export interface H2Pool {
  readonly protocol: MemberProtocol;
  /** Opens a stream on a session with a free slot, or returns undefined if none is ready. */
  open(headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream | undefined;
  /**
   * Resolves when a new session is up (or the member turned out to speak http/1.1);
   * rejects with the connection's error (ECONNREFUSED, a TLS code, KUBEGATE_CONNECT_TIMEOUT).
   */
  ready(connectTimeoutMs: number): Promise<MemberProtocol>;
  /** Open sessions and their streams (for tests and metrics). */
  stats(): { sessions: number; streams: number };
  /** Destroys every session: streams on them end with an error. */
  close(): void;
}

interface Entry {
  session: ClientHttp2Session;
  /** Streams open, or being opened, on this session. */
  active: number;
  /** The member's SETTINGS_MAX_CONCURRENT_STREAMS, capped by ours. */
  limit: number;
  usable: boolean;
}

const kEntry = Symbol("kubegate.h2.entry");
type TrackedStream = ClientHttp2Stream & { [kEntry]?: Entry };

/** One shared 'close' handler for every stream, so opening a stream allocates no closure. */
function onStreamClose(this: TrackedStream): void {
  const entry = this[kEntry];
  if (entry !== undefined) entry.active--;
}

function connectError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

export function createH2Pool(opts: H2PoolOptions): H2Pool {
  const cap = opts.maxStreamsPerSession ?? MAX_STREAMS_PER_SESSION;
  const entries: Entry[] = [];
  /** Sessions waiting for the member's first SETTINGS. */
  const starting = new Set<ClientHttp2Session>();
  const authority = `https://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${opts.port}`;
  let protocol: MemberProtocol = "unknown";
  let pending: Promise<MemberProtocol> | undefined;
  let closed = false;

  const drop = (entry: Entry) => {
    entry.usable = false;
    const i = entries.indexOf(entry);
    if (i !== -1) entries.splice(i, 1);
  };

  /**
   * Starts HTTP/2 on a connected socket; `onReady` runs once the member's SETTINGS have
   * arrived, so its stream limit is known before any stream is opened (streams beyond it
   * would be refused).
   */
  const adopt = (socket: tls.TLSSocket, onReady: (err?: Error) => void): http2.ClientHttp2Session => {
    const session = http2.connect(authority, {
      createConnection: () => socket,
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
      // Room for the headers of many streams in flight (the default is 10 MB).
      maxSessionMemory: 64,
    });
    const entry: Entry = { session, active: 0, limit: cap, usable: true };
    starting.add(session);
    session.setLocalWindowSize(SESSION_WINDOW);
    session.on("remoteSettings", (s) => {
      entry.limit = Math.min(s.maxConcurrentStreams ?? cap, cap);
      if (!starting.delete(session) || !entry.usable) return;
      entries.push(entry);
      onReady();
    });
    const gone = (err?: Error) => {
      starting.delete(session);
      drop(entry);
      onReady(err ?? connectError("ECONNRESET", "member closed the HTTP/2 session before its SETTINGS"));
    };
    // New streams go elsewhere; those in flight finish (or end with an error) on their own.
    session.on("goaway", () => gone());
    session.on("close", () => gone());
    // Each stream hears of its own failure; the session's is only the reason it goes.
    session.on("error", gone);
    session.setTimeout(IDLE_MS, () => {
      if (entry.active === 0) {
        drop(entry);
        session.close();
      }
    });
    // Like an idle keep-alive socket, a session alone does not keep the process running.
    session.unref();
    return session;
  };

  /** One TLS connection offering h2 and http/1.1; the member's choice decides the path. */
  const connect = (timeoutMs: number): Promise<MemberProtocol> =>
    new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: opts.host,
        port: opts.port,
        servername: opts.servername,
        secureContext: opts.secureContext,
        ALPNProtocols: ["h2", "http/1.1"],
      });
      let session: http2.ClientHttp2Session | undefined;
      let settled = false;
      const timer = setTimeout(() => {
        const err = connectError("KUBEGATE_CONNECT_TIMEOUT", "connect timeout");
        if (session === undefined) socket.destroy(err);
        else session.destroy();
        settle(err);
      }, timeoutMs);
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === undefined) resolve(protocol);
        else reject(err);
      };
      const early = () => settle(connectError("ECONNRESET", "connection closed during the TLS handshake"));
      socket.once("error", settle);
      socket.once("close", early);
      socket.once("secureConnect", () => {
        socket.removeListener("error", settle);
        socket.removeListener("close", early);
        if (closed) {
          socket.destroy();
          return settle(connectError("ECONNRESET", "upstream pool closed"));
        }
        if (socket.alpnProtocol !== "h2") {
          // HTTP/2 over TLS needs ALPN h2; anything else takes the HTTP/1.1 path from now on.
          protocol = "http/1.1";
          socket.destroy();
          return settle();
        }
        protocol = "h2";
        session = adopt(socket, settle);
      });
    });

  return {
    get protocol() {
      return protocol;
    },
    open(headers, endStream) {
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        if (!entry.usable || entry.active >= entry.limit) continue;
        if (entry.session.closed || entry.session.destroyed) {
          drop(entry);
          i--;
          continue;
        }
        entry.active++;
        let stream: TrackedStream;
        try {
          stream = entry.session.request(headers, { endStream });
        } catch (err) {
          entry.active--;
          throw err;
        }
        stream[kEntry] = entry;
        stream.once("close", onStreamClose);
        return stream;
      }
      return undefined;
    },
    ready(connectTimeoutMs) {
      if (protocol === "http/1.1") return Promise.resolve(protocol);
      if (closed) return Promise.reject(connectError("ECONNRESET", "upstream pool closed"));
      // Requests that find every session full share one new connection; if it fills up
      // too, the next of them opens another.
      pending ??= connect(connectTimeoutMs).finally(() => (pending = undefined));
      return pending;
    },
    stats() {
      let streams = 0;
      for (const e of entries) streams += e.active;
      return { sessions: entries.length, streams };
    },
    close() {
      closed = true;
      for (const entry of entries.splice(0)) {
        entry.usable = false;
        entry.session.destroy();
      }
      for (const session of starting) session.destroy();
      starting.clear();
    },
  };
}
