/**
 * Live long-running streams (watches, followed logs, exec sessions, SPDY echo
 * tunnels), counted for tests and ended together when the fake closes.
 */

/** The kinds of stream the fake tracks. */
export type StreamKind = "watch" | "log" | "exec" | "spdy";

/** Registry of live streams. */
export interface StreamRegistry {
  /** Registers a stream; returns the function that unregisters it (idempotent). */
  add(kind: StreamKind, end: () => void): () => void;
  counts(): Record<StreamKind, number>;
  endAll(): void;
}

/** Creates an empty registry. */
export function createStreamRegistry(): StreamRegistry {
  const live = new Map<symbol, { kind: StreamKind; end: () => void }>();
  return {
    add(kind, end) {
      const id = Symbol(kind);
      live.set(id, { kind, end });
      return () => void live.delete(id);
    },
    counts() {
      const c: Record<StreamKind, number> = { watch: 0, log: 0, exec: 0, spdy: 0 };
      for (const s of live.values()) c[s.kind]++;
      return c;
    },
    endAll() {
      for (const [id, s] of [...live]) {
        live.delete(id);
        try {
          s.end();
        } catch {
          // A stream that is already gone needs no ending.
        }
      }
    },
  };
}
