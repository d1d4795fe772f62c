import type { DriftSchema } from "../config/schema.js";
import { histogramCounts, presentValues } from "../data/profile.js";
import type { CategoryProfile, DataProfile, NumericProfile } from "../data/profile-schema.js";
import type { CategoryColumn, Table } from "../data/table.js";
import type { DriftColumn, DriftReport } from "./report.js";
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
  options: { source: string; sorted?: Map<string, Float64Array> },
): DriftReport {
  const results: DriftColumn[] = [];
  const notes: string[] = [];
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
      results.push(categoricalDrift(name, column, ref, config));
    } else {
      if (column.kind === "category") {
        notes.push(`"${name}" is numeric in the reference but categorical here`);
        continue;
      }
      let sorted = options.sorted?.get(name);
      if (!sorted) sorted = presentValues(column).sort();
      results.push(numericDrift(name, sorted, ref, config));
    }
  }
  const compared = results.filter((r) => r.method !== "skipped").length;
  const drifted = results.filter((r) => r.drifted).length;
  const share = compared > 0 ? drifted / compared : 0;
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
    columns: results,
    compared,
    drifted,
    drifted_share: share,
    max_drifted_share: config.max_drifted_share,
    notes,
    passed: share <= config.max_drifted_share,
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

function numericDrift(name: string, sorted: Float64Array, ref: NumericProfile, config: DriftConfig): DriftColumn {
  const base = { column: name, kind: "number" as const, reference_count: ref.count, current_count: sorted.length };
  if (sorted.length === 0 || ref.count === 0 || ref.quantiles.length < 2) {
    return { ...base, method: "skipped", psi: null, statistic: null, p_value: null, effect: null, drifted: false, note: "no values on one side" };
  }
  const current = histogramCounts(sorted, ref.histogram.edges);
  const psiValue = psi(ref.histogram.counts, current);
  const d = ksDistance(sorted, ref.quantiles);
  const p = ksPValue(d, sorted.length, ref.count);
  const drifted = config.numeric_method === "psi" ? psiValue >= config.psi_threshold : p < config.alpha && d >= config.ks_min_effect;
  return { ...base, method: config.numeric_method, psi: psiValue, statistic: d, p_value: p, effect: d, drifted };
}

function categoricalDrift(name: string, column: CategoryColumn, ref: CategoryProfile, config: DriftConfig): DriftColumn {
  const perCode = new Float64Array(column.categories.length);
  let n = 0;
  for (let i = 0; i < column.codes.length; i++) {
    const c = column.codes[i]!;
    if (c >= 0) {
      perCode[c]!++;
      n++;
    }
  }
  const observed = new Map<string, number>();
  column.categories.forEach((cat, code) => {
    if (perCode[code]! > 0) observed.set(cat, (observed.get(cat) ?? 0) + perCode[code]!);
  });
  const names = [...new Set([...Object.keys(ref.counts), ...observed.keys()])];
  const base = { column: name, kind: "category" as const, reference_count: ref.count, current_count: n };
  if (n === 0 || ref.count === 0) {
    return { ...base, method: "skipped", psi: null, statistic: null, p_value: null, effect: null, drifted: false, note: "no values on one side" };
  }
  const expectedCounts = names.map((k) => ref.counts[k] ?? 0);
  const actualCounts = names.map((k) => observed.get(k) ?? 0);
  const psiValue = psi(expectedCounts, actualCounts);
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
  const p = df > 0 ? chiSquareSurvival(chi2, df) : 1;
  // Cramér's V of the shift, sqrt(χ² / (n_eff (k−1))) with n_eff = n·m/(n+m) (as for KS): an
  // effect size that does not grow or shrink with either sample's size.
  const v = df > 0 ? Math.sqrt(chi2 / (((n * m) / total) * df)) : 0;
  const drifted = config.categorical_method === "psi" ? psiValue >= config.psi_threshold : p < config.alpha && v >= config.chi2_min_effect;
  return { ...base, method: config.categorical_method, psi: psiValue, statistic: chi2, p_value: p, effect: v, drifted };
}
