import { describe, expect, it } from "vitest";
import { profileWithGroups } from "../pipeline/data/profile-groups.js";
import { profileTable } from "../pipeline/data/profile.js";
import { checkDataset, DataValidationReportSchema, renderDataReportMarkdown } from "../pipeline/validate-data/index.js";
import type { Issue } from "../pipeline/validate-data/report.js";
import { countDuplicateRows } from "../pipeline/validate-data/quality.js";
import { tableFromRecords } from "../pipeline/data/table.js";
import { generateRows, readOf, SPEC, tableOf, testConfig, type Row } from "./validate-data-fixtures.js";

const clean = generateRows({ rows: 1000, seed: 1 });
const run = (rows: Row[], overrides: Record<string, unknown> = {}, extra: Parameters<typeof readOf>[1] = {}) =>
  checkDataset(readOf(tableOf(rows), extra), testConfig(overrides)).report;
const errors = (issues: Issue[], check: Issue["check"]) => issues.filter((i) => i.check === check && i.severity === "error");
const of = (issues: Issue[], check: Issue["check"]) => issues.filter((i) => i.check === check);

describe("validate-data on clean data", () => {
  const report = run(clean);

  it("passes with no errors or warnings and a high score", () => {
    expect(report.issues.filter((i) => i.severity !== "info")).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.score).toBeGreaterThan(0.9);
    expect(report.duplicates.count).toBe(0);
  });

  it("treats the record id (not a feature, all distinct) as an identifier and nothing else", () => {
    expect(report.duplicates.excluded_columns).toEqual(["record_id"]);
    expect(report.columns.filter((c) => c.identifier).map((c) => c.name)).toEqual(["record_id"]);
  });

  it("produces a report that validates against its schema, through JSON", () => {
    expect(DataValidationReportSchema.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(report.version).toBe(1);
    expect(report.data.rows).toBe(1000);
    expect(report.label!.classes.map((c) => c.name)).toEqual(["cool", "neutral", "warm"]);
  });
});

