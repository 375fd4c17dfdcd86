/**
 * A request body fed to a member stream, kept (up to a bound) until the member answers, so
 * a stream the member refused unprocessed can be sent again on a new one. REFUSED_STREAM,
 * and a GOAWAY that names a lower last stream id, mean the member did nothing with the
 * request (RFC 9113 §8.7): a kube-apiserver under --goaway-chance does that to writes too,
 * and without a copy of the body the client's create or apply would fail with a 502.
 */
import type { Readable, Writable } from "node:stream";

/** Bodies larger than this are not kept: a refused one fails as before. kube-apiserver takes at most 3 MiB. */
export const REPLAY_LIMIT_BYTES = 4 * 1024 * 1024;

export interface BodyFeed {
  /** Whether the body can still be sent again from its first byte. */
  replayable(): boolean;
  /** Sends the body (again, from its first byte, which the caller checked it can) into `target`. */
  sendTo(target: Writable): void;
  /** The member answered: nothing more needs keeping. */
  answered(): void;
}

/** The body must be paused (nothing read yet) when the feed is made. */
export function bodyFeed(body: Readable, limitBytes = REPLAY_LIMIT_BYTES): BodyFeed {
  let kept: Buffer[] | undefined = [];
  let keptBytes = 0;
  let ended = false;
  let target: Writable | undefined;
  let listening = false;
  const onDrain = () => body.resume();
  const listen = () => {
    listening = true;
    body.on("data", (chunk: Buffer) => {
      if (kept !== undefined) {
        keptBytes += chunk.length;
        if (keptBytes > limitBytes) kept = undefined;
        else kept.push(chunk);
      }
      if (target !== undefined && !target.write(chunk)) {
        body.pause();
        target.once("drain", onDrain);
      }
    });
    body.on("end", () => {
      ended = true;
      target?.end();
    });
  };
  return {
    replayable: () => kept !== undefined,
    sendTo(next) {
      if (target !== undefined) {
        target.removeListener("drain", onDrain);
        for (const chunk of kept ?? []) next.write(chunk);
      }
      target = next;
      if (!listening) listen();
      if (ended) next.end();
      else body.resume();
    },
    answered() {
      kept = undefined;
    },
  };
}
