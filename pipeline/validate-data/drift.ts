import type { DriftSchema } from "../config/schema.js";
import { histogramCounts, presentValues } from "../data/profile.js";
import type { CategoryProfile, DataProfile, NumericProfile } from "../data/profile-schema.js";
import type { CategoryColumn, Table } from "../data/table.js";
import type { DriftColumn, DriftReport } from "./report.js";
import { normalizeCategory } from "../data/csv-values.js";
import { groupSummaries } from "../data/profile-groups.js";
import { calibrateColumn, calibrationContext, chiSquareQuantile, type CalibrationContext } from "./drift-calibration.js";
import { chiSquareSurvival, ksPValue } from "./stats.js";
import type { z } from "zod";

type DriftConfig = z.infer<typeof DriftSchema>;

/** Share used in place of an empty bin so that ln(a/e) stays finite (a common PSI convention). */
export const PSI_EPSILON = 1e-4;

/**
 * Why KS and chi-square need an effect-size floor: their p-values measure how sure we are that
 * the distributions differ, not by how much. With 20,000 rows against a 20,000-row reference, a
 * KS distance of 0.02 (a 0.05 °C shift of air temperature) already gives p < 0.01; at a million
 * rows every real-world batch "drifts". So a column is flagged only when the test is significant
 * (p < alpha) AND the effect is large enough to matter: KS D ≥ ks_min_effect, or Cramér's V ≥
 * chi2_min_effect. PSI is an effect size already and is compared to its threshold directly.
 */
export function detectDrift(
  table: Table,
  columns: string[],
  reference: DataProfile,
  config: DriftConfig,
  options: {
    source: string;
    sorted?: Map<string, Float64Array>;
    /** Distinct groups (dataset.group) in the batch, or null when it has no group column. */
    currentGroups?: number | null;
    groupColumn?: string;
    /** Dense group id per row of the batch (for design effects measured on the batch). */
    currentGroupIds?: Int32Array;
    /** Category columns matched case- and space-insensitively against the reference (spec.normalize). */
    normalized?: Set<string>;
  },
): DriftReport {
  const results: DriftColumn[] = [];
  const notes: string[] = [];
  const ctx = calibrationContext(reference, options.currentGroups ?? null, options.groupColumn, config.calibration);
  const perGroup =
    ctx.method === "effective_n" && options.currentGroupIds && ctx.currentGroups !== null
      ? groupSummaries(table, reference, { column: options.groupColumn ?? "group", ids: options.currentGroupIds, count: ctx.currentGroups }, { maxGroups: Number.MAX_SAFE_INTEGER, seed: 0 })
      : null;
  for (const name of columns) {
    const ref = reference.columns[name];
    const column = table.columns.get(name);
    if (!ref) {
      notes.push(`"${name}" is not in the reference profile`);
      continue;
    }
    if (!column) continue;
    if (ref.kind === "category") {
      if (column.kind !== "category") {
        notes.push(`"${name}" is categorical in the reference but ${column.kind} here`);
        continue;
      }
      results.push(categoricalDrift(name, column, ref, config, ctx, options.normalized?.has(name) ?? false, perGroup?.columns[name]?.counts));
    } else {
      if (column.kind === "category") {
        notes.push(`"${name}" is numeric in the reference but categorical here`);
        continue;
      }
      let sorted = options.sorted?.get(name);
      if (!sorted) sorted = presentValues(column).sort();
      results.push(numericDrift(name, sorted, ref, config, ctx, perGroup?.columns[name]?.counts));
    }
  }
  const strong = strongDrift(results, config.strong, ctx.method);
  const compared = results.filter((r) => r.method !== "skipped").length;
  const drifted = results.filter((r) => r.drifted).length;
  const share = compared > 0 ? drifted / compared : 0;
  const failedBy: NonNullable<DriftReport["failed_by"]> = [];
  if (share > config.max_drifted_share) failedBy.push("drifted_share");
  if (strong.columns.length > 0) failedBy.push("strong_drift");
  return {
    reference: options.source,
    skipped: null,
    numeric_method: config.numeric_method,
    categorical_method: config.categorical_method,
    psi_threshold: config.psi_threshold,
    alpha: config.alpha,
    ks_min_effect: config.ks_min_effect,
    chi2_min_effect: config.chi2_min_effect,
    reference_rows: reference.rows,
    calibration: { method: ctx.method, description: ctx.description, quantile: ctx.quantile, current_groups: ctx.currentGroups, reference_groups: ctx.referenceGroups },
    columns: results,
    compared,
    drifted,
    drifted_share: share,
    max_drifted_share: config.max_drifted_share,
    notes,
    strong,
    failed_by: failedBy,
    passed: failedBy.length === 0,
  };
}

