import type { z } from "zod";
import type { DriftSchema } from "../config/schema.js";
import { Random } from "../core/random.js";
import type { DataProfile, GroupSummaries } from "../data/profile-schema.js";
import { chiSquareSurvival } from "./stats.js";

type CalibrationConfig = z.infer<typeof DriftSchema>["calibration"];

/**
 * Drift that knows its own noise.
 *
 * Rows of one building are alike, and a new batch holds a different handful of buildings; a
 * statistic that treats rows as independent (PSI, KS, chi-square) then calls unchanged data
 * "drifted" whenever the batch's buildings happen to differ from the reference's. So each column's
 * verdict is calibrated against the variability the reference itself shows when it is resampled
 * the way new data arrives, on top of the fixed effect-size floor:
 *
 * - `group_bootstrap` (profiles with per-group summaries, pipeline/data/profile-groups.ts): draw
 *   `resamples` batches of as many reference groups as the current batch has (with replacement;
 *   without a group column in the batch, groups until the batch's row count is reached) and
 *   compute each batch's PSI against the reference. The calibrated PSI threshold is the
 *   `quantile` of those values times (1 + G/K): the bootstrap measures the batch's variance
 *   around the reference (σ²/G), while a new batch and the reference are independent samples of
 *   G and K groups (σ²/G + σ²/K), and PSI is quadratic in the shares. The same resamples give
 *   the design effect (mean PSI over its value for independent rows, (bins − 1)/rows), hence the
 *   intraclass correlation, hence effective sample sizes for the KS and chi-square p-values.
 * - `effective_n` (profiles without group summaries, such as the committed v1 model, when the
 *   batch has the group column): the reference cannot be resampled, so the design effect is
 *   measured on the batch's own groups (Kish's design effect of the column's bin shares, see
 *   designEffect) and both sides count as n/deff independent rows (the profile does not say how
 *   many groups it had, so the reference is taken to be grouped like the batch). The PSI threshold
 *   is the quantile of the PSI of n_eff draws from the reference's own bins (a simulation, which
 *   unlike the χ² approximation counts the PSI floor of bins a small batch leaves empty), times
 *   (1 + n_eff/m_eff).
 * - `none`: the fixed thresholds alone (no group information on either side).
 */

export type CalibrationMethod = "group_bootstrap" | "effective_n" | "none";

export interface CalibrationContext {
  method: CalibrationMethod;
  /** One sentence for the report: what the thresholds were calibrated from. */
  description: string;
  currentGroups: number | null;
  referenceGroups: number | null;
  quantile: number;
  resamples: number;
  groups?: GroupSummaries;
  seed: number;
}

export interface ColumnCalibration {
  /** Calibrated PSI threshold (before the fixed floor is applied), or null without calibration. */
  psiThreshold: number | null;
  /** Effective sample sizes for the KS / chi-square p-values. */
  currentEffective: number;
  referenceEffective: number;
  designEffect: number;
}

export function calibrationContext(reference: DataProfile, currentGroups: number | null, groupColumn: string | undefined, config: CalibrationConfig): CalibrationContext {
  const base = { currentGroups, quantile: config.quantile, resamples: config.resamples, seed: config.seed };
  const wanted = config.method;
  const groups = reference.groups;
  if (wanted !== "none" && wanted !== "effective_n" && groups && groups.rows.length >= 2) {
    const batch = currentGroups !== null ? `${currentGroups} groups (${groups.column}) like this batch` : `groups until this batch's row count (the batch has no ${groups.column} column)`;
    return {
      ...base,
      method: "group_bootstrap",
      referenceGroups: groups.count,
      groups,
      description: `group bootstrap: ${config.resamples} batches of ${batch}, drawn from the reference's ${groups.rows.length} stored groups of ${groups.count}; threshold = q${config.quantile} of their PSI × (1 + G/K)`,
    };
  }
  if (wanted === "group_bootstrap" && !groups) {
    // Asked for explicitly: say why it is not possible instead of silently doing something else.
    return { ...base, method: "none", referenceGroups: null, description: "group bootstrap asked for, but the reference profile has no per-group summaries: fixed thresholds only" };
  }
  if (wanted !== "none" && currentGroups !== null && currentGroups >= 1) {
    return {
      ...base,
      method: "effective_n",
      referenceGroups: null,
      description:
        `effective sample size: the reference profile has no per-group summaries, so each column's design effect is measured on this batch's ` +
        `${currentGroups} groups${groupColumn ? ` (${groupColumn})` : ""} and both sides count as rows ÷ design effect; threshold = q${config.quantile} of the PSI of n_eff draws from the reference's bins × (1 + n_eff/m_eff)`,
    };
  }
  const why = wanted === "none" ? "drift.calibration.method is none" : `the reference has no per-group summaries and the batch has no ${groupColumn ?? "group"} column`;
  return { ...base, method: "none", referenceGroups: null, description: `not calibrated (${why}): fixed thresholds only` };
}

