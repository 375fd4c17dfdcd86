/**
 * Sends what this replica observed of clusters (agent tunnels up or down, direct members
 * answering their probe or not) and of grants
 * (RBAC applied or failed) to the control plane. Reports are coalesced per key, newest
 * wins, and sent one call at a time in order; a failed call is retried with the newest
 * state, so a flapping agent cannot leave a stale READY behind an OFFLINE.
 */
import type { Logger } from "../log.ts";

/** The control plane refuses a whole report call whose message passes its reason limit (1024). */
const MAX_MESSAGE = 1000;

/** A message cut to what the control plane accepts. */
export const clipMessage = (s: string) => (s.length <= MAX_MESSAGE ? s : `${s.slice(0, MAX_MESSAGE - 1)}…`);

export interface Reporter<T> {
  /** Queues `report` under `key`, replacing an unsent one. */
  push(key: string, report: T): void;
  /** Resolves when everything queued so far has been sent (or dropped at close). */
  flush(): Promise<void>;
  close(): void;
}

export function createReporter<T>(opts: { send(reports: T[]): Promise<void>; log: Logger; what: string; retryMs?: number }): Reporter<T> {
  const pending = new Map<string, T>();
  let running: Promise<void> | undefined;
  let closed = false;
  const retryMs = opts.retryMs ?? 1_000;

  const run = async () => {
    while (pending.size > 0 && !closed) {
      const batch = [...pending.entries()].slice(0, 500);
      for (const [key] of batch) pending.delete(key);
      try {
        await opts.send(batch.map(([, r]) => r));
      } catch (err) {
        opts.log.warn({ err: (err as Error).message, what: opts.what }, "report to the control plane failed; retrying");
        // Put back what no newer report has replaced.
        for (const [key, r] of batch) if (!pending.has(key)) pending.set(key, r);
        await new Promise((r) => setTimeout(r, retryMs).unref());
      }
    }
    running = undefined;
  };

  return {
    push(key, report) {
      if (closed) return;
      pending.set(key, report);
      running ??= run();
    },
    async flush() {
      while (running !== undefined) await running;
    },
    close() {
      closed = true;
      pending.clear();
    },
  };
}
