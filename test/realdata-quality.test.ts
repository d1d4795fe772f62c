import { describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { readDataset } from "../pipeline/data/csv.js";
import { checkDataset } from "../pipeline/validate-data/index.js";
import { outlierShape } from "../pipeline/validate-data/outlier-shape.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { generateRows, normal, readOf, rng, tableOf, testConfig, type Row } from "./validate-data-fixtures.js";
import { resolve } from "node:path";

/** Issue 11, case 2: outliers that know the shape of the column. */

const clean = generateRows({ rows: 2000, seed: 21 });
const run = (rows: Row[]) => checkDataset(readOf(tableOf(rows)), testConfig()).report;
const outlierErrors = (r: ReturnType<typeof run>) => r.issues.filter((i) => i.check === "outliers" && i.severity === "error");

describe("outliers that know the shape (issue 11, case 2)", () => {
  it("a value spike does not turn normal values into outliers, and is reported as a spike", () => {
    // Half of rh exactly at 40 (a form's default), the rest spread around 44: the plain quartiles
    // land on the spike, the IQR shrinks, and the plain rule flags several percent of normal values.
    const r = rng(3);
    const rows = clean.map((row) => ({ ...row, rh: r() < 0.5 ? 40 : Math.round((44 + 15 * normal(r)) * 10) / 10 }));
    const report = run(rows);
    const rh = report.columns.find((c) => c.name === "rh")!;
    expect(rh.outliers_iqr! / 2000).toBeGreaterThan(0.05); // what the plain rule would have failed on
    expect(rh.outliers).toBe(0);
    expect(outlierErrors(report)).toEqual([]);
    expect(rh.spikes!.map((s) => s.value)).toEqual([40]);
    const spike = report.issues.find((i) => i.check === "spikes" && i.column === "rh")!;
    expect(spike.severity).toBe("info");
    expect(spike.message).toMatch(/40 \([45]\d\.\d%\)/);
    expect(spike.recommendation).not.toMatch(/sensor/);
  });

  it("zero-inflated air speeds: the spike at 0 is normal and the recommendation names it", () => {
    const r = rng(4);
    const sorted = Float64Array.from({ length: 5000 }, () => (r() < 0.28 ? 0 : Math.round(Math.exp(Math.log(0.15) + 0.7 * normal(r)) * 100) / 100)).sort();
    const shape = outlierShape(sorted, 3, 0.1);
    expect(shape.spikes.map((s) => s.value)).toEqual([0]);
    expect(shape.outlyingSpikes).toEqual([]);
    expect(shape.outliers / sorted.length).toBeLessThan(0.01);
  });

  it("a spike outside the fences is still an outlier, blamed on a placeholder", () => {
    const rows = clean.map((row, i) => ({ ...row, rh: i % 8 === 0 ? -999 : row.rh }));
    const report = run(rows);
    const [issue] = outlierErrors(report);
    expect(issue!.column).toBe("rh");
    expect(issue!.recommendation).toMatch(/placeholder/);
    expect(report.issues.find((i) => i.check === "spikes" && i.column === "rh")!.severity).toBe("warning");
  });

  it("a separate cluster beyond a gap (°F among °C) is blamed on units, a connected tail is not counted", () => {
    const fahrenheit = clean.map((row, i) => ({ ...row, ta: i % 12 === 0 ? Math.round(((row.ta as number) * 1.8 + 32) * 10) / 10 : row.ta }));
    const [issue] = outlierErrors(run(fahrenheit));
    expect(issue!.column).toBe("ta");
    expect(issue!.recommendation).toMatch(/unit or scale error/);
    // A second mode that continues the body (6% standing or walking, as the generator's met): a tail.
    const r = rng(5);
    const sorted = Float64Array.from({ length: 5000 }, () => Math.round((r() < 0.06 ? 1.4 + 0.6 * r() : 1.12 + 0.08 * normal(r)) * 100) / 100).sort();
    const shape = outlierShape(sorted, 3, 0.1);
    expect(shape.outliers).toBe(0);
    expect(shape.tail / sorted.length).toBeGreaterThan(0.03);
  });

  it("ASHRAE DB II with its profile: no outlier error caused by value spikes; met's coded steps are reported as spikes", async () => {
    const { config } = await loadConfig("config/datasets/ashrae-db2.yaml", PROJECT_ROOT);
    const read = await readDataset(resolve(PROJECT_ROOT, config.dataset.path), config.dataset);
    const { report } = checkDataset(read, config);
    expect(report.issues.filter((i) => i.check === "outliers" && i.severity === "error")).toEqual([]);
    const met = report.columns.find((c) => c.name === "met")!;
    expect(met.spikes!.length).toBeGreaterThan(0);
    expect(met.outliers_iqr).toBeGreaterThan(met.outliers!); // the plain rule flags the coded steps' neighbours
    expect(report.issues.some((i) => i.check === "spikes" && i.column === "met")).toBe(true);
  }, 120_000);
});
