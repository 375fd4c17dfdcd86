/**
 * Every request in flight, so a revocation can find and cut the streams it affects
 * (watches, logs -f, exec) within a second of reaching this replica.
 */
import type { GatewayClaims } from "../token/claims.ts";
import type { RequestInfo } from "./request-info.ts";

export type SessionKind = "request" | "watch" | "upgrade";

export interface LiveSession {
  id: string;
  kind: SessionKind;
  cluster: string;
  claims: GatewayClaims;
  info: RequestInfo;
  /** Ends the client's stream and the upstream one; `reason` goes to the audit log. */
  cut(reason: string): void;
}

export interface Sessions {
  add(session: LiveSession): () => void;
  all(): IterableIterator<LiveSession>;
  count(kind?: SessionKind): number;
  /** Marks a request as a long-lived stream once we know it is one (e.g. a watch). */
  promote(id: string, kind: SessionKind): void;
}

export function createSessions(): Sessions {
  const live = new Map<string, LiveSession>();
  return {
    add(session) {
      live.set(session.id, session);
      return () => live.delete(session.id);
    },
    all: () => live.values(),
    count(kind) {
      if (kind === undefined) return live.size;
      let n = 0;
      for (const s of live.values()) if (s.kind === kind) n++;
      return n;
    },
    promote(id, kind) {
      const s = live.get(id);
      if (s !== undefined) s.kind = kind;
    },
  };
}
