/**
 * A closed-loop load generator: a fixed number of calls in flight, a warm-up whose calls
 * are not counted, then a measured window. Bounded in time and in count, and every call
 * has its own timeout, so a loop always stops by itself.
 */
import { ownCpuSeconds } from "./proc.mjs";

/**
 * Runs `call(i, signal)` (i counts calls from 0) with `concurrency` calls in flight.
 * Returns { calls, errors, firstError, seconds, latenciesMs, cpuSeconds, capped, extra }
 * for the calls completed inside the measured window; `capped` says maxCalls (a safety
 * bound) ended the run early, so calls/s is understated. `probe()` (optional) is called at the window's start and end and
 * its two results are returned as `extra: { start, end }`, e.g. a child's CPU time.
 */
export async function runClosedLoop({
  call,
  concurrency = 16,
  warmupMs = 1000,
  durationMs = 5000,
  maxCalls = 2_000_000,
  callTimeoutMs = 10_000,
  probe,
}) {
  const latenciesMs = [];
  let issued = 0;
  let calls = 0;
  let errors = 0;
  let firstError;
  let measuring = false;
  let stopAt = Infinity;
  const hardStop = Date.now() + warmupMs + durationMs + callTimeoutMs + 5000;

  async function worker() {
    while (issued < maxCalls && performance.now() < stopAt && Date.now() < hardStop) {
      const i = issued++;
      const started = performance.now();
      try {
        await call(i, AbortSignal.timeout(callTimeoutMs));
        // Completions inside the window count, whenever the call started.
        if (measuring) {
          latenciesMs.push(performance.now() - started);
          calls++;
        }
      } catch (err) {
        if (measuring) errors++;
        firstError ??= err;
        // A failing target must not become a tight loop.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  const workers = Array.from({ length: concurrency }, () => worker());
  await new Promise((r) => setTimeout(r, warmupMs));
  const start = { at: performance.now(), cpu: ownCpuSeconds(), probe: probe?.() };
  measuring = true;
  stopAt = start.at + durationMs;
  await new Promise((r) => setTimeout(r, durationMs));
  // Calls finishing after the window are not counted: the window is exactly durationMs.
  measuring = false;
  const end = { at: performance.now(), cpu: ownCpuSeconds(), probe: probe?.() };
  await Promise.all(workers);
  return {
    calls,
    errors,
    firstError,
    seconds: (end.at - start.at) / 1000,
    latenciesMs,
    cpuSeconds: end.cpu - start.cpu,
    capped: issued >= maxCalls,
    extra: probe === undefined ? undefined : { start: start.probe, end: end.probe },
  };
}
