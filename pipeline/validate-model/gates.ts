import type { MetricThreshold, PipelineConfig } from "../config/schema.js";
import type { EvaluationMetrics, GateResult, SliceRow } from "./report.js";
import { evaluateMetricThreshold, isLowerBetter, metricValue } from "./thresholds.js";

/**
 * The gate verdicts of validate-model, as pure functions of metrics already computed on the
 * held-out set. Everything here is deterministic and testable without a model.
 */

type SliceGateConfig = PipelineConfig["promotion"]["gates"]["slices"];

/** Floating-point slack for our own (non-MLflow) comparisons: 0.80 - 0.75 must not exceed 0.05. */
const SLACK = 1e-12;

function thresholdGate(kind: "absolute" | "champion", spec: MetricThreshold, challenger: EvaluationMetrics, baseline: EvaluationMetrics | null, noBaselineNote: string): GateResult {
  const outcome = evaluateMetricThreshold(spec, metricValue(challenger, spec.metric), baseline ? metricValue(baseline, spec.metric) : null);
  const gate: GateResult = {
    name: `${kind}:${spec.metric}`,
    kind,
    passed: outcome.passed || outcome.skipped,
    message: outcome.skipped ? `skipped: ${noBaselineNote}` : outcome.message,
  };
  if (outcome.skipped) gate.skipped = true;
  if (outcome.candidate !== null) gate.value = outcome.candidate;
  // The champion's value only where it was compared with (a plain threshold does not use it).
  if (outcome.baseline !== null && outcome.checks.some((c) => c.kind !== "threshold" && !c.skipped)) gate.baseline = outcome.baseline;
  // The bound the candidate had to reach: the tightest of the checks that ran.
  const bounds = outcome.checks.filter((c) => !c.skipped && c.bound !== undefined).map((c) => c.bound!);
  if (bounds.length > 0) gate.threshold = spec.greater_is_better ? Math.max(...bounds) : Math.min(...bounds);
  // A threshold part still runs without a champion; the message says the change part was skipped.
  const skippedParts = outcome.checks.filter((c) => c.skipped);
  if (!outcome.skipped && skippedParts.length > 0) gate.message += ` (${skippedParts.map((c) => c.kind).join(", ")} skipped: ${noBaselineNote})`;
  return gate;
}

/** `promotion.gates.absolute`: bounds on the challenger; change fields compare with the champion when there is one. */
export function absoluteGates(list: MetricThreshold[], challenger: EvaluationMetrics, champion: EvaluationMetrics | null, noChampionNote = "no production model"): GateResult[] {
  return list.map((spec) => thresholdGate("absolute", spec, challenger, champion, noChampionNote));
}

/** `promotion.gates.champion`: MetricThresholds against the champion on the same rows. */
export function championGates(list: MetricThreshold[], challenger: EvaluationMetrics, champion: EvaluationMetrics | null, noChampionNote = "no production model"): GateResult[] {
  return list.map((spec) => thresholdGate("champion", spec, challenger, champion, noChampionNote));
}

/** `promotion.gates.min_class_recall`: one gate per class, so the report names the weak class. */
export function classRecallGates(minRecall: number | undefined, challenger: EvaluationMetrics): GateResult[] {
  if (minRecall === undefined) return [];
  return Object.entries(challenger.per_class).map(([cls, p]) => {
    const passed = p.recall >= minRecall;
    return {
      name: `class_recall:${cls}`,
      kind: "class_recall" as const,
      passed,
      message: `recall of "${cls}" = ${round(p.recall)} ${passed ? ">=" : "<"} ${minRecall} (support ${p.support})`,
      value: p.recall,
      threshold: minRecall,
    };
  });
}

export interface SliceMeasurement {
  column: string;
  value: string;
  rows: number;
  challenger: number | null;
  champion: number | null;
}

/**
 * Slice table and verdicts. A slice is gated when it has at least `min_rows` held-out rows and
 * there is a champion: the challenger's slice metric may be worse than the champion's on the same
 * rows by at most `max_drop` (in the metric's own units, e.g. 0.05 = five points of macro-F1).
 * Without a champion the slices are only reported.
 */
export function sliceRows(measurements: SliceMeasurement[], cfg: SliceGateConfig): SliceRow[] {
  const lower = isLowerBetter(cfg.metric);
  return measurements.map((m) => {
    const comparable = m.challenger !== null && m.champion !== null;
    const drop = comparable ? (lower ? m.challenger! - m.champion! : m.champion! - m.challenger!) : null;
    const gated = comparable && m.rows >= cfg.min_rows;
    return {
      column: m.column,
      value: m.value,
      rows: m.rows,
      metric: cfg.metric,
      challenger: m.challenger,
      champion: m.champion,
      drop,
      gated,
      passed: gated ? drop! <= cfg.max_drop + SLACK : null,
    };
  });
}

export function sliceGates(rows: SliceRow[], cfg: SliceGateConfig, hasChampion: boolean, noChampionNote = "no production model"): GateResult[] {
  if (cfg.columns.length === 0) return [];
  if (!hasChampion) {
    return [{ name: "slices", kind: "slice", passed: true, skipped: true, message: `skipped: ${noChampionNote}; ${rows.length} slices reported only` }];
  }
  const gates: GateResult[] = rows
    .filter((r) => r.gated)
    .map((r) => ({
      name: `slice:${r.column}=${r.value}`,
      kind: "slice" as const,
      passed: r.passed === true,
      message: `${r.metric} on ${r.column}=${r.value} (${r.rows} rows): challenger ${round(r.challenger!)} vs champion ${round(r.champion!)}, drop ${round(r.drop!)} ${r.passed ? "<=" : ">"} max ${cfg.max_drop}`,
      value: r.challenger!,
      baseline: r.champion!,
      threshold: cfg.max_drop,
    }));
  const small = rows.filter((r) => !r.gated).length;
  if (gates.length === 0) {
    gates.push({ name: "slices", kind: "slice", passed: true, skipped: true, message: `skipped: no slice has ${cfg.min_rows} or more held-out rows` });
  } else if (small > 0) {
    // Say that small slices exist, so a reader does not take "all passed" as "all checked".
    gates[gates.length - 1]!.message += `; ${small} slice(s) under ${cfg.min_rows} rows reported only`;
  }
  return gates;
}

export function latencyGate(msPerRow: number | null, budget: number): GateResult {
  if (msPerRow === null) return { name: "latency", kind: "latency", passed: true, skipped: true, message: "skipped (latency not measured)", threshold: budget };
  const passed = msPerRow <= budget;
  return { name: "latency", kind: "latency", passed, message: `inference ${round(msPerRow, 5)} ms/row ${passed ? "<=" : ">"} budget ${budget} ms/row`, value: msPerRow, threshold: budget };
}

export function artifactSizeGate(bytes: number, budget: number): GateResult {
  const passed = bytes <= budget;
  return { name: "artifact_size", kind: "artifact_size", passed, message: `model.json is ${bytes} bytes ${passed ? "<=" : ">"} budget ${budget}`, value: bytes, threshold: budget };
}

/** A run passes when no gate failed; skipped gates never fail it. */
export function allPassed(gates: GateResult[]): boolean {
  return gates.every((g) => g.passed || g.skipped === true);
}

export function round(x: number, digits = 4): string {
  return Number.isFinite(x) ? Number(x.toFixed(digits)).toString() : String(x);
}
