import { performance } from "node:perf_hooks";
import type { PipelineConfig } from "../config/schema.js";
import { ConfigError } from "../core/errors.js";
import { takeRows, type Table } from "../data/table.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { predictTable } from "../model/predict.js";
import type { z } from "zod";
import type { GateResult, MonotonicResult, SanityCaseResultSchema } from "./report.js";

/**
 * Sanity and regression checks: fixed cases with expected classes, monotonic response to a
 * feature, inference latency. Cases reach the model through a predictor function (records in,
 * labels out), the way a served request does.
 */

export type SanityRecord = Record<string, number | string | null>;
export type RecordPredictor = (records: SanityRecord[]) => { label: string; probabilities: Record<string, number> }[];
export type SanityCaseResult = z.infer<typeof SanityCaseResultSchema>;

type SanityConfig = PipelineConfig["promotion"]["gates"]["sanity"];
type SanityCase = SanityConfig["cases"][number];
type MonotonicSpec = SanityConfig["monotonic"][number];

/**
 * Refuses cases that name a class the model does not have (a typo in expect_not would always
 * pass) and monotonic checks on features it lacks. Returns warnings for case inputs that are not
 * model features: such a value is ignored and the feature imputed, so the case may test less than
 * its name says.
 */
export function checkSanityConfig(sanity: SanityConfig, model: ModelArtifact): string[] {
  const classes = new Set(model.classes);
  const features = new Set(model.features.map((f) => f.name));
  const warnings: string[] = [];
  sanity.cases.forEach((c, i) => {
    for (const cls of [...(c.expect !== undefined ? [c.expect] : []), ...(c.expect_not ?? [])]) {
      if (!classes.has(cls)) throw new ConfigError(`promotion.gates.sanity.cases[${i}] (${c.name}): unknown class "${cls}"; the model's classes are ${model.classes.join(", ")}`);
    }
    const unknown = Object.keys(c.input).filter((k) => !features.has(k));
    if (unknown.length > 0) warnings.push(`promotion.gates.sanity.cases[${i}] (${c.name}): ${unknown.map((k) => `"${k}"`).join(", ")} ${unknown.length === 1 ? "is not a feature" : "are not features"} of the model and ${unknown.length === 1 ? "is" : "are"} ignored`);
  });
  sanity.monotonic.forEach((m, i) => {
    const spec = model.features.find((f) => f.name === m.feature);
    if (!spec) throw new ConfigError(`promotion.gates.sanity.monotonic[${i}]: "${m.feature}" is not a feature of the model (${model.features.map((f) => f.name).join(", ")})`);
    if (spec.type !== "number") throw new ConfigError(`promotion.gates.sanity.monotonic[${i}]: "${m.feature}" is a category; a monotonic check needs a number feature`);
  });
  return warnings;
}

export function runSanityCases(cases: SanityCase[], predictor: RecordPredictor): SanityCaseResult[] {
  if (cases.length === 0) return [];
  const predictions = predictor(cases.map((c) => ({ ...c.input })));
  return cases.map((c, i) => {
    const p = predictions[i]!;
    const passed = (c.expect === undefined || p.label === c.expect) && !(c.expect_not ?? []).includes(p.label);
    const result: SanityCaseResult = { name: c.name, predicted: p.label, probabilities: p.probabilities, passed };
    if (c.expect !== undefined) result.expect = c.expect;
    if (c.expect_not !== undefined) result.expect_not = c.expect_not;
    return result;
  });
}

export function sanityCaseGates(results: SanityCaseResult[]): GateResult[] {
  return results.map((r) => {
    const wanted = [r.expect !== undefined ? `expected "${r.expect}"` : null, r.expect_not?.length ? `never ${r.expect_not.map((x) => `"${x}"`).join(" or ")}` : null].filter(Boolean).join(", ");
    return { name: `sanity:${r.name}`, kind: "sanity" as const, passed: r.passed, message: `predicted "${r.predicted}" (${wanted})` };
  });
}

/**
 * `steps` evenly spaced values over where the training data lies: the 1st to 99th percentile of
 * the reference profile, inside the model's range for the feature. Without a profile, the model's
 * range (else the profile's min..max).
 *
 * Why not the model's range alone: it is usually the config's allowed range (5–45 °C for air
 * temperature), most of which holds no training rows; a tree is flat there, so 12 steps over it
 * would put two or three inside the data and the check would say little.
 */
export function sweepValues(model: ModelArtifact, feature: string, steps: number): number[] {
  const spec = model.features.find((f) => f.name === feature);
  const profile = model.reference_profile.columns[feature];
  let range: [number, number] | undefined = spec?.type === "number" ? spec.range : undefined;
  if (profile?.kind === "number" && profile.count > profile.missing) {
    const q = profile.quantiles;
    const data: [number, number] = q.length === 101 ? [q[1]!, q[99]!] : [profile.min, profile.max];
    const lo = range ? Math.max(range[0], data[0]) : data[0];
    const hi = range ? Math.min(range[1], data[1]) : data[1];
    if (lo < hi) range = [lo, hi];
  }
  if (!range) throw new ConfigError(`monotonic check on "${feature}": the model records no range for it`);
  const [lo, hi] = range;
  return Array.from({ length: steps }, (_, i) => lo + ((hi - lo) * i) / (steps - 1));
}

