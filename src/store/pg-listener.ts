/**
 * LISTEN on a dedicated PostgreSQL connection so this replica hears changes committed by
 * the others (the data plane must learn a revocation within a second, on every replica).
 * A pooled connection cannot do this: LISTEN belongs to one session, which must stay open.
 */
import pg from "pg";
import type { StoreLogger } from "./logger.ts";

export interface PgListenerOptions {
  config: pg.ClientConfig;
  channel: string;
  /** Payload this instance sends; its own echoes are ignored (it already notified locally). */
  instanceId: string;
  /** Called on a notification from another instance, and after a reconnect (we may have missed some). */
  onNotify: () => void;
  log: StoreLogger;
  /** Reconnect backoff bounds, in ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface PgListener {
  close(): Promise<void>;
}

/** Resolves once the first LISTEN is active; rejects if that first connection fails. */
export async function startPgListener(options: PgListenerOptions): Promise<PgListener> {
  const minBackoff = options.minBackoffMs ?? 100;
  const maxBackoff = options.maxBackoffMs ?? 5_000;
  let current: pg.Client | undefined;
  let closed = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;

  const drop = (client: pg.Client, reason: unknown): void => {
    if (current !== client) return;
    current = undefined;
    client.end().catch(() => undefined);
    if (closed) return;
    options.log.warn({ err: reason }, "store: change listener connection lost; reconnecting");
    schedule();
  };

  const connect = async (): Promise<void> => {
    const client = new pg.Client(options.config);
    client.on("error", (err) => drop(client, err));
    client.on("end", () => drop(client, new Error("connection ended")));
    client.on("notification", (msg) => {
      if (msg.channel === options.channel && msg.payload !== options.instanceId) options.onNotify();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(options.channel)}`);
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    if (closed) {
      await client.end().catch(() => undefined);
      return;
    }
    current = client;
    if (attempt > 0) {
      options.log.info("store: change listener reconnected");
      options.onNotify();
    }
    attempt = 0;
  };

  const schedule = (): void => {
    const base = Math.min(maxBackoff, minBackoff * 2 ** attempt);
    attempt += 1;
    // Jitter spreads replicas' reconnects after a database restart.
    timer = setTimeout(() => {
      timer = undefined;
      connect().catch((err: unknown) => {
        if (closed) return;
        options.log.warn({ err }, "store: change listener reconnect failed; retrying");
        schedule();
      });
    }, base / 2 + Math.random() * (base / 2));
  };

  await connect();

  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const client = current;
      current = undefined;
      await client?.end().catch(() => undefined);
    },
  };
}