/**
 * Calibration of one column. `expected` are the reference's counts per bin (or category, in
 * `keys` order), `n` the batch's non-missing count, `m` the reference's.
 */
export function calibrateColumn(
  ctx: CalibrationContext,
  name: string,
  expected: number[],
  n: number,
  m: number,
  psi: (e: ArrayLike<number>, a: ArrayLike<number>) => number,
  /** The batch's own per-group counts in the same bins (group-major), for the effective_n method. */
  current?: ArrayLike<number>,
): ColumnCalibration {
  const bins = Math.max(2, expected.filter((c) => c > 0).length);
  const none: ColumnCalibration = { psiThreshold: null, currentEffective: n, referenceEffective: m, designEffect: 1 };
  if (ctx.method === "effective_n" && ctx.currentGroups !== null && n > 0) {
    const deff = current ? designEffect(current, ctx.currentGroups, expected.length) : n / ctx.currentGroups;
    const nEff = Math.max(1, n / deff);
    const mEff = Math.max(1, m / deff);
    return { psiThreshold: simulatedPsiThreshold(ctx, name, expected, nEff, mEff, psi), currentEffective: nEff, referenceEffective: mEff, designEffect: deff };
  }
  if (ctx.method !== "group_bootstrap" || !ctx.groups) return none;
  const summary = ctx.groups.columns[name];
  if (!summary) return none;
  const k = expected.length;
  const K = ctx.groups.rows.length;
  if (summary.counts.length !== K * k) return none;
  // Non-missing rows of each stored group in this column.
  const present = new Float64Array(K);
  for (let g = 0; g < K; g++) for (let j = 0; j < k; j++) present[g]! += summary.counts[g * k + j]!;
  const nonEmpty: number[] = [];
  for (let g = 0; g < K; g++) if (present[g]! > 0) nonEmpty.push(g);
  if (nonEmpty.length < 2 || n === 0) return none;
  const rng = new Random(ctx.seed, hashName(name));
  const values = new Float64Array(ctx.resamples);
  const sums = new Float64Array(k);
  let rowsTotal = 0;
  let drawsTotal = 0;
  for (let b = 0; b < ctx.resamples; b++) {
    sums.fill(0);
    let rows = 0;
    let draws = 0;
    for (;;) {
      if (ctx.currentGroups !== null ? draws >= ctx.currentGroups : rows >= n) break;
      const g = nonEmpty[rng.int(nonEmpty.length)]!;
      for (let j = 0; j < k; j++) sums[j]! += summary.counts[g * k + j]!;
      rows += present[g]!;
      draws++;
    }
    values[b] = psi(expected, sums);
    rowsTotal += rows;
    drawsTotal += draws;
  }
  values.sort();
  const q = quantileOfSorted(values, ctx.quantile);
  const G = ctx.currentGroups ?? drawsTotal / ctx.resamples;
  const inflation = 1 + G / Math.max(ctx.groups.count, 1);
  // Design effect of the resampled batches: their mean PSI against what independent rows give.
  const meanRows = rowsTotal / ctx.resamples;
  let meanPsi = 0;
  for (const v of values) meanPsi += v;
  meanPsi /= values.length;
  const deff = Math.max(1, (meanPsi * meanRows) / (bins - 1));
  const rowsPerGroup = meanRows / Math.max(1, drawsTotal / ctx.resamples);
  const icc = rowsPerGroup > 1 ? Math.min(1, (deff - 1) / (rowsPerGroup - 1)) : 0;
  const curPerGroup = ctx.currentGroups !== null ? n / Math.max(1, ctx.currentGroups) : rowsPerGroup;
  const refPerGroup = m / Math.max(1, ctx.groups.count);
  return {
    psiThreshold: q * inflation,
    currentEffective: n / (1 + Math.max(0, curPerGroup - 1) * icc),
    referenceEffective: m / (1 + Math.max(0, refPerGroup - 1) * icc),
    designEffect: deff,
  };
}

