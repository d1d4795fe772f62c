import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { coalescingDestination } from "../pipeline/serve/log-destination.js";

/** A destination that keeps the very Buffers it is handed (views, not copies), as SonicBoom does until it has written them. */
function target() {
  const chunks: Buffer[] = [];
  let flushed = 0;
  return { chunks, get writes() { return chunks.map((c) => c.toString("utf8")); }, flushed: () => flushed, write: (c: Buffer) => void chunks.push(c), flushSync: () => void flushed++ };
}

class BusyTarget extends EventEmitter {
  chunks: Buffer[] = [];
  constructor(public full = false) {
    super();
  }
  get writes(): string[] {
    return this.chunks.map((c) => c.toString("utf8"));
  }
  write(c: Buffer): boolean {
    this.chunks.push(c);
    return !this.full;
  }
}

describe("the coalescing log destination", () => {
  it("hands lines on in chunks of at least minLength, in order and byte for byte", () => {
    const t = target();
    const d = coalescingDestination(t, { minLength: 100, flushIntervalMs: 60_000 });
    const lines = Array.from({ length: 50 }, (_, i) => `{"n":${i},"text":"ünïcode ${"x".repeat(i % 7)}"}\n`);
    for (const l of lines) d.write(l);
    // Every chunk handed on so far reached the minimum; what is left waits.
    expect(t.writes.length).toBeGreaterThan(5);
    for (const c of t.chunks) expect(c.length).toBeGreaterThanOrEqual(100);
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

  it("holds lines while the destination is busy and hands them over in one piece on drain", () => {
    // A destination like SonicBoom: over its high-water mark write() says false, then 'drain' comes.
    const busy = new BusyTarget();
    const d = coalescingDestination(busy, { minLength: 10, flushIntervalMs: 60_000 });
    busy.full = true;
    d.write("first line\n");
    expect(busy.writes).toEqual(["first line\n"]);
    // Busy: however much arrives, nothing more is written until it drains.
    for (let i = 0; i < 100; i++) d.write(`line ${i}\n`);
    expect(busy.writes.length).toBe(1);
    busy.full = false;
    busy.emit("drain");
    expect(busy.writes.length).toBe(2);
    expect(busy.writes.join("")).toBe("first line\n" + Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(""));
  });

  it("drops lines beyond maxPending while the destination takes nothing, and says how many", () => {
    const stuck = new BusyTarget(true);
    const drops: number[] = [];
    const d = coalescingDestination(stuck, { minLength: 1, flushIntervalMs: 60_000, maxPending: 100, onDrop: (n) => drops.push(n) });
    d.write("x".repeat(10) + "\n");
    for (let i = 0; i < 50; i++) d.write("y".repeat(9) + "\n");
    // 100 characters wait (ten lines); the other 40 were dropped.
    stuck.emit("drain");
    expect(stuck.writes[1]).toBe(("y".repeat(9) + "\n").repeat(10));
    expect(drops).toEqual([40]);
  });

  it("keeps every byte handed on unchanged while later lines arrive, across blocks, multibyte text and lines larger than a block", () => {
    const t = target();
    const d = coalescingDestination(t, { minLength: 1000, flushIntervalMs: 60_000 });
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) {
      // ASCII, two-, three- and four-byte characters, a lone surrogate (written as U+FFFD, as Buffer.from does), and now and then a huge line.
      const text = i % 500 === 7 ? "z".repeat(200_000) : `${"é".repeat(i % 5)}${"€".repeat(i % 3)}${i % 11 === 0 ? "😀" : ""}${i % 97 === 0 ? "\ud800" : ""}`;
      const line = `{"n":${i},"t":"${text}"}\n`;
      lines.push(line);
      d.write(line);
    }
    d.flushSync();
    // The chunks are the Buffers as handed over: had a later line been written over them, this would differ.
    expect(Buffer.concat(t.chunks).equals(Buffer.from(lines.join(""), "utf8"))).toBe(true);
  });

  it("hands over what waited across several blocks in one piece, in order, after a drain", () => {
    const busy = new BusyTarget();
    const d = coalescingDestination(busy, { minLength: 10, flushIntervalMs: 60_000 });
    busy.full = true;
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${"ß".repeat(i % 9)}\n`);
    for (const l of lines) d.write(l);
    expect(busy.chunks.length).toBe(1);
    busy.full = false;
    busy.emit("drain");
    expect(busy.chunks.length).toBe(2);
    expect(Buffer.concat(busy.chunks).equals(Buffer.from(lines.join(""), "utf8"))).toBe(true);
  });
});
