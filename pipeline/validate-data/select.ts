/**
 * Quantiles without a full sort: quickselect (Hoare partition, median of three) leaves the k-th
 * smallest value at index k with smaller-or-equal values left of it and larger-or-equal right of
 * it, in O(n). Validation without drift needs only the quartiles, and a sort of a million values
 * costs ten times as much.
 */
export function selectInPlace(a: Float64Array, k: number, left = 0, right = a.length - 1): void {
  let l = left;
  let ir = right;
  for (;;) {
    if (ir <= l + 1) {
      if (ir === l + 1 && a[ir]! < a[l]!) swap(a, l, ir);
      return;
    }
    const mid = (l + ir) >>> 1;
    swap(a, mid, l + 1);
    if (a[l]! > a[ir]!) swap(a, l, ir);
    if (a[l + 1]! > a[ir]!) swap(a, l + 1, ir);
    if (a[l]! > a[l + 1]!) swap(a, l, l + 1);
    let i = l + 1;
    let j = ir;
    const pivot = a[l + 1]!;
    for (;;) {
      do i++;
      while (a[i]! < pivot);
      do j--;
      while (a[j]! > pivot);
      if (j < i) break;
      swap(a, i, j);
    }
    a[l + 1] = a[j]!;
    a[j] = pivot;
    if (j >= k) ir = j - 1;
    if (j <= k) l = i;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * Linear-interpolated quantiles (numpy/pandas default) of `values`, which is reordered. `ps` must
 * be ascending; each selection only searches right of the previous one.
 */
export function quantilesBySelection(values: Float64Array, ps: number[]): number[] {
  const n = values.length;
  if (n === 0) return ps.map(() => NaN);
  const out: number[] = [];
  let from = 0;
  for (const p of ps) {
    const h = (n - 1) * p;
    const lo = Math.floor(h);
    if (lo >= from) {
      selectInPlace(values, lo, from, n - 1);
      from = lo;
    }
    const x = values[lo]!;
    if (lo + 1 >= n || h === lo) {
      out.push(x);
      continue;
    }
    // Everything right of lo is >= values[lo]; the next order statistic is their minimum.
    let next = Infinity;
    for (let i = lo + 1; i < n; i++) if (values[i]! < next) next = values[i]!;
    out.push(x + (h - lo) * (next - x));
  }
  return out;
}
