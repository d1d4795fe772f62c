import { describe, expect, it } from "vitest";
import { coalescingDestination } from "../pipeline/serve/log-destination.js";

function target() {
  const writes: string[] = [];
  let flushed = 0;
  return { writes, flushed: () => flushed, write: (s: string) => void writes.push(s), flushSync: () => void flushed++ };
}

describe("the coalescing log destination", () => {
  it("hands lines on in chunks of at least minLength, in order and byte for byte", () => {
    const t = target();
    const d = coalescingDestination(t, { minLength: 100, flushIntervalMs: 60_000 });
    const lines = Array.from({ length: 50 }, (_, i) => `{"n":${i},"text":"ünïcode ${"x".repeat(i % 7)}"}\n`);
    for (const l of lines) d.write(l);
    // Every chunk handed on so far reached the minimum; what is left waits.
    expect(t.writes.length).toBeGreaterThan(5);
    for (const w of t.writes) expect(w.length).toBeGreaterThanOrEqual(100);
    d.flushSync();
    expect(t.writes.join("")).toBe(lines.join(""));
    expect(t.flushed()).toBe(1);
    // Nothing pending: a second flush writes nothing more.
    const n = t.writes.length;
    d.flushSync();
    expect(t.writes.length).toBe(n);
  });

  it("writes what is pending within the flush interval, without a flush call", async () => {
    const t = target();
    const d = coalescingDestination(t, { minLength: 1_000_000, flushIntervalMs: 20 });
    d.write("one\n");
    d.write("two\n");
    expect(t.writes).toEqual([]);
    await new Promise((r) => setTimeout(r, 120));
    expect(t.writes).toEqual(["one\ntwo\n"]);
  });
});
