/**
 * Keeps the data plane's view in step with the control plane: one server stream, resumed
 * from the last revision after any break, with exponential backoff and jitter.
 */
import type { Client } from "@connectrpc/connect";
import type { DataPlaneSyncService } from "../../gen/kubegate/v1/sync_pb.ts";
import type { Logger } from "../log.ts";
import { backoffDelay, sleepUnlessAborted } from "../net/backoff.ts";
import type { TokenVerifier } from "../token/verifier.ts";
import { applySync, type View, type ViewChange } from "./view.ts";

export interface SyncOptions {
  sync: Client<typeof DataPlaneSyncService>;
  replica: string;
  /** This process's id in the agent mesh; "" takes no part. */
  dataPlaneId?: string;
  view: View;
  verifier: TokenVerifier;
  onChange: (change: ViewChange) => void;
  /** After each (re)connect's first message: the control plane may have forgotten what this process reported. */
  onConnected?: () => void;
  log: Logger;
  clock?: () => number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface SyncLoop {
  /** Resolves once the first snapshot is applied. */
  ready: Promise<void>;
  connected(): boolean;
  stop(): Promise<void>;
}

export function startSync(opts: SyncOptions): SyncLoop {
  const clock = opts.clock ?? Date.now;
  const initial = opts.initialBackoffMs ?? 200;
  // Capped low so the data plane is back within a second or two of its control plane; the
  // jitter still spreads a fleet's redials, and one redial a second is cheap to refuse.
  const max = opts.maxBackoffMs ?? 1_000;
  const abort = new AbortController();
  let connected = false;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const loop = (async () => {
    let failures = 0;
    while (!abort.signal.aborted) {
      try {
        const stream = opts.sync.watchState(
          { fromRevision: BigInt(opts.view.revision), replica: opts.replica, dataPlaneId: opts.dataPlaneId ?? "" },
          { signal: abort.signal },
        );
        for await (const msg of stream) {
          const change = applySync(opts.view, msg, clock());
          if (msg.snapshot || msg.signingKeys.length > 0 || msg.removedKeyIds.length > 0) {
            opts.verifier.setKeys([...opts.view.keys.values()]);
          }
          const first = !connected;
          if (first) opts.log.info({ revision: opts.view.revision, snapshot: msg.snapshot }, "sync connected");
          connected = true;
          failures = 0;
          if (msg.snapshot) markReady();
          opts.onChange(change);
          if (first) opts.onConnected?.();
        }
      } catch (err) {
        if (abort.signal.aborted) break;
        opts.log.warn({ err: (err as Error).message, failures }, "sync stream broken; reconnecting");
      }
      connected = false;
      if (abort.signal.aborted) break;
      const delay = backoffDelay(failures, initial, max);
      failures++;
      await sleepUnlessAborted(delay, abort.signal);
    }
  })();

  return {
    ready,
    connected: () => connected,
    async stop() {
      abort.abort();
      await loop;
    },
  };
}
