import type { MetricThreshold } from "../config/schema.js";
import { ConfigError } from "../core/errors.js";

/**
 * MetricThreshold evaluation, mirroring MLflow's `mlflow.models.MetricThreshold` and its
 * `_validate` (mlflow/models/evaluation/validation.py; docs:
 * https://mlflow.org/docs/latest/api_reference/_modules/mlflow/models/evaluation/validation.html):
 *
 * - threshold: candidate >= threshold when greater is better, candidate <= threshold otherwise.
 * - min_absolute_change: candidate >= baseline + min_absolute_change when greater is better,
 *   candidate <= baseline - min_absolute_change otherwise (compared in that form, as MLflow does).
 * - min_relative_change: relative_change = (candidate - baseline) / baseline when greater is better,
 *   (baseline - candidate) / baseline otherwise; fails when relative_change < min_relative_change.
 *   A baseline of 0 falls back to "strictly better": candidate >= baseline + 1e-10
 *   (candidate <= baseline - 1e-10 when lower is better).
 * - A check that needs a baseline fails when the baseline lacks the metric; a missing candidate
 *   metric fails the whole threshold.
 *
 * Deliberate differences (the first two give MLflow's verdict wherever MLflow accepts the settings):
 * - MLflow requires min_absolute_change > 0 and min_relative_change in [0, 1]. Here either may be
 *   negative to tolerate a small loss ("not worse than production by more than 0.01").
 *   With a negative min_relative_change and a baseline of 0 the fallback is "not worse"
 *   (candidate >= baseline), because a tolerance cannot demand a strict improvement.
 * - The relative change divides by |baseline| instead of baseline, so that a negative baseline
 *   does not flip the direction of the test (MLflow's metrics are all non-negative in practice,
 *   and for a positive baseline the two are the same number).
 * - With no baseline model at all (no production version), the change checks are skipped rather
 *   than failed; the pipeline's first model has nothing to be compared with.
 */

/** MLflow's epsilon for the baseline-0 fallback of min_relative_change. */
export const ZERO_BASELINE_EPSILON = 1e-10;

export type ThresholdCheckKind = "threshold" | "min_absolute_change" | "min_relative_change";

export interface ThresholdCheck {
  kind: ThresholdCheckKind;
  passed: boolean;
  /** The check could not run (no baseline model). */
  skipped: boolean;
  /** The value the candidate had to reach (>= bound when greater is better, <= otherwise). */
  bound?: number;
  message: string;
}

export interface ThresholdOutcome {
  metric: string;
  candidate: number | null;
  baseline: number | null;
  greaterIsBetter: boolean;
  /** Every check that ran passed (and at least one ran). */
  passed: boolean;
  /** No check could run. */
  skipped: boolean;
  checks: ThresholdCheck[];
  message: string;
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : Number(x.toPrecision(6)).toString());

/**
 * Evaluates one MetricThreshold. `baseline` is the baseline model's value of the metric:
 * `null` when there is no baseline model (change checks skipped), NaN/undefined when the
 * baseline model exists but lacks the metric (change checks fail, as in MLflow).
 */
