import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { AnnotationBudget, MAX_SUMMARY_BYTES, truncateSummary } from "../actions/shared/limits.js";

describe("job summary limit", () => {
  it("leaves a summary under the limit unchanged", () => {
    const md = "# Report\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
    expect(truncateSummary(md)).toBe(md);
  });

  it("cuts a 3 MiB summary to at most 1 MiB at a line end and says so", () => {
    const line = "| feature | 0.123456 | drifted |\n";
    const md = line.repeat(Math.ceil((3 * MAX_SUMMARY_BYTES) / line.length));
    const out = truncateSummary(md);
    expect(Buffer.byteLength(out, "utf8")).toBeLessThanOrEqual(MAX_SUMMARY_BYTES);
    expect(out).toContain("Summary truncated");
    const body = out.slice(0, out.indexOf("\n\n> **Summary truncated**"));
    expect(body.split("\n").every((l) => l === line.trimEnd())).toBe(true);
  });

  it("never exceeds the byte limit or splits a character, whatever the text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 400 }), fc.integer({ min: 200, max: 2000 }), (s, max) => {
        const input = s.repeat(20);
        const out = truncateSummary(input, max);
        if (Buffer.byteLength(input, "utf8") <= max) expect(out).toBe(input);
        else expect(Buffer.byteLength(out, "utf8")).toBeLessThanOrEqual(max);
        expect(out.includes("\uFFFD") && !input.includes("\uFFFD")).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe("annotation caps", () => {
  it("passes the first nine of a level, holds the rest and aggregates them into the tenth", () => {
    const budget = new AnnotationBudget(10);
    const decisions = Array.from({ length: 25 }, (_, i) => budget.admit("warning", `w${i}`));
    expect(decisions.filter((d) => d.annotate)).toHaveLength(9);
    expect(decisions[9]!.logLine).toBe("warning: w9");
    const flushed = budget.flush();
    expect(flushed).toHaveLength(1);
    expect(flushed[0]!.level).toBe("warning");
    expect(flushed[0]!.message).toMatch(/^16 more warnings/);
    expect(flushed[0]!.message).toContain("- w9");
    expect(flushed[0]!.message).toContain("… and 11 more");
  });

  it("counts warnings and errors separately and sends a lone held one as itself", () => {
    const budget = new AnnotationBudget(3);
    for (let i = 0; i < 3; i++) budget.admit("error", `e${i}`);
    expect(budget.admit("warning", "w0").annotate).toBe(true);
    const flushed = budget.flush();
    expect(flushed).toEqual([{ level: "error", message: "e2" }]);
    expect(budget.flush()).toEqual([]);
  });

  it("never sends more than the cap per level, for any sequence", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<"warning" | "error">("warning", "error"), { maxLength: 200 }), (levels) => {
        const budget = new AnnotationBudget(10);
        const sent = { warning: 0, error: 0 };
        for (const l of levels) if (budget.admit(l, "m").annotate) sent[l]++;
        for (const f of budget.flush()) sent[f.level]++;
        expect(sent.warning).toBeLessThanOrEqual(10);
        expect(sent.error).toBeLessThanOrEqual(10);
        expect(sent.warning).toBe(Math.min(levels.filter((l) => l === "warning").length, 10));
      }),
    );
  });
});
