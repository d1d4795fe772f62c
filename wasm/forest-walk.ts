// AssemblyScript, not TypeScript: compiled to WebAssembly by scripts/build-wasm.mjs, which embeds the
// binary in pipeline/model/forest-walk-wasm.ts. pipeline/model/forest-walk.ts is the only caller.
//
// Walks a packed forest (the layout of PackedForest in pipeline/model/predictor.ts: 16-byte nodes,
// threshold f64 at byte 0, at byte 8 the feature index with bit 30 set when a missing value goes left
// or -1 for a leaf, at byte 12 the left child (right = left + 1) or a leaf's offset in the leaf table)
// and sums the leaf vectors each row reaches, in tree order. Why WebAssembly: a walk is a chain of
// dependent loads from typed arrays, and V8 adds a bounds check and index arithmetic to each; the same
// walk compiled ahead of time took 4.1–4.4 against 5.7–6.2 µs per row (README, "The forest walk in
// WebAssembly"). Normalizing the sums (division, softmax) stays in JavaScript, so Math.exp is V8's and
// the probabilities keep their bits.

// The memory is shared: the thread that loads a model lays the forest out once and every thread that
// serves it instantiates the module on the same memory, with its own region for the rows it walks. The
// JavaScript side (pipeline/model/forest-walk.ts) takes the regions, so the loading thread never
// compiles this module.

const MISSING_LEFT: i32 = 1 << 30;
const FEATURE_MASK: i32 = MISSING_LEFT - 1;

let nodesPtr: usize = 0; // 16-byte nodes
let leavesPtr: usize = 0; // f64 leaf vectors, K each
let rootsPtr: usize = 0; // i32 [T]
let rowsPtr: usize = 0; // f64 [capacity][width]: the rows this instance walks
let sumsPtr: usize = 0; // f64 [capacity][K]: their summed leaf vectors
let T: i32 = 0;
let K: i32 = 0;

/** This instance walks the forest at these addresses, into sums of `classes` values. */
export function useForest(nodes: usize, leaves: usize, roots: usize, nTrees: i32, classes: i32): void {
  nodesPtr = nodes;
  leavesPtr = leaves;
  rootsPtr = roots;
  T = nTrees;
  K = classes;
}

/** This instance's own rows (and their sums): room for as many as the caller walks at once. */
export function useRows(rows: usize, sums: usize): void {
  rowsPtr = rows;
  sumsPtr = sums;
}

@inline function meta(node: i32): i32 {
  return load<i32>(nodesPtr + (<usize>node << 4), 8);
}
/** One step down from an internal node whose meta word is `m`, for the row at `row`. */
@inline function child(row: usize, node: i32, m: i32): i32 {
  const p = nodesPtr + (<usize>node << 4);
  const x = load<f64>(row + (<usize>(m & FEATURE_MASK) << 3));
  const left = load<i32>(p, 12);
  return x != x ? ((m & MISSING_LEFT) != 0 ? left : left + 1) : left + <i32>(x > load<f64>(p));
}
@inline function leafOf(row: usize, root: i32): i32 {
  let a = root;
  let m = meta(a);
  while (m >= 0) {
    a = child(row, a, m);
    m = meta(a);
  }
  return a;
}
@inline function addLeaf(sum: usize, node: i32): void {
  const v = leavesPtr + (<usize>load<i32>(nodesPtr + (<usize>node << 4), 12) << 3);
  for (let j = 0; j < K; j++) {
    const a = sum + (<usize>j << 3);
    store<f64>(a, load<f64>(a) + load<f64>(v + (<usize>j << 3)));
  }
}
@inline function root(t: i32): i32 {
  return load<i32>(rootsPtr + (<usize>t << 2));
}

/**
 * The summed leaf vectors of the first row of the rows region into the first K sums. Four trees are
 * walked side by side: each level of a walk is a load from a different place in a forest larger than
 * the first-level cache, and four independent walks let the processor wait for four loads at once.
 * Leaves are still added in tree order.
 */
export function sumRow(): void {
  const row = rowsPtr;
  const sum = sumsPtr;
  for (let j = 0; j < K; j++) store<f64>(sum + (<usize>j << 3), 0);
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    let a = root(t);
    let b = root(t + 1);
    let c = root(t + 2);
    let d = root(t + 3);
    let ma = meta(a);
    let mb = meta(b);
    let mc = meta(c);
    let md = meta(d);
    // The AND of the four meta words is negative only when all four walks are at leaves.
    while ((ma & mb & mc & md) >= 0) {
      if (ma >= 0) {
        a = child(row, a, ma);
        ma = meta(a);
      }
      if (mb >= 0) {
        b = child(row, b, mb);
        mb = meta(b);
      }
      if (mc >= 0) {
        c = child(row, c, mc);
        mc = meta(c);
      }
      if (md >= 0) {
        d = child(row, d, md);
        md = meta(d);
      }
    }
    addLeaf(sum, a);
    addLeaf(sum, b);
    addLeaf(sum, c);
    addLeaf(sum, d);
  }
  for (; t < T; t++) addLeaf(sum, leafOf(row, root(t)));
}

/**
 * The summed leaf vectors of the first `n` rows (`width` values each) into the sums region: tree by
 * tree, so one tree's nodes stay in cache for every row, with four rows walked side by side. Each
 * row still adds its leaves in tree order, so its sums are those of sumRow, bit for bit.
 */
export function sumRows(n: i32, width: i32): void {
  const stride = <usize>width << 3;
  const sumStride = <usize>K << 3;
  for (let i: usize = 0, end = <usize>n * <usize>K; i < end; i++) store<f64>(sumsPtr + (i << 3), 0);
  for (let t = 0; t < T; t++) {
    const r0 = root(t);
    const m0 = meta(r0);
    let r = 0;
    for (; r + 4 <= n; r += 4) {
      const ra = rowsPtr + <usize>r * stride;
      const rb = ra + stride;
      const rc = rb + stride;
      const rd = rc + stride;
      let a = r0;
      let b = r0;
      let c = r0;
      let d = r0;
      let ma = m0;
      let mb = m0;
      let mc = m0;
      let md = m0;
      while ((ma & mb & mc & md) >= 0) {
        if (ma >= 0) {
          a = child(ra, a, ma);
          ma = meta(a);
        }
        if (mb >= 0) {
          b = child(rb, b, mb);
          mb = meta(b);
        }
        if (mc >= 0) {
          c = child(rc, c, mc);
          mc = meta(c);
        }
        if (md >= 0) {
          d = child(rd, d, md);
          md = meta(d);
        }
      }
      const s = sumsPtr + <usize>r * sumStride;
      addLeaf(s, a);
      addLeaf(s + sumStride, b);
      addLeaf(s + 2 * sumStride, c);
      addLeaf(s + 3 * sumStride, d);
    }
    for (; r < n; r++) addLeaf(sumsPtr + <usize>r * sumStride, leafOf(rowsPtr + <usize>r * stride, r0));
  }
}
