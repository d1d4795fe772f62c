/**
 * Requests per window per client (an API key's id, or the client address without a key): a window
 * opens at a client's first request and holds `max` requests; the next ones are refused until it
 * ends. The same rule as @fastify/rate-limit's default store, which this replaces because the
 * prediction fast path (predict-fast-path.ts) answers outside fastify's hooks and both must count in
 * one place (README "Rate limiting" has the measurement).
 *
 * Memory is bounded: at most `maxClients` windows are kept; past that, ended windows are dropped, and
 * if all are still running the older half goes (those clients start a new window: a flood of
 * distinct addresses cannot grow the process).
 */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the client's window ends. */
  resetMs: number;
}

export interface RateLimiter {
  readonly max: number;
  readonly windowMs: number;
  hit(client: string): RateLimitDecision;
  /** Clients with a window kept (for tests and metrics). */
  size(): number;
}

interface Window {
  count: number;
  endsAt: number;
}

export function createRateLimiter(options: { max: number; windowMs: number; now?: () => number; maxClients?: number }): RateLimiter {
  const { max, windowMs } = options;
  const now = options.now ?? Date.now;
  const maxClients = options.maxClients ?? 10_000;
  let windows = new Map<string, Window>();
  // One object returned for every decision: hit() runs once per request and the caller reads it at once.
  const decision: RateLimitDecision = { allowed: true, limit: max, remaining: max, resetMs: windowMs };

  const makeRoom = (t: number): void => {
    for (const [client, w] of windows) if (w.endsAt <= t) windows.delete(client);
    if (windows.size < maxClients) return;
    // Still full of running windows: keep the newer half (a Map iterates in insertion order; one
    // pass into a new Map, so the cost is spread over the maxClients / 2 insertions that follow).
    const kept = new Map<string, Window>();
    let skip = windows.size - Math.floor(maxClients / 2);
    for (const [client, w] of windows) {
      if (skip > 0) skip--;
      else kept.set(client, w);
    }
    windows = kept;
  };

  return {
    max,
    windowMs,
    hit(client) {
      const t = now();
      let w = windows.get(client);
      if (w === undefined || w.endsAt <= t) {
        if (w !== undefined) windows.delete(client);
        else if (windows.size >= maxClients) makeRoom(t);
        w = { count: 0, endsAt: t + windowMs };
        windows.set(client, w);
      }
      w.count++;
      decision.allowed = w.count <= max;
      decision.remaining = Math.max(0, max - w.count);
      decision.resetMs = w.endsAt - t;
      return decision;
    },
    size: () => windows.size,
  };
}

/** The refusal's headers, as @fastify/rate-limit wrote them (seconds, rounded up, at least 1). */
export function rateLimitHeaders(d: RateLimitDecision): Record<string, string> {
  const seconds = String(Math.max(1, Math.ceil(d.resetMs / 1000)));
  return { "x-ratelimit-limit": String(d.limit), "x-ratelimit-remaining": String(d.remaining), "x-ratelimit-reset": seconds, "retry-after": seconds };
}
