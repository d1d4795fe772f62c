import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../pipeline/core/errors.js";
import { histogramCounts, histogramEdges, profileTable, quantileSorted, readProfile } from "../pipeline/data/profile.js";
import { DataProfileSchema } from "../pipeline/data/profile-schema.js";
import { tableFromRecords } from "../pipeline/data/table.js";
import { quantilesBySelection } from "../pipeline/validate-data/select.js";
import { rng } from "./validate-data-fixtures.js";

describe("quantiles", () => {
  it("interpolates linearly between order statistics like numpy's default", () => {
    const s = Float64Array.from([1, 2, 3, 4]);
    // numpy.quantile([1,2,3,4], [0, .25, .5, .9, 1]) = [1, 1.75, 2.5, 3.7, 4]
    expect(quantileSorted(s, 0)).toBe(1);
    expect(quantileSorted(s, 0.25)).toBeCloseTo(1.75, 12);
    expect(quantileSorted(s, 0.5)).toBeCloseTo(2.5, 12);
    expect(quantileSorted(s, 0.9)).toBeCloseTo(3.7, 12);
    expect(quantileSorted(s, 1)).toBe(4);
  });

  it("selection gives the same quartiles as a full sort, with ties and without", () => {
    const r = rng(3);
    for (const n of [1, 2, 5, 100, 1001]) {
      for (const tied of [false, true]) {
        const values = Float64Array.from({ length: n }, () => (tied ? Math.floor(r() * 4) : r() * 100));
        const sorted = Float64Array.from(values).sort();
        const got = quantilesBySelection(Float64Array.from(values), [0.25, 0.5, 0.75]);
        expect(got[0]).toBeCloseTo(quantileSorted(sorted, 0.25), 12);
        expect(got[1]).toBeCloseTo(quantileSorted(sorted, 0.5), 12);
        expect(got[2]).toBeCloseTo(quantileSorted(sorted, 0.75), 12);
      }
    }
  });
});

describe("histogram", () => {
  it("cuts at the reference's own quantiles so every bin holds about the same share", () => {
    const sorted = Float64Array.from({ length: 1000 }, (_, i) => i);
    const edges = histogramEdges(sorted, 10);
    expect(edges).toHaveLength(11);
    expect(edges[0]).toBe(-Infinity);
    expect(edges[10]).toBe(Infinity);
    const counts = histogramCounts(sorted, edges);
    for (const c of counts) expect(c).toBeGreaterThanOrEqual(99);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it("merges tied cut points of a discrete column instead of making empty bins", () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => (i < 70 ? 1 : 2));
    const edges = histogramEdges(sorted, 10);
    expect(new Set(edges).size).toBe(edges.length);
    const counts = histogramCounts(sorted, edges);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(100);
    expect(edges.length).toBeLessThan(11);
  });
});

describe("profileTable", () => {
  const table = tableFromRecords(
    { x: "number", c: "category" },
    [
      { x: 1, c: "a" },
      { x: 2, c: "b" },
      { x: null, c: "a" },
      { x: 4, c: null },
    ],
  );

  it("profiles numbers and categories and validates against the profile schema", () => {
    const p = profileTable(table, ["x", "c", "absent"], { bins: 4, label: { codes: Int32Array.from([0, 1, -1, 1]), classes: ["lo", "hi"] } });
    expect(DataProfileSchema.parse(JSON.parse(JSON.stringify(p)))).toEqual(p);
    const x = p.columns.x!;
    if (x.kind !== "number") throw new Error("expected number");
    expect([x.count, x.missing, x.min, x.max]).toEqual([3, 1, 1, 4]);
    expect(x.mean).toBeCloseTo(7 / 3, 12);
    expect(x.quantiles).toHaveLength(101);
    expect(x.quantiles[50]).toBe(2);
    expect(x.histogram.edges[0]).toBeNull();
    expect(p.columns.c).toEqual({ kind: "category", count: 3, missing: 1, counts: { a: 2, b: 1 } });
    expect(p.columns.absent).toBeUndefined();
    expect(p.label).toEqual({ lo: 1, hi: 2 });
  });

  it("readProfile names the file and the field that is wrong", async () => {
    const dir = await mkdtemp(join(tmpdir(), "profile-"));
    const good = join(dir, "good.json");
    await writeFile(good, JSON.stringify(profileTable(table, ["x", "c"], { bins: 4 })));
    expect((await readProfile(good)).rows).toBe(4);

    const bad = join(dir, "bad.json");
    await writeFile(bad, JSON.stringify({ version: 1, rows: 4, columns: { x: { kind: "number", count: "three" } } }));
    await expect(readProfile(bad)).rejects.toThrow(InputError);
    await expect(readProfile(bad)).rejects.toThrow(/bad\.json[\s\S]*columns\.x/);

    const notJson = join(dir, "broken.json");
    await writeFile(notJson, "{ nope");
    await expect(readProfile(notJson)).rejects.toThrow(/broken\.json: not valid JSON/);
    await expect(readProfile(join(dir, "missing.json"))).rejects.toThrow(/missing\.json: cannot read profile \(file not found\)/);
  });
});
