import { describe, expect, it } from "vitest";
import { createRateLimiter, rateLimitHeaders } from "../pipeline/serve/rate-limit.js";

describe("the rate limiter", () => {
  it("allows max requests per client per window, refuses the next ones, and opens a new window when it ends", () => {
    let t = 1_000;
    const limiter = createRateLimiter({ max: 3, windowMs: 60_000, now: () => t });
    const seen = [1, 2, 3, 4, 5].map(() => ({ ...limiter.hit("ip:a") }));
    expect(seen.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(seen.map((d) => d.remaining)).toEqual([2, 1, 0, 0, 0]);
    // Another client is counted apart.
    expect(limiter.hit("key:b").allowed).toBe(true);
    t += 59_999;
    const late = { ...limiter.hit("ip:a") };
    expect(late).toEqual({ allowed: false, limit: 3, remaining: 0, resetMs: 1 });
    t += 1;
    expect(limiter.hit("ip:a")).toMatchObject({ allowed: true, remaining: 2, resetMs: 60_000 });
  });

  it("writes the refusal's headers in whole seconds, at least one", () => {
    expect(rateLimitHeaders({ allowed: false, limit: 3, remaining: 0, resetMs: 1 })).toEqual({ "x-ratelimit-limit": "3", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1", "retry-after": "1" });
    expect(rateLimitHeaders({ allowed: false, limit: 10, remaining: 0, resetMs: 4_001 })["retry-after"]).toBe("5");
  });

  it("keeps at most maxClients windows: ended ones go first, then the oldest half", () => {
    let t = 0;
    const limiter = createRateLimiter({ max: 1, windowMs: 1_000, now: () => t, maxClients: 100 });
    for (let i = 0; i < 100; i++) limiter.hit(`ip:${i}`);
    expect(limiter.size()).toBe(100);
    // All windows still running: the older half is dropped to make room.
    limiter.hit("ip:new");
    expect(limiter.size()).toBe(51);
    // The newest clients kept their windows (still refused); the dropped ones start again.
    expect(limiter.hit("ip:99").allowed).toBe(false);
    expect(limiter.hit("ip:0").allowed).toBe(true);
    // Once windows end, they are dropped before any running one.
    t = 5_000;
    for (let i = 0; i < 200; i++) limiter.hit(`flood:${i}`);
    expect(limiter.size()).toBeLessThanOrEqual(100);
    // A flood of a million addresses stays bounded.
    for (let i = 0; i < 1_000_000; i++) limiter.hit(`x:${i}`);
    expect(limiter.size()).toBeLessThanOrEqual(100);
  });
});
