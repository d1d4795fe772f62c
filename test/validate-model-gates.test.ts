import { describe, expect, it } from "vitest";
import { PromotionSchema } from "../pipeline/config/schema.js";
import { tableFromRecords } from "../pipeline/data/table.js";
import { parseModel } from "../pipeline/model/load.js";
import { predict } from "../pipeline/model/predict.js";
import { classificationMetrics } from "../pipeline/train/metrics.js";
import { absoluteGates, allPassed, championGates, classRecallGates, sliceGates, sliceRows } from "../pipeline/validate-model/gates.js";
import { renderModelValidationMarkdown } from "../pipeline/validate-model/markdown.js";
import { ModelValidationReportSchema, type ModelValidationReport } from "../pipeline/validate-model/report.js";
import { MONOTONIC_MAX_ROWS, monotonicCheck, monotonicVerdict, runSanityCases, sanityCaseGates, spearman, sweepValues, type RecordPredictor } from "../pipeline/validate-model/sanity.js";
import { fixtureModel, GOOD_TREE, INVERTED_TREE, seasonTree } from "./helpers/validate-model-fixtures.js";

const gates = PromotionSchema.parse({}).gates;

/** Metrics from a hand-made confusion: 3 classes, probabilities one-hot on the prediction. */
function metricsOf(yTrue: number[], yPred: number[]) {
  const proba = new Float64Array(yPred.length * 3);
  yPred.forEach((p, i) => (proba[i * 3 + p] = 1));
  return classificationMetrics(Int32Array.from(yTrue), proba, ["cool", "neutral", "warm"]);
}

