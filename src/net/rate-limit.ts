/**
 * Per-key token buckets: per subject for minting and data-plane requests, per HTTP/2
 * session for resets and control frames. In memory: each replica limits on its own, which
 * bounds abuse without a shared store on the hot path.
 */
export interface RateLimiter {
  /** Takes one token for `key`; returns 0 when allowed, else how many ms until one is free. */
  take(key: string): number;
}

export function createRateLimiter(opts: { perSecond: number; burst: number; clock?: () => number }): RateLimiter {
  const clock = opts.clock ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key) {
      const now = clock();
      const b = buckets.get(key) ?? { tokens: opts.burst, at: now };
      b.tokens = Math.min(opts.burst, b.tokens + ((now - b.at) / 1000) * opts.perSecond);
      b.at = now;
      buckets.set(key, b);
      if (buckets.size > 100_000) buckets.delete(buckets.keys().next().value!);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - b.tokens) / opts.perSecond) * 1000);
    },
  };
}
