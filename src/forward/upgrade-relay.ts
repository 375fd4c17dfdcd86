/**
 * The two halves every upgrade relay shares (the data plane's, the local proxy's and the
 * agent's): writing an HTTP/1.1 status line with headers on a raw socket, and splicing
 * the client's socket to the upstream's once both sides have switched protocols.
 */
import type { Duplex, Readable } from "node:stream";

/** An HTTP/1.1 response head for a raw socket. */
export function headerBlock(statusLine: string, headers: Record<string, string | string[] | undefined>): string {
  let out = statusLine;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out += `\r\n${k}: ${one}`;
  }
  return `${out}\r\n\r\n`;
}

/** How long a side that was cleanly ended may take to flush what it was given. */
const FLUSH_MS = 5_000;

/**
 * Joins an upgraded client socket to the upstream's: the bytes each side sent past its
 * head go first, then both directions flow until either side closes, and then both end.
 * A side that ends cleanly (exec finished) lets the other deliver what is still queued
 * for it before closing; one that fails or is destroyed (a cut) takes the other down at
 * once. Once both directions have ended and been flushed the relay ends at once. `onEnd`
 * runs once.
 */
export function splice(client: Duplex, upstream: Duplex, opts: { clientHead: Buffer; upstreamHead: Buffer; onEnd?: () => void }): void {
  if (opts.upstreamHead.length > 0) client.write(opts.upstreamHead);
  if (opts.clientHead.length > 0) upstream.write(opts.clientHead);
  for (const s of [client, upstream]) {
    (s as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
    (s as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
  }
  client.pipe(upstream);
  upstream.pipe(client);
  // pipe() pauses a side once the other can take no more from it (the other's write half
  // finished, as a socket's does when its peer ends, or it closed). Keep reading it: what it
  // still sends has nowhere to go, and unread (kubectl's WebSocket close frame) it would sit
  // in front of the side's own end, which then never comes, nor its close.
  for (const s of [client, upstream]) s.on("unpipe", (source: Readable) => source.resume());
  let ended = false;
  let flushTimer: NodeJS.Timeout | undefined;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(flushTimer);
    client.destroy();
    upstream.destroy();
    opts.onEnd?.();
  };
  const closed = (side: Duplex, other: Duplex) => () => {
    // pipe() has called other.end() on a clean end of `side`: let it flush and close on its
    // own (an HTTP/2 stream destroyed early would reset what flow control still holds).
    if (side.readableEnded && side.errored === null && !other.destroyed) {
      other.once("close", end);
      flushTimer ??= setTimeout(end, FLUSH_MS);
      flushTimer.unref();
      return;
    }
    end();
  };
  // Both directions ended and flushed: nothing is left to deliver, so end now rather than
  // wait for a 'close' that a side which does not destroy itself may never emit.
  const over = (s: Duplex) => s.readableEnded && s.writableFinished;
  const settle = () => {
    if (over(client) && over(upstream)) end();
  };
  for (const s of [client, upstream]) {
    s.on("end", settle);
    s.on("finish", settle);
  }
  client.once("close", closed(client, upstream));
  upstream.once("close", closed(upstream, client));
  client.on("error", end);
  upstream.on("error", end);
}
