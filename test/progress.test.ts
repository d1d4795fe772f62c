import { describe, expect, it } from "vitest";
import { formatProgress, progressDisplay } from "../pipeline/core/progress.js";

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, s: { isTTY, columns: 200, write: (t: string) => (writes.push(t), true) } as unknown as NodeJS.WritableStream & { isTTY: boolean } };
}

describe("progress", () => {
  it("formats a bar, the count, elapsed time and an estimate from the rate so far", () => {
    const line = formatProgress({ label: "train forest", done: 25, total: 100, unit: "trees" }, 5000, 8);
    expect(line).toBe("train forest ██░░░░░░ 25/100 trees, 5.0 s, about 15 s left");
    expect(formatProgress({ label: "build image", done: 3, total: null, unit: "steps" }, 1500)).toBe("build image: 3 steps, 1.5 s");
    expect(formatProgress({ label: "x", done: 10, total: 10 }, 2000, 4)).toBe("x ████ 10/10, 2.0 s");
  });

  it("redraws one line on a terminal and ends it with a newline", () => {
    let t = 0;
    const { writes, s } = stream(true);
    const p = progressDisplay(s, () => t);
    for (let i = 1; i <= 10; i++) {
      t += 200;
      p.update({ label: "fit", done: i, total: 10 });
    }
    p.end();
    expect(writes.length).toBe(11);
    expect(writes.slice(0, 10).every((w) => w.startsWith("\r") && !w.includes("\n"))).toBe(true);
    expect(writes.at(-1)).toBe(`\rfit ${"█".repeat(24)} 10/10, 1.8 s\u001b[K\n`);
  });

  it("prints nothing but the final line when the output is not a terminal", () => {
    let t = 0;
    const { writes, s } = stream(false);
    const p = progressDisplay(s, () => t);
    for (let i = 1; i <= 50; i++) {
      t += 10;
      p.update({ label: "fit", done: i, total: 50, unit: "trees" });
    }
    p.end();
    p.end();
    expect(writes).toEqual([`fit ${"█".repeat(24)} 50/50 trees, 0.5 s\n`]);
  });

  it("throttles terminal redraws to about ten a second", () => {
    let t = 0;
    const { writes, s } = stream(true);
    const p = progressDisplay(s, () => t);
    for (let i = 1; i < 1000; i++) {
      t += 1;
      p.update({ label: "fit", done: i, total: 1000 });
    }
    expect(writes.length).toBeLessThanOrEqual(11);
  });
});