/**
 * "Monotonic on average", precisely: walk the sweep and add up the score's movement between
 * consecutive steps in the expected direction (`along`) and against it (`against`). The check
 * passes when the score ends strictly beyond where it started (net change > 1e-9 in the expected
 * direction) and the movement against the direction is at most MAX_AGAINST_SHARE (20%) of the
 * movement along it.
 *
 * Why not a rank correlation: a tree's response is a step function, often flat for most of the
 * range and rising in one or two steps; Spearman's rho of a perfectly non-decreasing curve that is
 * flat for 11 of 12 steps is 0.48, so a correlation cut-off would reject exactly the models we
 * want. The movement ratio accepts flat stretches, tolerates small wiggles (a few split
 * thresholds in the wrong order), and rejects a curve that goes the wrong way overall or
 * zig-zags. Spearman's rho is still reported for the reader.
 */
export const MAX_AGAINST_SHARE = 0.2;
const NET_EPSILON = 1e-9;

export function monotonicVerdict(feature: string, direction: "increasing" | "decreasing", values: number[], scores: number[]): Omit<MonotonicResult, "rows"> {
  const sign = direction === "increasing" ? 1 : -1;
  let along = 0;
  let against = 0;
  for (let i = 1; i < scores.length; i++) {
    const d = sign * (scores[i]! - scores[i - 1]!);
    if (d > 0) along += d;
    else against -= d;
  }
  const net = sign * (scores[scores.length - 1]! - scores[0]!);
  const passed = net > NET_EPSILON && against <= MAX_AGAINST_SHARE * along;
  const rho = spearman(values, scores);
  const r = (x: number) => Number(x.toFixed(4));
  let message: string;
  if (net <= NET_EPSILON) {
    message = `${feature}: the score ${net < -NET_EPSILON ? `moves against the expected (${direction}) direction overall` : "does not change"} over [${r(values[0]!)}, ${r(values[values.length - 1]!)}] (net ${r(sign * net)})`;
  } else if (!passed) {
    message = `${feature}: the score moves against the expected (${direction}) direction by ${r(against)}, more than ${MAX_AGAINST_SHARE * 100}% of its movement along it (${r(along)})`;
  } else {
    message = `${feature}: ${direction} on average (net ${r(sign * net)}, against/along ${r(along > 0 ? against / along : 0)}, Spearman ${rho === null ? "n/a" : r(rho)})`;
  }
  return { feature, direction, values, scores, net_change: sign * net, along, against, spearman: rho, passed, message };
}

/** At most this many held-out rows are averaged over per step (an even stride through them). */
export const MONOTONIC_MAX_ROWS = 500;

/**
 * Partial dependence of the ordinal score on one feature: for each value, the feature is set to
 * that value in every sampled held-out row (the other features stay as observed) and the score
 * sum_k P(k)·k is averaged over the rows.
 *
 * Why real rows and not one row of training medians and modes: a tree's response at a single
 * point follows that point's path through the splits of the other features, and is jagged (the
 * committed dataset's depth-10 tree goes 0.29 → 1.11 → 0.84 → 1.67 → 0.96 along air temperature at
 * the median point) while its average over the population rises smoothly. "Monotonic on
 * average" is a statement about the population.
 */
export function partialDependence(model: ModelArtifact, table: Table, rows: ArrayLike<number>, feature: string, values: number[], maxRows = MONOTONIC_MAX_ROWS): { scores: number[]; rows: number } {
  const n = Math.min(rows.length, maxRows);
  if (n === 0) return { scores: values.map(() => NaN), rows: 0 };
  const sample = Int32Array.from({ length: n }, (_, i) => rows[Math.floor((i * rows.length) / n)]!);
  const base = takeRows(table, sample);
  const k = model.classes.length;
  const scores = values.map((v) => {
    const columns = new Map(base.columns);
    columns.set(feature, { kind: "number", name: feature, values: new Float64Array(n).fill(v), missing: new Uint8Array(n) });
    const { proba } = predictTable(model, { rowCount: n, columns });
    let sum = 0;
    for (let i = 0; i < n; i++) for (let c = 1; c < k; c++) sum += proba[i * k + c]! * c;
    return sum / n;
  });
  return { scores, rows: n };
}

/** Sweeps one feature over held-out rows and judges the averaged response. */
export function monotonicCheck(model: ModelArtifact, spec: MonotonicSpec, table: Table, rows: ArrayLike<number>): MonotonicResult {
  const values = sweepValues(model, spec.feature, spec.steps);
  const { scores, rows: used } = partialDependence(model, table, rows, spec.feature, values);
  return { ...monotonicVerdict(spec.feature, spec.direction, values, scores), rows: used };
}

export function monotonicGates(results: MonotonicResult[]): GateResult[] {
  return results.map((r) => ({ name: `monotonic:${r.feature}`, kind: "monotonic" as const, passed: r.passed, message: r.message, value: r.net_change }));
}

/** Spearman's rho with average ranks for ties; null when either side is constant. */
export function spearman(x: number[], y: number[]): number | null {
  const rx = ranks(x);
  const ry = ranks(y);
  const n = x.length;
  const mx = rx.reduce((a, b) => a + b, 0) / n;
  const my = ry.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

function ranks(v: number[]): number[] {
  const order = v.map((_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const out = new Array<number>(v.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && v[order[j + 1]!] === v[order[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]!] = rank;
    i = j + 1;
  }
  return out;
}

/** Median wall time of `runs` calls of `run`, per row, in milliseconds. */
export function measureMsPerRow(run: () => void, rows: number, runs = 3): { msPerRow: number; runsMs: number[] } {
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    run();
    runsMs.push(performance.now() - t0);
  }
  const sorted = [...runsMs].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return { msPerRow: rows > 0 ? median / rows : 0, runsMs };
}