export function evaluateMetricThreshold(spec: MetricThreshold, candidate: number | null | undefined, baseline: number | null | undefined): ThresholdOutcome {
  const gib = spec.greater_is_better;
  const better = gib ? ">=" : "<=";
  const cmp = (value: number, bound: number) => (gib ? value >= bound : value <= bound);
  const checks: ThresholdCheck[] = [];
  const cand = candidate === null || candidate === undefined || Number.isNaN(candidate) ? null : candidate;
  const noBaselineModel = baseline === null;
  const base = baseline === null || baseline === undefined || Number.isNaN(baseline) ? null : baseline;

  if (cand === null) {
    const message = `${spec.metric}: missing from the candidate's evaluation`;
    return { metric: spec.metric, candidate: null, baseline: base, greaterIsBetter: gib, passed: false, skipped: false, checks: [{ kind: "threshold", passed: false, skipped: false, message }], message };
  }

  if (spec.threshold !== undefined) {
    const passed = cmp(cand, spec.threshold);
    checks.push({ kind: "threshold", passed, skipped: false, bound: spec.threshold, message: `${spec.metric} = ${fmt(cand)} ${passed ? "" : "not "}${better} ${fmt(spec.threshold)}` });
  }

  const changeChecks: [ThresholdCheckKind, number | undefined][] = [
    ["min_absolute_change", spec.min_absolute_change],
    ["min_relative_change", spec.min_relative_change],
  ];
  for (const [kind, amount] of changeChecks) {
    if (amount === undefined) continue;
    if (noBaselineModel) {
      checks.push({ kind, passed: true, skipped: true, message: `${kind} skipped (no baseline model)` });
      continue;
    }
    if (base === null) {
      checks.push({ kind, passed: false, skipped: false, message: `${spec.metric}: missing from the baseline's evaluation, cannot check ${kind}` });
      continue;
    }
    if (kind === "min_absolute_change") {
      const bound = gib ? base + amount : base - amount;
      const passed = cmp(cand, bound);
      checks.push({
        kind,
        passed,
        skipped: false,
        bound,
        message: `${spec.metric} = ${fmt(cand)} ${passed ? "" : "not "}${better} baseline ${fmt(base)} ${gib ? "+" : "-"} ${fmt(amount)} = ${fmt(bound)}`,
      });
    } else if (base === 0) {
      const epsilon = amount >= 0 ? ZERO_BASELINE_EPSILON : 0;
      const bound = gib ? base + epsilon : base - epsilon;
      const passed = cmp(cand, bound);
      checks.push({
        kind,
        passed,
        skipped: false,
        bound,
        message: `${spec.metric} = ${fmt(cand)}: baseline is 0, so the relative change is undefined; required ${amount >= 0 ? "strictly better than" : "not worse than"} 0 — ${passed ? "met" : "not met"}`,
      });
    } else {
      const relative = (gib ? cand - base : base - cand) / Math.abs(base);
      const passed = relative >= amount;
      const bound = gib ? base + amount * Math.abs(base) : base - amount * Math.abs(base);
      checks.push({
        kind,
        passed,
        skipped: false,
        bound,
        message: `${spec.metric} relative change ${fmt(relative * 100)}% vs baseline ${fmt(base)} ${passed ? ">=" : "<"} required ${fmt(amount * 100)}%`,
      });
    }
  }

  const ran = checks.filter((c) => !c.skipped);
  const skipped = ran.length === 0;
  const passed = !skipped && ran.every((c) => c.passed);
  const failed = ran.filter((c) => !c.passed);
  const message = skipped
    ? `${spec.metric}: skipped (no baseline model)`
    : passed
      ? ran.map((c) => c.message).join("; ")
      : failed.map((c) => c.message).join("; ");
  return { metric: spec.metric, candidate: cand, baseline: base, greaterIsBetter: gib, passed, skipped, checks, message };
}

/** Metrics whose smaller values are better; a gate on them must say greater_is_better: false. */
export const LOWER_IS_BETTER = new Set(["log_loss", "ece"]);

export function isLowerBetter(metric: string): boolean {
  return LOWER_IS_BETTER.has(metric);
}

/** The subset of the evaluation a gate can name. */
export interface GateableMetrics {
  accuracy: number;
  balanced_accuracy: number;
  macro_f1: number;
  log_loss: number;
  ece: number;
  per_class: Record<string, { precision: number; recall: number; f1: number; support: number }>;
}

const SCALAR_METRICS = ["accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece"] as const;
const PER_CLASS_METRICS = ["precision", "recall", "f1"] as const;

/** The metric names a gate may use, e.g. for an error message. */
export function knownMetricNames(classes: string[]): string[] {
  return [...SCALAR_METRICS, ...PER_CLASS_METRICS.flatMap((m) => classes.map((c) => `${m}:${c}`))];
}

/**
 * Resolves a gate's metric name against an evaluation: `macro_f1`, `accuracy`,
 * `balanced_accuracy`, `log_loss`, `ece`, or `recall:<class>`, `precision:<class>`, `f1:<class>`.
 * Returns undefined for a name that is valid but absent (a class the evaluation lacks).
 */
export function metricValue(metrics: GateableMetrics, name: string): number | undefined {
  if ((SCALAR_METRICS as readonly string[]).includes(name)) return metrics[name as (typeof SCALAR_METRICS)[number]];
  const colon = name.indexOf(":");
  if (colon > 0) {
    const kind = name.slice(0, colon);
    const cls = name.slice(colon + 1);
    if ((PER_CLASS_METRICS as readonly string[]).includes(kind)) {
      const row = Object.hasOwn(metrics.per_class, cls) ? metrics.per_class[cls] : undefined;
      return row ? row[kind as (typeof PER_CLASS_METRICS)[number]] : undefined;
    }
  }
  return undefined;
}

/**
 * Checks the gate configuration before any work: unknown metric names, thresholds with no
 * check at all (MLflow refuses those too), and lower-is-better metrics gated as if higher were
 * better (the schema defaults greater_is_better to true, which would make `log_loss >= 0.9`).
 */
export function checkThresholdConfig(list: MetricThreshold[], path: string, classes: string[]): void {
  const known = new Set(knownMetricNames(classes));
  list.forEach((t, i) => {
    const where = `${path}[${i}] (${t.metric})`;
    if (!known.has(t.metric)) {
      throw new ConfigError(`${where}: unknown metric "${t.metric}"; expected one of ${[...known].join(", ")}`);
    }
    if (t.threshold === undefined && t.min_absolute_change === undefined && t.min_relative_change === undefined) {
      throw new ConfigError(`${where}: no threshold, min_absolute_change or min_relative_change given`);
    }
    if (isLowerBetter(t.metric) && t.greater_is_better) {
      throw new ConfigError(`${where}: ${t.metric} is lower-is-better; set greater_is_better: false`);
    }
  });
}
