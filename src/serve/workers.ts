/**
 * Data-plane worker processes (`--data-workers N`): one Node thread serves the data path,
 * so on a machine with more cores kubegate forks N data-plane replicas that share the
 * listening port (node:cluster). Each worker syncs its own view from the control plane,
 * so revocation reaches every one of them; a worker that dies is replaced.
 */
import cluster, { type Worker } from "node:cluster";
import { createLogger, type Logger } from "../log.ts";
import { startDataPlane, type DataPlaneOptions } from "./data-plane.ts";

/** What a worker needs, sent over IPC (secrets never go through argv or env). */
export type WorkerOptions = Omit<DataPlaneOptions, "log" | "clock"> & { logLevel: string };

type ToWorker = { type: "start"; options: WorkerOptions } | { type: "stop"; graceMs: number };
type FromWorker = { type: "listening"; url: string; port: number } | { type: "failed"; message: string };

export interface DataWorkers {
  url: string;
  port: number;
  close(graceMs?: number): Promise<void>;
}

/** In the primary: forks `count` workers and resolves once all listen. */
export async function startDataWorkers(count: number, options: WorkerOptions, log: Logger): Promise<DataWorkers> {
  let closing = false;
  const live = new Set<Worker>();
  let url = "";
  let port = 0;

  const fork = (index: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ KUBEGATE_DATA_WORKER: String(index) });
      live.add(worker);
      worker.on("message", (msg: FromWorker) => {
        if (msg.type === "listening") {
          url = msg.url;
          port = msg.port;
          resolve();
        } else reject(new Error(`data-plane worker ${index} failed to start: ${msg.message}`));
      });
      worker.once("online", () => worker.send({ type: "start", options } satisfies ToWorker));
      worker.once("exit", (code, signal) => {
        live.delete(worker);
        reject(new Error(`data-plane worker ${index} exited (${signal ?? code}) before listening`));
        if (!closing) {
          log.warn({ worker: index, code, signal }, "data-plane worker exited; starting a new one");
          fork(index).catch((err: unknown) => log.error({ err }, "could not replace a data-plane worker"));
        }
      });
    });

  try {
    await Promise.all(Array.from({ length: count }, (_, i) => fork(i)));
  } catch (err) {
    closing = true;
    for (const w of live) w.kill();
    throw err;
  }
  return {
    url,
    port,
    async close(graceMs = 5_000) {
      closing = true;
      await Promise.all(
        [...live].map(
          (w) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(() => w.kill("SIGKILL"), graceMs + 2_000);
              w.once("exit", () => {
                clearTimeout(timer);
                resolve();
              });
              w.send({ type: "stop", graceMs } satisfies ToWorker);
            }),
        ),
      );
    },
  };
}

/** In a worker: waits for its options, serves, and stops when told (or when the primary dies). */
export async function runDataWorker(): Promise<number> {
  const msg = await new Promise<ToWorker>((resolve) => process.once("message", resolve));
  if (msg.type !== "start") return 1;
  const { logLevel, ...options } = msg.options;
  const log = createLogger({ level: logLevel }).child({ worker: process.env["KUBEGATE_DATA_WORKER"] });
  let plane;
  try {
    plane = await startDataPlane({ ...options, log });
  } catch (err) {
    process.send?.({ type: "failed", message: (err as Error).message } satisfies FromWorker);
    return 1;
  }
  process.send?.({ type: "listening", url: plane.url, port: plane.port } satisfies FromWorker);
  const graceMs = await new Promise<number>((resolve) => {
    process.on("message", (m: ToWorker) => m.type === "stop" && resolve(m.graceMs));
    // Signals go to the whole process group; the primary decides when workers stop.
    process.on("SIGTERM", () => undefined);
    process.on("SIGINT", () => undefined);
    process.once("disconnect", () => resolve(0));
  });
  await plane.close(graceMs);
  process.disconnect?.();
  return 0;
}

export const isDataWorker = () => cluster.isWorker && process.env["KUBEGATE_DATA_WORKER"] !== undefined;
