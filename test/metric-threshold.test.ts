import { describe, expect, it } from "vitest";
import type { MetricThreshold } from "../pipeline/config/schema.js";
import { ConfigError } from "../pipeline/core/errors.js";
import { checkThresholdConfig, evaluateMetricThreshold, metricValue } from "../pipeline/validate-model/thresholds.js";

/**
 * MLflow MetricThreshold semantics (mlflow/models/evaluation/validation.py, `_validate`), with
 * every expected verdict worked out by hand in the row's comment.
 */
const t = (metric: string, fields: Partial<MetricThreshold>): MetricThreshold => ({ metric, greater_is_better: true, ...fields });

type Row = [label: string, spec: MetricThreshold, candidate: number, baseline: number | null, passed: boolean, skipped?: boolean];

const rows: Row[] = [
  // threshold, greater is better: candidate >= threshold
  ["threshold met", t("macro_f1", { threshold: 0.45 }), 0.5, null, true],
  ["threshold met at equality", t("macro_f1", { threshold: 0.45 }), 0.45, null, true],
  ["threshold missed", t("macro_f1", { threshold: 0.45 }), 0.44, null, false],
  // threshold, lower is better: candidate <= threshold
  ["lower-better threshold met", t("log_loss", { threshold: 1.0, greater_is_better: false }), 0.9, null, true],
  ["lower-better threshold missed", t("log_loss", { threshold: 1.0, greater_is_better: false }), 1.1, null, false],
  // min_absolute_change, greater is better: candidate >= baseline + change; 0.50 + 0.05 = 0.55
  ["absolute gain met", t("macro_f1", { min_absolute_change: 0.05 }), 0.56, 0.5, true],
  ["absolute gain missed", t("macro_f1", { min_absolute_change: 0.05 }), 0.54, 0.5, false],
  // negative change tolerates a loss: 0.50 - 0.01 = 0.49
  ["tolerated loss within margin", t("macro_f1", { min_absolute_change: -0.01 }), 0.495, 0.5, true],
  ["tolerated loss beyond margin", t("macro_f1", { min_absolute_change: -0.01 }), 0.48, 0.5, false],
  // min_absolute_change, lower is better: candidate <= baseline - change; 1.0 - 0.1 = 0.9
  ["lower-better absolute met", t("log_loss", { min_absolute_change: 0.1, greater_is_better: false }), 0.85, 1.0, true],
  ["lower-better absolute missed", t("log_loss", { min_absolute_change: 0.1, greater_is_better: false }), 0.95, 1.0, false],
  // min_relative_change, greater is better: (candidate - baseline) / baseline >= change
  ["relative gain met: (0.56-0.5)/0.5 = 0.12 >= 0.1", t("accuracy", { min_relative_change: 0.1 }), 0.56, 0.5, true],
  ["relative gain missed: (0.54-0.5)/0.5 = 0.08 < 0.1", t("accuracy", { min_relative_change: 0.1 }), 0.54, 0.5, false],
  // min_relative_change, lower is better: (baseline - candidate) / baseline >= change
  ["lower-better relative met: (2-1.4)/2 = 0.3 >= 0.25", t("log_loss", { min_relative_change: 0.25, greater_is_better: false }), 1.4, 2.0, true],
  ["lower-better relative missed: (2-1.6)/2 = 0.2 < 0.25", t("log_loss", { min_relative_change: 0.25, greater_is_better: false }), 1.6, 2.0, false],
  // negative relative change tolerates a relative loss: (0.48-0.5)/0.5 = -0.04 >= -0.05
  ["relative loss tolerated", t("macro_f1", { min_relative_change: -0.05 }), 0.48, 0.5, true],
  ["relative loss not tolerated: -0.08 < -0.05", t("macro_f1", { min_relative_change: -0.05 }), 0.46, 0.5, false],
  // baseline 0: MLflow falls back to "strictly better by 1e-10"
  ["baseline 0, equal candidate fails", t("recall:warm", { min_relative_change: 0.1 }), 0, 0, false],
  ["baseline 0, better candidate passes", t("recall:warm", { min_relative_change: 0.1 }), 0.001, 0, true],
  ["baseline 0, lower-better equal fails", t("ece", { min_relative_change: 0.1, greater_is_better: false }), 0, 0, false],
  ["baseline 0, lower-better improvement passes", t("ece", { min_relative_change: 0.1, greater_is_better: false }), -0.001, 0, true],
  ["baseline 0 with a tolerance: not worse passes", t("recall:warm", { min_relative_change: -0.1 }), 0, 0, true],
  // |baseline| in the denominator: (-1.7 - -2) / 2 = 0.15 >= 0.1 (MLflow's /baseline would give -0.15)
  ["negative baseline divides by |baseline|", t("macro_f1", { min_relative_change: 0.1 }), -1.7, -2, true],
  ["negative baseline, too small a gain: 0.05 < 0.1", t("macro_f1", { min_relative_change: 0.1 }), -1.9, -2, false],
  // all checks must pass: threshold ok, absolute ok (0.52 >= 0.51), relative (0.04 < 0.05) fails
  ["every check must pass", t("macro_f1", { threshold: 0.4, min_absolute_change: 0.01, min_relative_change: 0.05 }), 0.52, 0.5, false],
  ["every check passes", t("macro_f1", { threshold: 0.4, min_absolute_change: 0.01, min_relative_change: 0.03 }), 0.52, 0.5, true],
  // no baseline model: change checks are skipped; a threshold still runs
  ["no baseline: change-only gate skipped", t("macro_f1", { min_absolute_change: -0.01 }), 0.3, null, true, true],
  ["no baseline: threshold still fails", t("macro_f1", { threshold: 0.45, min_absolute_change: -0.01 }), 0.3, null, false],
  ["no baseline: threshold still passes", t("macro_f1", { threshold: 0.25, min_relative_change: 0.1 }), 0.3, null, true],
];