// 10 rows; the challenger gets 8 right (recall cool 1/3), the champion 9.
const TRUTH = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2];
const challenger = metricsOf(TRUTH, [0, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
const champion = metricsOf(TRUTH, [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);

describe("absolute and class-recall gates", () => {
  it("checks bounds on the challenger and names the failing gate", () => {
    expect(challenger.accuracy).toBeCloseTo(0.8, 12);
    const result = absoluteGates(
      [
        { metric: "accuracy", threshold: 0.75, greater_is_better: true },
        { metric: "macro_f1", threshold: 0.9, greater_is_better: true },
        { metric: "log_loss", threshold: 50, greater_is_better: false },
      ],
      challenger,
      null,
    );
    expect(result.map((g) => [g.name, g.passed])).toEqual([
      ["absolute:accuracy", true],
      ["absolute:macro_f1", false],
      ["absolute:log_loss", true],
    ]);
    expect(result[1]!.threshold).toBe(0.9);
    expect(allPassed(result)).toBe(false);
  });

  it("fails the class whose recall is below the minimum", () => {
    const result = classRecallGates(0.5, challenger);
    expect(result.filter((g) => !g.passed).map((g) => g.name)).toEqual(["class_recall:cool"]);
    expect(result[0]!.value).toBeCloseTo(1 / 3, 12);
    expect(classRecallGates(undefined, challenger)).toEqual([]);
  });
});

describe("champion gates", () => {
  const tolerateOnePoint = [{ metric: "accuracy", min_absolute_change: -0.05, greater_is_better: true }];

  it("fails a challenger worse than the champion beyond the tolerance", () => {
    // 0.8 vs 0.9: a loss of 0.1 > 0.05
    const [gate] = championGates(tolerateOnePoint, challenger, champion);
    expect(gate!.passed).toBe(false);
    expect(gate!.skipped).toBeUndefined();
    expect(gate!.baseline).toBeCloseTo(0.9, 12);
    expect(gate!.threshold).toBeCloseTo(0.85, 12);
    expect(gate!.message).toMatch(/not >= baseline 0\.9/);
  });

  it("passes a challenger within the tolerance", () => {
    const [gate] = championGates([{ metric: "accuracy", min_absolute_change: -0.15, greater_is_better: true }], challenger, champion);
    expect(gate!.passed).toBe(true);
  });

  it("skips (does not fail) without a production model", () => {
    const result = championGates(tolerateOnePoint, challenger, null, "no production model");
    expect(result[0]).toMatchObject({ name: "champion:accuracy", passed: true, skipped: true, message: "skipped: no production model" });
    expect(allPassed(result)).toBe(true);
  });
});

describe("slice gates", () => {
  const cfg = { ...gates.slices, columns: ["season", "building_type"], metric: "macro_f1", max_drop: 0.05, min_rows: 30 };
  const measured = [
    { column: "season", value: "summer", rows: 120, challenger: 0.7, champion: 0.72 },
    { column: "season", value: "winter", rows: 80, challenger: 0.55, champion: 0.65 },
    { column: "building_type", value: "office", rows: 150, challenger: 0.75, champion: 0.8 },
    { column: "building_type", value: "senior center", rows: 12, challenger: 0.2, champion: 0.9 },
  ];

  it("fails a slice that drops more than max_drop and names it; small slices are only reported", () => {
    const rows = sliceRows(measured, cfg);
    expect(rows.map((r) => [r.value, r.gated, r.passed])).toEqual([
      ["summer", true, true],
      ["winter", true, false],
      // 0.80 - 0.75 is 0.05000000000000004 in floating point; exactly max_drop passes
      ["office", true, true],
      ["senior center", false, null],
    ]);
    expect(rows[1]!.drop).toBeCloseTo(0.1, 12);
    const result = sliceGates(rows, cfg, true);
    expect(result.filter((g) => !g.passed).map((g) => g.name)).toEqual(["slice:season=winter"]);
    expect(result.map((g) => g.name)).not.toContain("slice:building_type=senior center");
    expect(result.at(-1)!.message).toMatch(/1 slice\(s\) under 30 rows reported only/);
  });

  it("measures the drop the other way for a lower-is-better metric", () => {
    const rows = sliceRows([{ column: "season", value: "summer", rows: 100, challenger: 0.9, champion: 0.8 }], { ...cfg, metric: "log_loss" });
    expect(rows[0]!.drop).toBeCloseTo(0.1, 12);
    expect(rows[0]!.passed).toBe(false);
  });

  it("only reports slices without a champion", () => {
    const rows = sliceRows(measured.map((m) => ({ ...m, champion: null })), cfg);
    expect(rows.every((r) => !r.gated && r.passed === null)).toBe(true);
    const result = sliceGates(rows, cfg, false, "no production model");
    expect(result).toHaveLength(1);
    expect(result[0]).toMatchObject({ passed: true, skipped: true });
    expect(result[0]!.message).toMatch(/no production model.*4 slices reported/);
  });
});

describe("sanity cases", () => {
  const model = fixtureModel();
  const predictor: RecordPredictor = (records) => predict(model, records);

  it("passes cases the model gets right and fails a violation by name", () => {
    const cases = [
      { name: "hot is never cool", input: { ta: 35, season: "summer" }, expect_not: ["cool"] },
      { name: "cold is cool", input: { ta: 12, season: "winter" }, expect: "cool" },
      { name: "a warm room is neutral (wrong on purpose)", input: { ta: 33, season: "summer" }, expect: "neutral" },
    ];
    const results = runSanityCases(cases, predictor);
    expect(results.map((r) => [r.predicted, r.passed])).toEqual([
      ["warm", true],
      ["cool", true],
      ["warm", false],
    ]);
    const failed = sanityCaseGates(results).filter((g) => !g.passed);
    expect(failed.map((g) => g.name)).toEqual(["sanity:a warm room is neutral (wrong on purpose)"]);
    expect(failed[0]!.message).toBe('predicted "warm" (expected "neutral")');
  });

  it("flags an inverted model on the config's case", () => {
    const inverted = fixtureModel({ trees: [INVERTED_TREE] });
    const [result] = runSanityCases([{ name: "hot is never cool", input: { ta: 35, season: "summer" }, expect_not: ["cool"] }], (r) => predict(inverted, r));
    expect(result!.passed).toBe(false);
  });
});

describe("monotonic response", () => {
  const spec = { feature: "ta", direction: "increasing" as const, steps: 12 };
  /** Held-out-like rows: ta spread over the range, a season mix with `summerShare` summer rows. */
  function rows(summerShare: number, n = 200) {
    const records = Array.from({ length: n }, (_, i) => ({ ta: 10 + (30 * i) / n, season: (i * 7919) % n < summerShare * n ? "summer" : "winter" }));
    const table = tableFromRecords({ ta: "number", season: "category" }, records);
    return { table, all: Int32Array.from({ length: n }, (_, i) => i) };
  }

  it("accepts the correct model and detects a deliberately inverted one", () => {
    const { table, all } = rows(0.5);
    const good = monotonicCheck(fixtureModel(), spec, table, all);
    expect(good.passed).toBe(true);
    expect(good.rows).toBe(200);
    // The profile's 1st..99th percentile of ta (quantiles 10..40 linear).
    expect(good.values[0]).toBeCloseTo(10.3, 10);
    expect(good.values.at(-1)).toBeCloseTo(39.7, 10);
    expect(good.scores[0]).toBe(0);
    expect(good.scores.at(-1)).toBe(2);
    const invertedModel = fixtureModel({ trees: [INVERTED_TREE] });
    const bad = monotonicCheck(invertedModel, spec, table, all);
    expect(bad.passed).toBe(false);
    expect(bad.net_change).toBe(-2);
    expect(bad.message).toMatch(/against the expected \(increasing\) direction overall/);
    // Declared decreasing, the inverted model is the monotonic one.
    expect(monotonicCheck(invertedModel, { ...spec, direction: "decreasing" }, table, all).passed).toBe(true);
  });

  it("averages over the rows: the other features stay as observed", () => {
    // Winter inverted, summer correct: with as many winter rows as summer rows the average is flat.
    const model = fixtureModel({ trees: [seasonTree(INVERTED_TREE, GOOD_TREE)] });
    expect(parseModel(JSON.stringify(model), "fixture").model.trees[0]!.feature[0]).toBe(1);
    const even = rows(0.5);
    const flat = monotonicCheck(model, spec, even.table, even.all);
    expect(flat.scores.every((s) => Math.abs(s - 1) < 1e-12)).toBe(true);
    expect(flat.passed).toBe(false);
    expect(flat.message).toMatch(/does not change/);
    // Three summer rows in four: 0.75·0 + 0.25·2 = 0.5 when cold, 0.75·2 + 0.25·0 = 1.5 when hot.
    const summery = rows(0.75);
    const rising = monotonicCheck(model, spec, summery.table, summery.all);
    expect(rising.scores[0]).toBeCloseTo(0.5, 12);
    expect(rising.scores.at(-1)).toBeCloseTo(1.5, 12);
    expect(rising.passed).toBe(true);
  });

  it("samples at most MONOTONIC_MAX_ROWS rows", () => {
    const { table, all } = rows(0.5, MONOTONIC_MAX_ROWS + 300);
    expect(monotonicCheck(fixtureModel(), spec, table, all).rows).toBe(MONOTONIC_MAX_ROWS);
  });

  it("defines 'on average': flat stretches pass, small wiggles pass, zig-zags and flat lines fail", () => {
    const x = Array.from({ length: 12 }, (_, i) => i);
    // Non-decreasing but flat for 11 of 12 steps (Spearman 0.48): passes.
    const step = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const stepResult = monotonicVerdict("ta", "increasing", x, step);
    expect(stepResult.passed).toBe(true);
    expect(stepResult.spearman).toBeCloseTo(Math.sqrt(33 / 143), 10);
    // One wiggle of 0.1 against 1.1 of rise: against/along = 0.09 <= 0.2.
    expect(monotonicVerdict("ta", "increasing", x, [0, 0.2, 0.1, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1]).passed).toBe(true);
    // Zig-zag that ends higher: against 0.9, along 1.9 → 0.47 > 0.2.
    const zig = monotonicVerdict("ta", "increasing", x, [0, 0.5, 0.2, 0.7, 0.4, 0.9, 0.6, 1, 0.9, 1, 1, 1]);
    expect(zig.passed).toBe(false);
    expect(zig.message).toMatch(/more than 20%/);
    // A model that ignores the feature is not monotonic.
    expect(monotonicVerdict("ta", "increasing", x, new Array(12).fill(1)).passed).toBe(false);
  });

  it("computes Spearman's rho with ties", () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBe(-1);
    expect(spearman([1, 2, 3], [5, 5, 5])).toBeNull();
    // ranks y = [1.5, 1.5, 3, 4]: rho = 0.9486832980505138 (scipy.stats.spearmanr)
    expect(spearman([1, 2, 3, 4], [1, 1, 2, 3])).toBeCloseTo(0.9486832980505138, 12);
  });

  it("sweeps where the training data lies, inside the model's range", () => {
    expect(sweepValues(fixtureModel({ taRange: [0, 55] }), "ta", 3).map((v) => Number(v.toFixed(10)))).toEqual([10.3, 25, 39.7]);
    expect(sweepValues(fixtureModel({ taRange: [15, 30] }), "ta", 4)).toEqual([15, 20, 25, 30]);
  });
});

describe("the Markdown summary", () => {
  it("has a gate table with marks, deltas against the champion and a Mermaid chart", () => {
    const report: ModelValidationReport = {
      version: 1,
      created_at: "2026-01-01T00:00:00.000Z",
      passed: false,
      gates: [
        ...absoluteGates([{ metric: "accuracy", threshold: 0.75, greater_is_better: true }], challenger, champion),
        ...championGates([{ metric: "accuracy", min_absolute_change: -0.05, greater_is_better: true }], challenger, champion),
      ],
      challenger: { path: "out/model.json", sha256: "a".repeat(64), bytes: 100, name: "thermal-comfort", candidate: "tree", algorithm: "decision_tree", data_sha256: "0".repeat(64) },
      champion: { path: "models/thermal-comfort/v1/model.json", sha256: "b".repeat(64), bytes: 90, name: "thermal-comfort", candidate: "tree", algorithm: "decision_tree", data_sha256: "0".repeat(64), source: "production", registry_version: 1 },
      champion_note: null,
      data: { path: "data/x.csv", sha256: "0".repeat(64), rows: 100, test_rows: 10, split: { method: "random", test_share: 0.1, seed: 1 }, matches_challenger_lineage: true, matches_champion_lineage: true },
      metrics: { challenger, champion },
      slices: sliceRows([{ column: "season", value: "winter", rows: 80, challenger: 0.55, champion: 0.65 }], { ...gates.slices, columns: ["season"] }),
      sanity: { cases: [], monotonic: [{ ...monotonicVerdict("ta", "increasing", [10, 20, 30], [0, 1, 2]), rows: 10 }] },
      latency: null,
      artifact: { bytes: 100, budget_bytes: 1000 },
      warnings: ["a warning | with a pipe"],
    };
    expect(ModelValidationReportSchema.parse(report)).toEqual(report);
    const md = renderModelValidationMarkdown(report);
    expect(md).toMatch(/^## Model validation: ❌ failed \(1 gate\)/);
    expect(md).toContain("- **Champion:** v1 (production) `models/thermal-comfort/v1/model.json` — candidate `tree`");
    // A plain threshold does not compare with the champion, so no baseline in its row.
    expect(md).toContain("| ✅ | absolute:accuracy | 0.8 | — | 0.75 |");
    expect(md).toContain("| ❌ | champion:accuracy | 0.8 | 0.9 | 0.85 |");
    expect(md).toContain("| ❌ | champion:accuracy |");
    expect(md).toContain("| accuracy | 0.9 | 0.8 | -0.1 ▼ |");
    expect(md).toContain("xychart-beta");
    expect(md).toMatch(/bar \[0\.8, [0-9.]+, [0-9.]+\]\n {2}line \[0\.9, /);
    expect(md).toContain("| ❌ | season=winter | 80 | 0.65 | 0.55 | 0.1 |");
    expect(md).toContain("line [0, 1, 2]");
    expect(md).toContain("- a warning \\| with a pipe");
  });
});
