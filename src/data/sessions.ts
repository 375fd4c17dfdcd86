/**
 * Every request in flight, so a revocation can find and cut the streams it affects
 * (watches, logs -f, exec) within a second of reaching this replica.
 */
import { DataPathError } from "../forward/kube-status.ts";
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
  /**
   * Registers a request in flight; returns what unregisters it. Throws a 429 DataPathError
   * when its user or its cluster already has as many as the caps allow.
   */
  add(session: LiveSession): () => void;
  all(): IterableIterator<LiveSession>;
  count(kind?: SessionKind): number;
  /** Marks a request as a long-lived stream once we know it is one (e.g. a watch). */
  promote(id: string, kind: SessionKind): void;
}

export interface SessionCaps {
  perUser: number;
  perCluster: number;
}

export function createSessions(caps: SessionCaps = { perUser: Infinity, perCluster: Infinity }): Sessions {
  const live = new Map<string, LiveSession>();
  const byUser = new Map<string, number>();
  const byCluster = new Map<string, number>();
  const bump = (counts: Map<string, number>, key: string, by: number) => {
    const n = (counts.get(key) ?? 0) + by;
    if (n === 0) counts.delete(key);
    else counts.set(key, n);
  };
  return {
    add(session) {
      const user = session.claims.sub;
      if ((byUser.get(user) ?? 0) >= caps.perUser)
        throw new DataPathError("rateLimited", `${user} already has ${caps.perUser} requests and streams open on this kubegate replica: close some, or retry`, {
          retryAfterSeconds: 1,
        });
      if ((byCluster.get(session.cluster) ?? 0) >= caps.perCluster)
        throw new DataPathError("rateLimited", `cluster ${JSON.stringify(session.cluster)} already has ${caps.perCluster} requests and streams open on this kubegate replica: retry`, {
          retryAfterSeconds: 1,
        });
      live.set(session.id, session);
      bump(byUser, user, 1);
      bump(byCluster, session.cluster, 1);
      let removed = false;
      return () => {
        if (removed) return;
        removed = true;
        live.delete(session.id);
        bump(byUser, user, -1);
        bump(byCluster, session.cluster, -1);
      };
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