/**
 * Strong drift: a column whose shift is both certain and large fails validation by itself.
 *
 * The drifted-share rule asks whether *many* features moved. A new building stock moves only the
 * building-level columns and the indoor temperatures (two to four of ten), so the share often
 * stays under its limit although building and cooling type changed beyond doubt. The evidence per
 * column is its calibrated test: KS or chi-square on the effective sample sizes of the
 * calibration, where a building-level column counts about one row per building, so the handful
 * of buildings in a batch differing by chance does not look like certainty. Both conditions are
 * needed, and each guards the other's weak spot (measured on 120 unchanged 5,000-row batches of
 * the generator, both references): building-level columns reach a Cramér's V of 0.49 by chance,
 * but then p ≥ 0.011; numeric columns with tied values (humidity, clothing, air speed) reach
 * p < 1e-5, but then KS D < 0.2. Hence the defaults: p < 0.001 and an effect ≥ 0.3. Without
 * calibration the p-values count clustered rows as independent, and the rule stays off.
 */
export function strongDrift(results: DriftColumn[], config: DriftConfig["strong"], method: CalibrationContext["method"]): NonNullable<DriftReport["strong"]> {
  const base = { alpha: config.alpha, min_effect: config.min_effect };
  if (!config.enabled) return { ...base, active: false, description: "off (drift.strong.enabled is false)", columns: [] };
  if (method === "none") {
    return { ...base, active: false, description: "off: the p-values are not calibrated (no group information), so they would count clustered rows as independent", columns: [] };
  }
  const columns: string[] = [];
  for (const r of results) {
    if (r.method === "skipped" || r.p_value === null || r.effect === null) continue;
    if (r.p_value < config.alpha && r.effect >= config.min_effect) {
      r.strong = true;
      r.drifted = true;
      columns.push(r.column);
    }
  }
  return {
    ...base,
    active: true,
    description: `a column fails validation by itself when its calibrated ${method === "group_bootstrap" ? "(group bootstrap)" : "(effective n)"} test has p < ${config.alpha} and its effect (KS D or Cramér's V) is ≥ ${config.min_effect}`,
    columns,
  };
}

export function psi(expected: ArrayLike<number>, actual: ArrayLike<number>): number {
  let eTotal = 0;
  let aTotal = 0;
  for (let i = 0; i < expected.length; i++) {
    eTotal += expected[i]!;
    aTotal += actual[i]!;
  }
  if (eTotal === 0 || aTotal === 0) return 0;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]! / eTotal, PSI_EPSILON);
    const a = Math.max(actual[i]! / aTotal, PSI_EPSILON);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/** The reference ECDF: linear between its percentiles, with jumps where percentiles tie. */