describe("evaluateMetricThreshold (MLflow MetricThreshold semantics)", () => {
  it.each(rows)("%s", (_label, spec, candidate, baseline, passed, skipped = false) => {
    const outcome = evaluateMetricThreshold(spec, candidate, baseline);
    expect(outcome.skipped).toBe(skipped);
    if (!skipped) expect(outcome.passed).toBe(passed);
    else expect(outcome.passed).toBe(false);
  });

  it("reports the bound the candidate had to reach", () => {
    const abs = evaluateMetricThreshold(t("macro_f1", { min_absolute_change: -0.01 }), 0.48, 0.5);
    expect(abs.checks[0]!.bound).toBeCloseTo(0.49, 12);
    expect(abs.message).toMatch(/not >= baseline 0\.5 \+ -0\.01/);
    const rel = evaluateMetricThreshold(t("log_loss", { min_relative_change: 0.25, greater_is_better: false }), 1.6, 2);
    expect(rel.checks[0]!.bound).toBeCloseTo(1.5, 12);
  });

  it("fails when the candidate lacks the metric, or the baseline model does", () => {
    expect(evaluateMetricThreshold(t("recall:hot", { threshold: 0.1 }), undefined, null).passed).toBe(false);
    const noBaselineValue = evaluateMetricThreshold(t("macro_f1", { min_absolute_change: 0 }), 0.5, undefined);
    expect(noBaselineValue.passed).toBe(false);
    expect(noBaselineValue.skipped).toBe(false);
    expect(noBaselineValue.message).toMatch(/missing from the baseline/);
  });
});

describe("metric names", () => {
  const metrics = {
    accuracy: 0.6,
    balanced_accuracy: 0.55,
    macro_f1: 0.5,
    log_loss: 0.9,
    ece: 0.05,
    per_class: {
      cool: { precision: 0.5, recall: 0.4, f1: 0.44, support: 10 },
      warm: { precision: 0.7, recall: 0.8, f1: 0.75, support: 12 },
    },
  };

  it("resolves scalar and per-class names", () => {
    expect(metricValue(metrics, "macro_f1")).toBe(0.5);
    expect(metricValue(metrics, "log_loss")).toBe(0.9);
    expect(metricValue(metrics, "recall:cool")).toBe(0.4);
    expect(metricValue(metrics, "f1:warm")).toBe(0.75);
    expect(metricValue(metrics, "precision:warm")).toBe(0.7);
    expect(metricValue(metrics, "recall:hot")).toBeUndefined();
    expect(metricValue(metrics, "auc")).toBeUndefined();
  });

  it("refuses unknown metrics, empty thresholds and lower-is-better metrics gated upward", () => {
    const classes = ["cool", "neutral", "warm"];
    expect(() => checkThresholdConfig([t("auc", { threshold: 0.5 })], "promotion.gates.absolute", classes)).toThrowError(/promotion\.gates\.absolute\[0\] \(auc\): unknown metric/);
    expect(() => checkThresholdConfig([t("recall:hot", { threshold: 0.5 })], "promotion.gates.absolute", classes)).toThrowError(ConfigError);
    expect(() => checkThresholdConfig([t("macro_f1", {})], "promotion.gates.champion", classes)).toThrowError(/no threshold, min_absolute_change or min_relative_change/);
    expect(() => checkThresholdConfig([t("log_loss", { threshold: 1 })], "promotion.gates.absolute", classes)).toThrowError(/lower-is-better; set greater_is_better: false/);
    expect(() => checkThresholdConfig([t("log_loss", { threshold: 1, greater_is_better: false }), t("recall:warm", { threshold: 0.2 })], "x", classes)).not.toThrow();
  });
});