describe("each quality check fires on data made to trigger it", () => {
  it("missing share above the threshold, with an imputation recommendation", () => {
    const rows = clean.map((r, i) => ({ ...r, rh: i % 3 === 0 ? null : r.rh }));
    const report = run(rows, { validation: { min_rows: 50, missing: { max_share: 0.2 } } });
    const [issue] = errors(report.issues, "missing");
    expect(issue).toMatchObject({ column: "rh", threshold: 0.2, recommendation: "impute rh with median" });
    expect(issue!.value).toBeCloseTo(334 / 1000, 6);
    expect(report.passed).toBe(false);
    // a per-column threshold overrides the global one
    const relaxed = run(rows, { validation: { min_rows: 50, missing: { max_share: 0.2, per_column: { rh: 0.5 } } } });
    expect(errors(relaxed.issues, "missing")).toEqual([]);
  });

  it("missing values in a column nothing uses are a warning, not an error", () => {
    const base = testConfig();
    const config = testConfig({ dataset: { ...base.dataset, columns: { ...base.dataset.columns, note: { type: "category" } } } });
    const table = tableFromRecords({ ...SPEC, note: "category" }, clean.map((r, i) => ({ ...r, note: i % 2 ? (i % 4 === 1 ? "x" : "y") : null })));
    const report = checkDataset(readOf(table), config).report;
    expect(of(report.issues, "missing").map((i) => [i.column, i.severity])).toEqual([["note", "warning"]]);
    expect(report.passed).toBe(true);
  });

  it("all-missing column", () => {
    const report = run(clean.map((r) => ({ ...r, rh: null })));
    expect(errors(report.issues, "all_missing").map((i) => i.column)).toEqual(["rh"]);
  });

  it("duplicate rows (an id that differs does not hide a duplicate)", () => {
    const copies = clean.slice(0, 100).map((r, i) => ({ ...r, record_id: 5000 + i }));
    const report = run([...clean, ...copies]);
    expect(report.duplicates.count).toBe(100);
    const [issue] = errors(report.issues, "duplicates");
    expect(issue!.value).toBeCloseTo(100 / 1100, 9);
    expect(issue!.recommendation).toMatch(/drop duplicate rows/);
    // under the threshold it is a warning, not an error
    const few = run([...clean, ...copies.slice(0, 5)]);
    expect(of(few.issues, "duplicates").map((i) => i.severity)).toEqual(["warning"]);
  });

  it("counts duplicates like pandas' duplicated(): each repeat once, missing equals missing, -0 equals 0", () => {
    const t = tableFromRecords({ a: "number", b: "category" }, [
      { a: 1, b: "x" },
      { a: 1, b: "x" },
      { a: 1, b: "x" },
      { a: null, b: "y" },
      { a: null, b: "y" },
      { a: 0, b: null },
      { a: -0, b: null },
      { a: 2, b: "x" },
    ]);
    expect(countDuplicateRows(t, [...t.columns.values()])).toBe(4);
  });

  it("outliers: the configured method gates, both counts are reported", () => {
    const rows = clean.map((r, i) => ({ ...r, ta: i % 10 === 0 ? 44.5 : r.ta }));
    const iqr = run(rows);
    const [issue] = errors(iqr.issues, "outliers");
    expect(issue!.column).toBe("ta");
    const ta = iqr.columns.find((c) => c.name === "ta")!;
    expect(ta.outliers_iqr).toBe(100);
    expect(ta.outliers_z).toBeGreaterThanOrEqual(0);
    // z-score: 10% at +44.5 inflates the std so much that |z| stays under 4: no gate failure
    const z = run(rows, { validation: { min_rows: 50, outliers: { method: "zscore", z_threshold: 4 } } });
    expect(errors(z.issues, "outliers")).toEqual([]);
    // a few extreme values are caught by z-score too
    const extreme = clean.map((r, i) => ({ ...r, rh: i < 10 ? 99.9 : r.rh }));
    const z2 = run(extreme, { validation: { min_rows: 50, outliers: { method: "zscore", z_threshold: 4, max_share: 0.005 } } });
    expect(errors(z2.issues, "outliers").map((i) => i.column)).toEqual(["rh"]);
  });

  it("label imbalance names the class to collect more data for", () => {
    const rows = clean.map((r) => ({ ...r, thermal_sensation: (r.thermal_sensation as number) > 0 ? 0 : r.thermal_sensation }));
    rows[0]!.thermal_sensation = 2; // one warm vote
    const report = run(rows);
    const [issue] = errors(report.issues, "imbalance");
    expect(issue!.message).toMatch(/"warm"/);
    expect(issue!.recommendation).toMatch(/collect more data for class warm/);
    expect(report.score_components.balance!.value).toBeLessThan(0.01);
  });

  it("constant columns follow validation.constant_columns", () => {
    const rows = clean.map((r) => ({ ...r, season: "winter" }));
    expect(errors(run(rows).issues, "constant").map((i) => i.column)).toEqual(["season"]);
    expect(of(run(rows, { validation: { min_rows: 50, constant_columns: "warning" } }).issues, "constant").map((i) => i.severity)).toEqual(["warning"]);
    expect(of(run(rows, { validation: { min_rows: 50, constant_columns: "ignore" } }).issues, "constant")).toEqual([]);
  });

  it("too few rows", () => {
    expect(errors(run(clean.slice(0, 20)).issues, "rows")).toHaveLength(1);
  });

  it("a score below min_score fails on its own", () => {
    const report = run(clean, { validation: { min_rows: 50, min_score: 0.999 } });
    expect(errors(report.issues, "score")).toHaveLength(1);
    expect(report.passed).toBe(false);
  });
});

describe("schema findings from the reader", () => {
  const violations = [
    { row: 3, line: 5, column: "ta", value: "abc", reason: "not a number" },
    { row: 7, line: 9, column: "ta", value: "99", reason: "above the range [5, 45]" },
  ];

  it("lists violations with row and column, counts the rest, and gates on the share", () => {
    const report = run(clean, {}, { violations, violationCount: 40, violationsByColumn: { ta: 40 } });
    expect(report.schema.violations).toEqual(violations);
    expect(report.schema.violation_count).toBe(40);
    expect(report.schema.violation_share).toBeCloseTo(0.04, 12);
    expect(errors(report.issues, "schema_violations")).toHaveLength(1);
    const few = run(clean, {}, { violations: violations.slice(0, 1), violationCount: 1, violationsByColumn: { ta: 1 } });
    expect(of(few.issues, "schema_violations").map((i) => i.severity)).toEqual(["warning"]);
    expect(few.passed).toBe(true);
  });

  it("a missing feature column is an error, a missing optional column a warning", () => {
    const rows = clean.map((r) => ({ ...r, rh: null }));
    const report = run(rows, {}, { missingColumns: ["rh"] });
    expect(errors(report.issues, "missing_column").map((i) => i.column)).toEqual(["rh"]);
    // the absent column is not reported a second time as all-missing
    expect(of(report.issues, "all_missing")).toEqual([]);
    const optional = testConfig({ dataset: { ...testConfig().dataset, features: ["ta", "season"] } });
    const r2 = checkDataset(readOf(tableOf(rows), { missingColumns: ["rh"] }), optional).report;
    expect(of(r2.issues, "missing_column").map((i) => i.severity)).toEqual(["warning"]);
  });
});