/**
 * Kish's design effect of the bin shares, estimated from the batch's own groups: the variance of
 * each share under cluster sampling (the linearised ratio estimator, G/(G−1)·Σ((c_gj − n_g·p_j)/n)²)
 * over its variance for independent rows (p_j(1−p_j)/n), pooled over the bins. 1 when rows of a
 * group are no more alike than rows of different groups; about the rows per group when they are
 * all alike (a building's type).
 */
export function designEffect(counts: ArrayLike<number>, groups: number, k: number): number {
  const rowsOf = new Float64Array(groups);
  const totals = new Float64Array(k);
  let n = 0;
  for (let g = 0; g < groups; g++) {
    for (let j = 0; j < k; j++) {
      const c = counts[g * k + j]!;
      rowsOf[g]! += c;
      totals[j]! += c;
    }
    n += rowsOf[g]!;
  }
  const present = rowsOf.filter((r) => r > 0).length;
  if (n === 0 || present < 2) return 1;
  let between = 0;
  let binomial = 0;
  let sumSquares = 0;
  for (let g = 0; g < groups; g++) sumSquares += rowsOf[g]! * rowsOf[g]!;
  for (let j = 0; j < k; j++) {
    const p = totals[j]! / n;
    if (p <= 0 || p >= 1) continue;
    let v = 0;
    for (let g = 0; g < groups; g++) {
      if (rowsOf[g] === 0) continue;
      const d = (counts[g * k + j]! - rowsOf[g]! * p) / n;
      v += d * d;
    }
    between += (v * present) / (present - 1);
    binomial += (p * (1 - p)) / n;
  }
  if (binomial === 0) return 1;
  // Never below 1 (rows are not more independent than independent) nor above the all-alike bound.
  return Math.min(Math.max(1, between / binomial), sumSquares / n);
}

/**
 * The bound of the effective_n method, simulated rather than taken from the χ² approximation
 * (which ignores the PSI floor for empty bins, and a batch of 25 groups often leaves a rare
 * category empty): with every row of a group alike, a batch is `nEff` draws from the reference's
 * own bin shares. Threshold = q of their PSI × (1 + nEff/mEff), as for the group bootstrap.
 */
function simulatedPsiThreshold(ctx: CalibrationContext, name: string, expected: number[], nEff: number, mEff: number, psi: (e: ArrayLike<number>, a: ArrayLike<number>) => number): number {
  const k = expected.length;
  const cumulative = new Float64Array(k);
  let total = 0;
  for (let j = 0; j < k; j++) cumulative[j] = total += expected[j]!;
  if (total === 0) return 0;
  const draws = Math.max(1, Math.round(nEff));
  const rng = new Random(ctx.seed, hashName(name));
  const values = new Float64Array(ctx.resamples);
  const counts = new Float64Array(k);
  for (let b = 0; b < ctx.resamples; b++) {
    counts.fill(0);
    for (let d = 0; d < draws; d++) {
      const r = rng.next() * total;
      let lo = 0;
      let hi = k - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cumulative[mid]! > r) hi = mid;
        else lo = mid + 1;
      }
      counts[lo]!++;
    }
    values[b] = psi(expected, counts);
  }
  values.sort();
  return quantileOfSorted(values, ctx.quantile) * (1 + nEff / mEff);
}

function quantileOfSorted(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  if (lo >= sorted.length - 1) return sorted[sorted.length - 1]!;
  return sorted[lo]! + (h - lo) * (sorted[lo + 1]! - sorted[lo]!);
}

/** The p-quantile of χ²(df), by bisection on the survival function. */
export function chiSquareQuantile(p: number, df: number): number {
  if (df <= 0) return 0;
  let lo = 0;
  let hi = Math.max(10, df * 10);
  while (chiSquareSurvival(hi, df) > 1 - p) hi *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquareSurvival(mid, df) > 1 - p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** A stable small integer per column name, so each column's resamples are their own stream. */
function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return (h >>> 0) % 100_000;
}