class ReferenceCdf {
  private readonly q: number[];
  private readonly step: number;
  constructor(quantiles: number[]) {
    this.q = quantiles;
    this.step = 1 / (quantiles.length - 1);
  }
  /** F(x) = P(X ≤ x). */
  at(x: number): number {
    const q = this.q;
    const last = q.length - 1;
    if (x < q[0]!) return 0;
    if (x >= q[last]!) return 1;
    // largest k with q[k] <= x (k < last)
    let lo = 0;
    let hi = last;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (q[mid]! <= x) lo = mid;
      else hi = mid;
    }
    return (lo + (x - q[lo]!) / (q[lo + 1]! - q[lo]!)) * this.step;
  }
  /** F(x−) = P(X < x). */
  before(x: number): number {
    const q = this.q;
    const last = q.length - 1;
    if (x <= q[0]!) return 0;
    if (x > q[last]!) return 1;
    // smallest k with q[k] >= x (k >= 1)
    let lo = 0;
    let hi = last;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (q[mid]! >= x) hi = mid;
      else lo = mid;
    }
    return (hi - 1 + (x - q[hi - 1]!) / (q[hi]! - q[hi - 1]!)) * this.step;
  }
}

/**
 * sup |F_current − F_reference|. The current ECDF is a step function and the reference one is
 * piecewise linear, so the supremum is reached at a current value (either side of its step) or at
 * a reference knot; those are the only points evaluated.
 */
export function ksDistance(sorted: Float64Array, quantiles: number[]): number {
  const n = sorted.length;
  if (n === 0 || quantiles.length < 2) return 0;
  const cdf = new ReferenceCdf(quantiles);
  let d = 0;
  let i = 0;
  while (i < n) {
    const x = sorted[i]!;
    let j = i + 1;
    while (j < n && sorted[j] === x) j++;
    d = Math.max(d, Math.abs(i / n - cdf.before(x)), Math.abs(j / n - cdf.at(x)));
    i = j;
  }
  for (const x of quantiles) {
    const below = countBelow(sorted, x, false);
    const atOrBelow = countBelow(sorted, x, true);
    d = Math.max(d, Math.abs(below / n - cdf.before(x)), Math.abs(atOrBelow / n - cdf.at(x)));
  }
  return d;
}

