/**
 * Time as the deploy sees it. Passed in so tests and benchmarks can run a canary with real servers
 * but without waiting real minutes where a test does not need to.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};
