/** An async-iterable byte queue: the stdin of an exec session, fed by WebSocket messages. */

/** A queue one side pushes into and the other iterates until it is ended. */
export interface ByteQueue extends AsyncIterable<Buffer> {
  push(chunk: Buffer): void;
  end(): void;
}

/** Creates an open queue. */
export function createByteQueue(): ByteQueue {
  const chunks: Buffer[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  return {
    push(chunk) {
      if (ended) return;
      chunks.push(chunk);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = chunks.shift();
        if (next) yield next;
        else if (ended) return;
        else await new Promise<void>((r) => (wake = r));
      }
    },
  };
}