describe("unknown label values", () => {
  it("a label that bins to no class is an error", () => {
    const base = testConfig();
    const config = testConfig({
      dataset: {
        ...base.dataset,
        columns: { ...base.dataset.columns, thermal_sensation: { type: "category", categories: ["cool", "neutral", "warm", "hot"] } },
        label: { column: "thermal_sensation", binning: { kind: "categorical", classes: ["cool", "neutral", "warm"] } },
      },
    });
    const names = ["cool", "neutral", "warm"];
    const rows = clean.map((r, i) => ({ ...r, thermal_sensation: i === 5 ? "hot" : names[i % 3]! }));
    const table = tableFromRecords({ ...SPEC, thermal_sensation: "category" }, rows);
    const report = checkDataset(readOf(table), config).report;
    expect(errors(report.issues, "unknown_label")).toHaveLength(1);
    expect(report.label!.unknown).toBe(1);
  });
});

describe("drift inside the report", () => {
  // With per-group summaries: these fixture rows are independent of their building, and the
  // group bootstrap measures exactly that, so the calibrated thresholds stay near the floor.
  const reference = profileWithGroups(tableOf(generateRows({ rows: 3000, seed: 9 })), ["ta", "rh", "season"], { bins: 10, group: "building_id", maxGroups: 300 });

  it("same distribution passes; a drifted batch fails with drift errors", () => {
    const ok = checkDataset(readOf(tableOf(clean)), testConfig(), { reference, referenceSource: "ref.json" }).report;
    expect(ok.drift.skipped).toBeNull();
    expect(ok.drift.compared).toBe(3);
    expect(ok.passed).toBe(true);
    const hot = generateRows({ rows: 1000, seed: 4, taMean: 27, seasonWeights: [0.05, 0.1, 0.7, 0.15] });
    const bad = checkDataset(readOf(tableOf(hot)), testConfig(), { reference, referenceSource: "ref.json" }).report;
    expect(bad.drift.passed).toBe(false);
    expect(errors(bad.issues, "drift").length).toBeGreaterThanOrEqual(2);
    expect(bad.passed).toBe(false);
  });

  it("without a reference, drift is skipped with an info note", () => {
    const report = checkDataset(readOf(tableOf(clean)), testConfig(), { referenceNote: "no production model" }).report;
    expect(report.drift.skipped).toBe("no production model");
    expect(of(report.issues, "drift").map((i) => i.severity)).toEqual(["info"]);
  });

  it("returns this data's profile on request, usable as a reference", () => {
    const { profile } = checkDataset(readOf(tableOf(clean)), testConfig(), { profile: true });
    expect(Object.keys(profile!.columns)).toEqual(["ta", "rh", "season"]);
    expect(profile!.label).toBeDefined();
    const again = checkDataset(readOf(tableOf(clean)), testConfig(), { reference: profile!, referenceSource: "self" }).report;
    expect(again.drift.columns.every((c) => !c.drifted && (c.psi ?? 1) < 1e-9)).toBe(true);
  });
});

describe("markdown", () => {
  it("renders tables, the issues, and Mermaid bars for missing share and PSI", () => {
    const rows = clean.map((r, i) => ({ ...r, rh: i % 4 === 0 ? null : r.rh }));
    const reference = profileTable(tableOf(generateRows({ rows: 2000, seed: 3 })), ["ta", "rh", "season"], { bins: 10 });
    const report = checkDataset(readOf(tableOf(rows)), testConfig({ validation: { min_rows: 50, missing: { max_share: 0.2 } } }), { reference, referenceSource: "ref.json" }).report;
    const md = renderDataReportMarkdown(report);
    expect(md).toMatch(/^## Data validation: ❌ failed/);
    expect(md).toMatch(/\| ❌ \| missing \| rh \|/);
    expect(md).toMatch(/xychart-beta[\s\S]*x-axis \["rh"\]/);
    expect(md).toMatch(/PSI per feature/);
    expect(md).toMatch(/p-value alone would call even a trivial shift significant/);
  });
});
