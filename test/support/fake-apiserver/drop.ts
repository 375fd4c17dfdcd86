/**
 * The "drop" fault: let a response start, then cut the connection after a
 * number of body bytes or writes (a watch writes one event per write).
 */
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { Res } from "./http-io.ts";

/** Destroys the connection under a response (the whole HTTP/2 session for h2). */
export function destroyConnection(res: Res): void {
  const stream = (res as Http2ServerResponse).stream;
  if (stream) stream.session?.destroy();
  else (res as ServerResponse).socket?.destroy();
}

/** Wraps res.write/res.end so the connection dies once the limit is reached. */
export function armDrop(res: Res, limit: { afterBytes?: number; afterWrites?: number }): void {
  const r = res as ServerResponse;
  const write = r.write.bind(r) as (chunk: unknown) => boolean;
  let bytes = 0;
  let writes = 0;
  let dead = false;
  const kill = () => {
    if (dead) return;
    dead = true;
    if (!r.headersSent) r.flushHeaders?.();
    // Let the partial bytes reach the wire before the connection goes.
    setTimeout(() => destroyConnection(res), 20);
  };
  const admit = (chunk: unknown): boolean => {
    if (dead) return false;
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    if (limit.afterWrites !== undefined && writes >= limit.afterWrites) return kill(), false;
    if (limit.afterBytes !== undefined && bytes + buf.length > limit.afterBytes) {
      const part = buf.subarray(0, limit.afterBytes - bytes);
      if (part.length) write(part);
      bytes = limit.afterBytes;
      return kill(), false;
    }
    bytes += buf.length;
    writes++;
    write(buf);
    return true;
  };
  r.write = ((chunk: unknown) => admit(chunk)) as typeof r.write;
  r.end = ((chunk?: unknown) => {
    if (chunk !== undefined && typeof chunk !== "function") admit(chunk);
    // The response never ends cleanly: the fault is that the connection drops.
    kill();
    return r;
  }) as typeof r.end;
}
