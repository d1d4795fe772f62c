import { quantileSorted } from "../data/profile.js";

/**
 * Outliers that know the shape of the column.
 *
 * The IQR rule assumes a continuous, unimodal body. Field data often is not: about a quarter of
 * measured air speeds are exactly 0 (still air, or the anemometer's floor), metabolic rates are
 * coded in a few steps (1.0, 1.1, 1.2 met), and a minority activity forms a second mode. Then the
 * quartiles land on the spike, the IQR shrinks, and normal values fall outside the fences. So:
 *
 * 1. **Spikes**: a value holding at least `spikeShare` of the non-missing values. The quartiles
 *    are taken over the values that are not spikes (the body), so a spike cannot collapse the
 *    fences. A spike outside the fences is still an outlier (a placeholder such as -999 or a
 *    default); inside them it is normal. A column with fewer body values than 5% of its values
 *    (or 20) is **discrete**: its fences come from all values, with the spread taken as at least
 *    the range of its spikes.
 * 2. **Connected tails**: values beyond a fence that continue the body without a gap wider than
 *    the IQR (walking outwards from the last value inside the fence) are a tail or a second mode,
 *    reported but not counted. Values beyond the first such gap are outliers: a separate cluster
 *    is what a unit error (°F among °C), a sentinel or a broken sensor produces.
 *
 * The plain IQR count stays in the report (`outliers_iqr`) next to this one (`outliers`).
 */

export interface Spike {
  value: number;
  count: number;
  share: number;
}

export interface OutlierShape {
  /** Values counted as outliers (beyond a fence and beyond a gap). */
  outliers: number;
  /** Values beyond a fence that continue the body (not counted). */
  tail: number;
  spikes: Spike[];
  /** Spikes outside the fences (counted in `outliers`). */
  outlyingSpikes: Spike[];
  discrete: boolean;
  distinct: number;
  low: number;
  high: number;
  /** Outliers that sit beyond a gap from the body (a separate cluster). */
  separated: number;
}

export function outlierShape(sorted: Float64Array, k: number, spikeShare: number): OutlierShape {
  const n = sorted.length;
  const spikes: Spike[] = [];
  let distinct = 0;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && sorted[j] === sorted[i]) j++;
    distinct++;
    if (j - i >= spikeShare * n && j - i >= 2) spikes.push({ value: sorted[i]!, count: j - i, share: (j - i) / n });
    i = j;
  }
  const spikeValues = new Set(spikes.map((s) => s.value));
  const bodyCount = n - spikes.reduce((a, s) => a + s.count, 0);
  const discrete = spikes.length > 0 && bodyCount < Math.max(20, 0.05 * n);
  let q1: number;
  let q3: number;
  let iqr: number;
  if (spikes.length === 0 || discrete) {
    q1 = quantileSorted(sorted, 0.25);
    q3 = quantileSorted(sorted, 0.75);
    iqr = q3 - q1;
    if (discrete) iqr = Math.max(iqr, spikes[spikes.length - 1]!.value - spikes[0]!.value);
  } else {
    const body = new Float64Array(bodyCount);
    let b = 0;
    for (let i = 0; i < n; i++) if (!spikeValues.has(sorted[i]!)) body[b++] = sorted[i]!;
    q1 = quantileSorted(body, 0.25);
    q3 = quantileSorted(body, 0.75);
    iqr = q3 - q1;
  }
  const empty = { outliers: 0, tail: 0, spikes, outlyingSpikes: [], discrete, distinct, low: -Infinity, high: Infinity, separated: 0 };
  if (!(iqr > 0) || n === 0) return empty;
  const low = q1 - k * iqr;
  const high = q3 + k * iqr;
  // First index above the high fence, last index below the low fence.
  let hi = n;
  while (hi > 0 && sorted[hi - 1]! > high) hi--;
  let lo = -1;
  while (lo + 1 < n && sorted[lo + 1]! < low) lo++;
  let tail = 0;
  let separated = 0;
  // High side: walk outwards from the last value inside the fence.
  let prev = hi > 0 ? sorted[hi - 1]! : high;
  let broken = false;
  for (let i = hi; i < n; i++) {
    const v = sorted[i]!;
    if (!broken && v - prev <= iqr) tail++;
    else {
      broken = true;
      separated++;
    }
    prev = v;
  }
  prev = lo + 1 < n ? sorted[lo + 1]! : low;
  broken = false;
  for (let i = lo; i >= 0; i--) {
    const v = sorted[i]!;
    if (!broken && prev - v <= iqr) tail++;
    else {
      broken = true;
      separated++;
    }
    prev = v;
  }
  // A spike outside the fences is an outlier even when the walk reached it without a gap.
  const outlyingSpikes = spikes.filter((s) => s.value < low || s.value > high);
  let spikeInTail = 0;
  for (const s of outlyingSpikes) {
    // Count how many of its rows the walk called tail: all or none (equal values share a verdict).
    const firstIndex = lowerBound(sorted, s.value);
    const inTail = s.value > high ? isTail(sorted, hi, firstIndex, iqr, true) : isTail(sorted, lo, firstIndex + s.count - 1, iqr, false);
    if (inTail) spikeInTail += s.count;
  }
  tail -= spikeInTail;
  return { outliers: separated + spikeInTail, tail, spikes, outlyingSpikes, discrete, distinct, low, high, separated };
}

function lowerBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Whether the walk from the fence reaches index `target` without a gap wider than `gap`. */
function isTail(sorted: Float64Array, start: number, target: number, gap: number, upwards: boolean): boolean {
  if (upwards) {
    let prev = start > 0 ? sorted[start - 1]! : sorted[start]!;
    for (let i = start; i <= target; i++) {
      if (sorted[i]! - prev > gap) return false;
      prev = sorted[i]!;
    }
    return true;
  }
  let prev = start + 1 < sorted.length ? sorted[start + 1]! : sorted[start]!;
  for (let i = start; i >= target; i--) {
    if (prev - sorted[i]! > gap) return false;
    prev = sorted[i]!;
  }
  return true;
}
