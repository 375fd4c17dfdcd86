/**
 * Reconnect pacing shared by every loop that redials (the data plane's sync stream, the
 * agent's tunnel): exponential backoff with full jitter, so a fleet does not reconnect in
 * lockstep after an outage, and a wait that an abort cuts short.
 */

/** Between half and all of min(max, initial·2^failures). */
export function backoffDelay(failures: number, initialMs: number, maxMs: number, random = Math.random): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(failures, 20));
  return cap / 2 + random() * (cap / 2);
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no listener behind. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