function countBelow(sorted: Float64Array, x: number, inclusive: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x || (inclusive && sorted[mid] === x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function numericDrift(name: string, sorted: Float64Array, ref: NumericProfile, config: DriftConfig, ctx: CalibrationContext, perGroup?: number[]): DriftColumn {
  const base = { column: name, kind: "number" as const, reference_count: ref.count, current_count: sorted.length };
  if (sorted.length === 0 || ref.count === 0 || ref.quantiles.length < 2) {
    return { ...base, method: "skipped", psi: null, statistic: null, p_value: null, effect: null, drifted: false, note: "no values on one side" };
  }
  const current = histogramCounts(sorted, ref.histogram.edges);
  const psiValue = psi(ref.histogram.counts, current);
  const cal = calibrateColumn(ctx, name, ref.histogram.counts, sorted.length, ref.count, psi, perGroup);
  const d = ksDistance(sorted, ref.quantiles);
  const p = ksPValue(d, cal.currentEffective, cal.referenceEffective);
  const effective = ctx.method === "none" ? {} : { effective_n: { current: cal.currentEffective, reference: cal.referenceEffective } };
  if (config.numeric_method === "psi") {
    const threshold = Math.max(config.psi_threshold, cal.psiThreshold ?? 0);
    return { ...base, method: "psi", psi: psiValue, statistic: d, p_value: p, effect: d, drifted: psiValue >= threshold, threshold, calibrated_threshold: cal.psiThreshold, ...effective };
  }
  const critical = ksCritical(config.alpha, cal.currentEffective, cal.referenceEffective);
  const threshold = Math.max(config.ks_min_effect, critical);
  return { ...base, method: "ks", psi: psiValue, statistic: d, p_value: p, effect: d, drifted: p < config.alpha && d >= config.ks_min_effect, threshold, calibrated_threshold: critical, ...effective };
}

/** The KS distance at which the p-value reaches alpha, for the given (effective) sizes. */
function ksCritical(alpha: number, n: number, m: number): number {
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (ksPValue(mid, n, m) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}

function categoricalDrift(name: string, column: CategoryColumn, ref: CategoryProfile, config: DriftConfig, ctx: CalibrationContext, normalized: boolean, perGroup?: number[]): DriftColumn {
  const perCode = new Float64Array(column.categories.length);
  let n = 0;
  for (let i = 0; i < column.codes.length; i++) {
    const c = column.codes[i]!;
    if (c >= 0) {
      perCode[c]!++;
      n++;
    }
  }
  // Categories keep their spelling in tables and profiles; matching follows the column's spec.
  const refKey = new Map(Object.keys(ref.counts).map((k) => [normalized ? normalizeCategory(k) : k, k]));
  const observed = new Map<string, number>();
  column.categories.forEach((cat, code) => {
    const key = refKey.get(normalized ? normalizeCategory(cat) : cat) ?? cat;
    if (perCode[code]! > 0) observed.set(key, (observed.get(key) ?? 0) + perCode[code]!);
  });
  const names = [...new Set([...Object.keys(ref.counts), ...observed.keys()])];
  const base = { column: name, kind: "category" as const, reference_count: ref.count, current_count: n };
  if (n === 0 || ref.count === 0) {
    return { ...base, method: "skipped", psi: null, statistic: null, p_value: null, effect: null, drifted: false, note: "no values on one side" };
  }
  const expectedCounts = names.map((k) => ref.counts[k] ?? 0);
  const actualCounts = names.map((k) => observed.get(k) ?? 0);
  const psiValue = psi(expectedCounts, actualCounts);
  // The group summaries hold the reference's categories in profile order; categories new in the
  // batch come after them with no reference mass, which the bootstrap never draws (as it should).
  const cal = calibrateColumn(ctx, name, expectedCounts.slice(0, Object.keys(ref.counts).length), n, ref.count, psi, perGroup);
  const effective = ctx.method === "none" ? {} : { effective_n: { current: cal.currentEffective, reference: cal.referenceEffective } };
  // The reference is itself a sample, so the test is one of homogeneity (a 2×k table of reference
  // and current counts, expected counts from the pooled shares) rather than goodness of fit
  // against reference shares taken as exact: that would inflate χ² by about 1 + n/m and raise
  // false alarms whenever the reference is not much larger than the batch.
  const m = expectedCounts.reduce((a, b) => a + b, 0);
  const total = n + m;
  let chi2 = 0;
  let k = 0;
  for (let i = 0; i < names.length; i++) {
    const pooled = expectedCounts[i]! + actualCounts[i]!;
    if (pooled === 0) continue;
    k++;
    const eRef = (m * pooled) / total;
    const eCur = (n * pooled) / total;
    chi2 += (expectedCounts[i]! - eRef) ** 2 / eRef + (actualCounts[i]! - eCur) ** 2 / eCur;
  }
  const df = k - 1;
  // χ² grows with the harmonic size n·m/(n+m); clustered rows count as their effective sizes.
  const harmonic = (n * m) / total;
  const nE = cal.currentEffective;
  const mE = cal.referenceEffective;
  const scale = (nE * mE) / (nE + mE) / harmonic;
  const p = df > 0 ? chiSquareSurvival(chi2 * scale, df) : 1;
  // Cramér's V of the shift, sqrt(χ² / (n_eff (k−1))) with n_eff = n·m/(n+m) (as for KS): an
  // effect size that does not grow or shrink with either sample's size.
  const v = df > 0 ? Math.sqrt(chi2 / (harmonic * df)) : 0;
  if (config.categorical_method === "psi") {
    const threshold = Math.max(config.psi_threshold, cal.psiThreshold ?? 0);
    return { ...base, method: "psi", psi: psiValue, statistic: chi2, p_value: p, effect: v, drifted: psiValue >= threshold, threshold, calibrated_threshold: cal.psiThreshold, ...effective };
  }
  const critical = df > 0 ? chiSquareQuantile(1 - config.alpha, df) / scale : null;
  return {
    ...base,
    method: "chi2",
    psi: psiValue,
    statistic: chi2,
    p_value: p,
    effect: v,
    drifted: p < config.alpha && v >= config.chi2_min_effect,
    threshold: critical,
    calibrated_threshold: critical,
    ...effective,
  };
}
