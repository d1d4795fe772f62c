/** At most this many value bins per feature, so that a bin code (plus the missing code) fits a byte. */
export const MAX_VALUE_BINS = 255;
/** Bin edges are fitted on at most this many values per feature (an even stride through them beyond that). */
const QUANTILE_SAMPLE = 200_000;

/**
 * Features reduced to small integer codes, computed once per fit: a split search then works on
 * histograms of codes instead of sorting rows at each node.
 *
 * Feature f has nBins[f] value bins; code c < nBins[f] means edges[f][c-1] < x <= edges[f][c] (the last
 * bin is open above), and code nBins[f] means missing. Edges are midpoints between observed values, so a
 * split "code <= c" is the real-valued rule "x <= edges[f][c]" and prediction works on raw values.
 */
export interface BinnedMatrix {
  rows: number;
  codes: Uint8Array[];
  edges: Float64Array[];
  nBins: Int32Array;
  /** The raw columns (NaN = missing): the chosen split of a node is refined to an exact threshold on them. */
  values: Float64Array[];
}

/** Upper edges of the value bins of one column (length = bins - 1). */
export function fitBinEdges(column: Float64Array, maxBins: number): Float64Array {
  const bins = Math.max(2, Math.min(maxBins, MAX_VALUE_BINS));
  let present = 0;
  for (let i = 0; i < column.length; i++) if (!Number.isNaN(column[i])) present++;
  let sample: Float64Array;
  if (present <= QUANTILE_SAMPLE) {
    sample = new Float64Array(present);
    let k = 0;
    for (let i = 0; i < column.length; i++) if (!Number.isNaN(column[i])) sample[k++] = column[i];
  } else {
    // An even stride through the present values: deterministic, and no random draw per value.
    sample = new Float64Array(QUANTILE_SAMPLE);
    const stride = present / QUANTILE_SAMPLE;
    let seen = 0;
    let k = 0;
    let nextTake = 0;
    for (let i = 0; i < column.length && k < QUANTILE_SAMPLE; i++) {
      if (Number.isNaN(column[i])) continue;
      if (seen >= nextTake) {
        sample[k++] = column[i];
        nextTake = Math.floor(k * stride);
      }
      seen++;
    }
    if (k < QUANTILE_SAMPLE) sample = sample.subarray(0, k);
  }
  sample.sort();
  const m = sample.length;
  if (m === 0) return new Float64Array(0);

  let distinct = 1;
  for (let i = 1; i < m; i++) if (sample[i] !== sample[i - 1]) distinct++;
  const edges: number[] = [];
  if (distinct <= bins) {
    // Few distinct values: one bin each, exactly as an exact CART would split.
    for (let i = 1; i < m; i++) if (sample[i] !== sample[i - 1]) edges.push(midpoint(sample[i - 1], sample[i]));
  } else {
    for (let q = 1; q < bins; q++) {
      const j = Math.min(m - 1, Math.floor((q * m) / bins));
      const v = sample[j];
      const next = upperBound(sample, v);
      if (next >= m) break;
      const edge = midpoint(v, sample[next]);
      if (edges.length === 0 || edge > edges[edges.length - 1]) edges.push(edge);
    }
  }
  return Float64Array.from(edges);
}

export function midpoint(a: number, b: number): number {
  const mid = a + (b - a) / 2;
  // Guard the rounding case where the midpoint of two adjacent doubles equals the upper one.
  return mid >= b ? a : mid;
}

/** First index whose value is > v in a sorted array. */
function upperBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Buckets of the uniform grid that speeds up code look-ups (see binColumn). */
const GRID = 4096;

/**
 * Codes of one column given its edges; missing → edges.length + 1 (the missing code). A uniform grid over
 * the edge range gives each value a starting bin, so the search is a step or two instead of a full
 * binary search per value.
 */
export function binColumn(column: Float64Array, edges: Float64Array, out: Uint8Array): void {
  const nEdges = edges.length;
  const missing = nEdges + 1;
  if (nEdges === 0) {
    for (let i = 0; i < column.length; i++) out[i] = column[i] !== column[i] ? missing : 0;
    return;
  }
  const lo = edges[0];
  const hi = edges[nEdges - 1];
  const scale = hi > lo ? GRID / (hi - lo) : 0;
  // start[g] = first edge index whose edge is >= the lower bound of bucket g.
  const start = new Int32Array(GRID + 1);
  for (let g = 0, e = 0; g <= GRID; g++) {
    const bound = lo + g / scale;
    while (e < nEdges && edges[e] < bound) e++;
    start[g] = scale > 0 ? e : 0;
  }
  for (let i = 0; i < column.length; i++) {
    const v = column[i];
    if (v !== v) {
      out[i] = missing;
      continue;
    }
    if (v <= lo) {
      out[i] = 0;
      continue;
    }
    if (v > hi) {
      out[i] = nEdges;
      continue;
    }
    let g = ((v - lo) * scale) | 0;
    if (g > GRID) g = GRID;
    // The bucket's start may overshoot by one when v sits exactly on a bucket bound; step back as needed.
    let e = start[g];
    while (e > 0 && v <= edges[e - 1]) e--;
    while (v > edges[e]) e++;
    out[i] = e;
  }
}

/**
 * Bins every column. With `shared`, codes and values live in SharedArrayBuffers so forest workers can read them
 * without a copy.
 */
export function binMatrix(X: { rows: number; features: Float64Array[] }, maxBins: number, shared = false): BinnedMatrix {
  const nFeatures = X.features.length;
  const codes: Uint8Array[] = [];
  const edges: Float64Array[] = [];
  const nBins = new Int32Array(nFeatures);
  const values: Float64Array[] = [];
  for (let f = 0; f < nFeatures; f++) {
    const column = X.features[f];
    const e = fitBinEdges(column, maxBins);
    const out = shared ? new Uint8Array(new SharedArrayBuffer(X.rows)) : new Uint8Array(X.rows);
    binColumn(column, e, out);
    codes.push(out);
    edges.push(e);
    nBins[f] = e.length + 1;
    if (shared && !(column.buffer instanceof SharedArrayBuffer)) {
      const copy = new Float64Array(new SharedArrayBuffer(column.length * Float64Array.BYTES_PER_ELEMENT));
      copy.set(column);
      values.push(copy);
    } else values.push(column);
  }
  return { rows: X.rows, codes, edges, nBins, values };
}
