// AssemblyScript, not TypeScript: compiled to WebAssembly by scripts/build-wasm.mjs, which embeds the
// binary in pipeline/train/forest-grower-wasm.ts. pipeline/train/forest-grower.ts is the only caller.
//
// Grows one random-forest member on presorted rows, the exact CART of scikit-learn's splitter without its
// per-node sorting: every feature keeps the node's rows in value order, a drawn feature is searched in
// one pass over its run, and a split partitions every feature's run stably, so both children stay
// sorted. Why WebAssembly: these loops are loads and stores on typed arrays, which V8's JIT runs 2 to 3
// times slower than the same loops compiled ahead of time (measured: README, "Forests and boosting in WebAssembly").
//
// Memory is laid out here; the caller writes the job's data and each tree's sample through the pointers
// returned by setJob and prepareTree, and reads the tree back through the out* pointers.

import { addF64, align8, ensureMemory, f64At, i32At, setF64, setI32 } from "./memory";

@external("env", "draw")
declare function draw(n: i32): i32;

const CLASS_BITS: u32 = 8;
const CLASS_MASK: i32 = 255;
const ALL_PRESENT: f64 = f64.MAX_VALUE;
const MISSING: i32 = 0x7fffffff;

// The job: F features of N rows, K classes.
let F: i32 = 0;
let N: i32 = 0;
let K: i32 = 0;
let S: i32 = 0;
let ranksPtr: usize = 0; // i32 [F][N]: index of the row's value among its feature's distinct values; MISSING when missing
let ordersPtr: usize = 0; // i32 [F][N], rows by ascending value, missing last
let distinctPtr: usize = 0; // f64 [F][N]: each feature's distinct values, ascending (a row of N, the first ones used)
let yPtr: usize = 0; // i32 [N]
let classWeightPtr: usize = 0; // f64 [K]
let localPtr: usize = 0; // i32 [N]: a row's local id in the current tree, -1 when out of its sample
let jobEnd: usize = 0;

// The tree: n sampled rows.
let n: i32 = 0;
let rowsPtr: usize = 0; // i32 [n], ascending
let countPtr: usize = 0; // i32 [n]
// Per feature, the sample's rows as i64 entries rank << 32 | local id (0..n-1), in value order within
// each node's run. Two buffers: a node at even depth reads A and writes its children's runs into B at the
// same positions, and the other way round at odd depths, so a partition writes each entry once, straight
// to its place.
let entriesA: usize = 0; // i64 [F][stride]
let entriesB: usize = 0; // i64 [F][stride]
/** n + 1: each feature's entries end with a slot that takes the writes of rows outside the sample. */
let stride: i32 = 0;
let entriesCur: usize = 0; // the buffer of the node being split
let entriesNext: usize = 0;
let lycPtr: usize = 0; // i32 [n]: count << CLASS_BITS | class
let goLeftPtr: usize = 0; // u8 [n]
let featureOrderPtr: usize = 0; // i32 [F]
let stackPtr: usize = 0; // tasks of taskBytes() bytes: id, start, end, depth (i32), then the totals (f64 [S])
let curPtr: usize = 0; // f64 [S]: totals of the node being split
let accPtr: usize = 0;
let missPtr: usize = 0;
let leftPtr: usize = 0;
let bestLeftPtr: usize = 0;
let capacity: i32 = 0;
let outFeaturePtr: usize = 0; // i32 [capacity]
let outThresholdPtr: usize = 0; // f64 [capacity]
let outLeftPtr: usize = 0; // i32 [capacity]
let outRightPtr: usize = 0; // i32 [capacity]
let outMissingLeftPtr: usize = 0; // u8 [capacity]
let outValuePtr: usize = 0; // f64 [capacity][K]
let outNPtr: usize = 0; // f64 [capacity]
let nodes: i32 = 0;

// Growth parameters.
let maxDepth: i32 = 0;
let minSplit: f64 = 0;
let minLeaf: f64 = 0;
let maxFeatures: i32 = 0;
let entropy: bool = false;

// The best split of the current node.
let bestScore: f64 = 0;
let bestFeature: i32 = -1;
let bestThreshold: f64 = 0;
/** The largest rank sent left (present values); the rule x <= bestThreshold on ranks. */
let bestRank: i32 = 0;
let bestMissingLeft: i32 = 0;

@inline function idAt(entries: usize, i: i32): i32 {
  return <i32>load<i64>(entries + (<usize>i << 3));
}
@inline function rankAt(entries: usize, i: i32): i32 {
  return <i32>(load<i64>(entries + (<usize>i << 3)) >>> 32);
}



/** Lays out the job's arrays; returns where the distinct values go (ranks, orders, y, class weights at their *At()). */
export function setJob(features: i32, rows: i32, classes: i32): usize {
  F = features;
  N = rows;
  K = classes;
  S = classes + 1;
  distinctPtr = align8(__heap_base);
  ranksPtr = distinctPtr + (<usize>F * <usize>N << 3);
  ordersPtr = ranksPtr + (<usize>F * <usize>N << 2);
  yPtr = ordersPtr + (<usize>F * <usize>N << 2);
  classWeightPtr = align8(yPtr + (<usize>N << 2));
  localPtr = classWeightPtr + (<usize>K << 3);
  jobEnd = align8(localPtr + (<usize>N << 2));
  ensureMemory(jobEnd);
  for (let i = 0; i < N; i++) setI32(localPtr, i, -1);
  return distinctPtr;
}

export function ranksAt(): usize {
  return ranksPtr;
}

export function ordersAt(): usize {
  return ordersPtr;
}
export function yAt(): usize {
  return yPtr;
}
export function classWeightAt(): usize {
  return classWeightPtr;
}

/** Lays out a tree of `rows` sampled rows; returns where the caller writes their ids (then their counts at countAt). */
export function prepareTree(rows: i32): usize {
  n = rows;
  stride = rows + 1;
  capacity = 2 * rows + 1;
  let p = jobEnd;
  rowsPtr = p;
  p += <usize>n << 2;
  countPtr = p;
  p = align8(p + (<usize>n << 2));
  curPtr = p;
  p += <usize>S << 3;
  accPtr = p;
  p += <usize>S << 3;
  missPtr = p;
  p += <usize>S << 3;
  leftPtr = p;
  p += <usize>S << 3;
  bestLeftPtr = p;
  p += <usize>S << 3;
  outThresholdPtr = p;
  p += <usize>capacity << 3;
  outValuePtr = p;
  p += <usize>capacity * <usize>K << 3;
  outNPtr = p;
  p += <usize>capacity << 3;
  stackPtr = p;
  p += <usize>(capacity + 1) * taskBytes();
  entriesA = p;
  p += <usize>F * <usize>stride << 3;
  entriesB = p;
  p += <usize>F * <usize>stride << 3;
  lycPtr = p;
  p += <usize>n << 2;
  featureOrderPtr = p;
  p += <usize>F << 2;
  outFeaturePtr = p;
  p += <usize>capacity << 2;
  outLeftPtr = p;
  p += <usize>capacity << 2;
  outRightPtr = p;
  p += <usize>capacity << 2;
  goLeftPtr = p;
  p += <usize>n;
  outMissingLeftPtr = p;
  p += <usize>capacity;
  ensureMemory(p);
  return rowsPtr;
}

export function countAt(): usize {
  return countPtr;
}
export function outFeatureAt(): usize {
  return outFeaturePtr;
}
export function outThresholdAt(): usize {
  return outThresholdPtr;
}
export function outLeftAt(): usize {
  return outLeftPtr;
}
export function outRightAt(): usize {
  return outRightPtr;
}
export function outMissingLeftAt(): usize {
  return outMissingLeftPtr;
}
export function outValueAt(): usize {
  return outValuePtr;
}
export function outNAt(): usize {
  return outNPtr;
}

@inline function taskBytes(): usize {
  return 16 + (<usize>S << 3);
}

/** Builds the tree's sorted runs from the job's orders (filtered to the sample), then grows it; returns its node count. */
export function grow(depthLimit: i32, minSamplesSplit: f64, minSamplesLeaf: f64, featuresPerSplit: i32, useEntropy: bool): i32 {
  maxDepth = depthLimit;
  minSplit = minSamplesSplit;
  minLeaf = minSamplesLeaf;
  maxFeatures = featuresPerSplit;
  entropy = useEntropy;
  for (let j = 0; j < n; j++) setI32(localPtr, i32At(rowsPtr, j), j);
  for (let f = 0; f < F; f++) {
    const order = ordersPtr + (<usize>f * <usize>N << 2);
    const entries = entriesA + (<usize>f * <usize>stride << 3);
    const ranks = ranksPtr + (<usize>f * <usize>N << 2);
    // Every row is written, the sample's at the next place and the others to the spare slot: a branch on
    // "in the sample" (63% of rows in a bootstrap, at random) would mispredict a third of the time.
    let k = 0;
    for (let i = 0; i < N; i++) {
      const row = i32At(order, i);
      const j = i32At(localPtr, row);
      const inSample = j >= 0;
      store<i64>(entries + (<usize>(inSample ? k : n) << 3), (<i64>i32At(ranks, row) << 32) | <i64>(<u32>j));
      k += <i32>inSample;
    }
    setI32(featureOrderPtr, f, f);
  }
  for (let j = 0; j < n; j++) {
    const row = i32At(rowsPtr, j);
    setI32(localPtr, row, -1);
    setI32(lycPtr, j, (i32At(countPtr, j) << CLASS_BITS) | i32At(yPtr, row));
  }

  nodes = 0;
  const root = newNode();
  // The root's totals go straight into its task.
  let sp = 0;
  const rootTask = stackPtr;
  store<i32>(rootTask, root);
  store<i32>(rootTask, 0, 4);
  store<i32>(rootTask, n, 8);
  store<i32>(rootTask, 0, 12);
  const rootTotals = rootTask + 16;
  for (let s = 0; s < S; s++) setF64(rootTotals, s, 0);
  for (let j = 0; j < n; j++) {
    const code = i32At(lycPtr, j);
    const c = <f64>(code >>> CLASS_BITS);
    const y = code & CLASS_MASK;
    addF64(rootTotals, y, f64At(classWeightPtr, y) * c);
    addF64(rootTotals, K, c);
  }
  sp = 1;
  const tb = taskBytes();
  while (sp > 0) {
    sp--;
    const task = stackPtr + <usize>sp * tb;
    const id = load<i32>(task);
    const start = load<i32>(task, 4);
    const end = load<i32>(task, 8);
    const depth = load<i32>(task, 12);
    memory.copy(curPtr, task + 16, <usize>S << 3);
    entriesCur = (depth & 1) == 0 ? entriesA : entriesB;
    entriesNext = (depth & 1) == 0 ? entriesB : entriesA;
    if (n == 0 || stopsGrowing(curPtr, depth)) {
      makeLeaf(id, curPtr);
      continue;
    }
    search(start, end);
    if (bestFeature < 0) {
      makeLeaf(id, curPtr);
      continue;
    }
    const leftId = newNode();
    const rightId = newNode();
    setI32(outFeaturePtr, id, bestFeature);
    setF64(outThresholdPtr, id, bestThreshold);
    setI32(outLeftPtr, id, leftId);
    setI32(outRightPtr, id, rightId);
    store<u8>(outMissingLeftPtr + <usize>id, <u8>bestMissingLeft);
    setF64(outNPtr, id, weightOf(curPtr));
    // Children's totals: the best split's left side, and the node's less it.
    const rightTask = stackPtr + <usize>sp * tb;
    const leftTask = rightTask + tb;
    const rightTotals = rightTask + 16;
    const leftTotals = leftTask + 16;
    for (let s = 0; s < S; s++) {
      const l = f64At(bestLeftPtr, s);
      setF64(leftTotals, s, l);
      setF64(rightTotals, s, max(0, f64At(curPtr, s) - l));
    }
    const leftLeaf = stopsGrowing(leftTotals, depth + 1);
    const rightLeaf = stopsGrowing(rightTotals, depth + 1);
    // Children that will be leaves need no rows in order: when both are, the partition is skipped.
    if (leftLeaf && rightLeaf) {
      makeLeaf(leftId, leftTotals);
      makeLeaf(rightId, rightTotals);
      continue;
    }
    const mid = partition(start, end);
    // Right below left on the stack: the left subtree is grown first.
    store<i32>(rightTask, rightId);
    store<i32>(rightTask, mid, 4);
    store<i32>(rightTask, end, 8);
    store<i32>(rightTask, depth + 1, 12);
    store<i32>(leftTask, leftId);
    store<i32>(leftTask, start, 4);
    store<i32>(leftTask, mid, 8);
    store<i32>(leftTask, depth + 1, 12);
    sp += 2;
  }
  return nodes;
}

function newNode(): i32 {
  const id = nodes++;
  setI32(outFeaturePtr, id, -1);
  setF64(outThresholdPtr, id, 0);
  setI32(outLeftPtr, id, -1);
  setI32(outRightPtr, id, -1);
  store<u8>(outMissingLeftPtr + <usize>id, 0);
  setF64(outNPtr, id, 0);
  const v = outValuePtr + (<usize>id * <usize>K << 3);
  for (let k = 0; k < K; k++) setF64(v, k, 0);
  return id;
}

function weightOf(totals: usize): f64 {
  let w: f64 = 0;
  for (let k = 0; k < K; k++) w += f64At(totals, k);
  return w;
}

function makeLeaf(id: i32, totals: usize): void {
  const w = weightOf(totals);
  const v = outValuePtr + (<usize>id * <usize>K << 3);
  for (let k = 0; k < K; k++) setF64(v, k, w > 0 ? f64At(totals, k) / w : 1.0 / <f64>K);
  setI32(outFeaturePtr, id, -1);
  setF64(outNPtr, id, w);
}

function stopsGrowing(totals: usize, depth: i32): bool {
  const count = f64At(totals, K);
  if (depth >= maxDepth || count < minSplit || count < 2 * minLeaf) return true;
  const w = weightOf(totals);
  let present = 0;
  for (let k = 0; k < K; k++) if (f64At(totals, k) > 1e-12 * w) present++;
  return present <= 1;
}

/** The threshold between ranks a < b of feature f: the midpoint of their values. */
function thresholdBetween(f: i32, a: i32, b: i32): f64 {
  const values = distinctPtr + (<usize>f * <usize>N << 3);
  return midpoint(f64At(values, a), f64At(values, b));
}

function midpoint(a: f64, b: f64): f64 {
  const mid = a + (b - a) / 2;
  // The rounding case where the midpoint of two adjacent doubles equals the upper one.
  return mid >= b ? a : mid;
}

/** Random feature subset per node, drawn without replacement; more are drawn while no split is valid. */
function search(start: i32, end: i32): void {
  bestScore = -Infinity;
  bestFeature = -1;
  let informative = 0;
  for (let i = 0; i < F; i++) {
    const j = i + draw(F - i);
    const f = i32At(featureOrderPtr, j);
    setI32(featureOrderPtr, j, i32At(featureOrderPtr, i));
    setI32(featureOrderPtr, i, f);
    if (scan(f, start, end)) informative++;
    if (informative >= maxFeatures && bestFeature >= 0) return;
  }
}

/** Criterion score of a split with `left` on the left (higher is better), or -Infinity if min_samples_leaf forbids it. */
function splitScore(left: usize): f64 {
  const cL = f64At(left, K);
  const cR = f64At(curPtr, K) - cL;
  if (cL < minLeaf || cR < minLeaf) return -Infinity;
  let wL: f64 = 0;
  let wR: f64 = 0;
  if (entropy) {
    let score: f64 = 0;
    for (let k = 0; k < K; k++) {
      const a = f64At(left, k);
      const r = f64At(curPtr, k) - a;
      wL += a;
      wR += r;
      if (a > 0) score += a * Math.log(a);
      if (r > 0) score += r * Math.log(r);
    }
    if (wL <= 0 || wR <= 0) return -Infinity;
    return score - (wL * Math.log(wL) + wR * Math.log(wR));
  }
  let sL: f64 = 0;
  let sR: f64 = 0;
  for (let k = 0; k < K; k++) {
    const a = f64At(left, k);
    const r = f64At(curPtr, k) - a;
    wL += a;
    wR += r;
    sL += a * a;
    sR += r * r;
  }
  if (wL <= 0 || wR <= 0) return -Infinity;
  return sL / wL + sR / wR;
}

/** Keeps the split with `left` on the left if it scores best so far. */
function consider(f: i32, left: usize, rank: i32, next: i32, missingLeft: i32, hasMissing: bool): void {
  const sc = splitScore(left);
  if (!(sc > bestScore)) return;
  bestScore = sc;
  bestFeature = f;
  bestRank = rank;
  bestThreshold = next == MISSING ? ALL_PRESENT : thresholdBetween(f, rank, next);
  memory.copy(bestLeftPtr, left, <usize>S << 3);
  const wL = weightOf(left);
  const W = weightOf(curPtr);
  // Without missing values in the node, unseen missing values follow the heavier side.
  bestMissingLeft = missingLeft == 1 || (!hasMissing && wL >= W - wL) ? 1 : 0;
}

/**
 * Scores every cut between distinct values of feature f in the node, with its missing values (at the
 * run's end) sent right, then left; and "every present value left" when some are missing. Returns
 * whether the feature takes two or more groups (distinct values, missing as one) in the node.
 */
function scan(f: i32, start: i32, end: i32): bool {
  const E = entriesCur + (<usize>f * <usize>stride << 3);
  for (let s = 0; s < S; s++) {
    setF64(accPtr, s, 0);
    setF64(missPtr, s, 0);
  }
  let pe = end;
  while (pe > start) {
    if (rankAt(E, pe - 1) != MISSING) break;
    const code = i32At(lycPtr, idAt(E, pe - 1));
    const c = <f64>(code >>> CLASS_BITS);
    const y = code & CLASS_MASK;
    addF64(missPtr, y, f64At(classWeightPtr, y) * c);
    addF64(missPtr, K, c);
    pe--;
  }
  if (pe == start) return false;
  const hasMissing = f64At(missPtr, K) > 0;
  const last = rankAt(E, pe - 1);
  if (rankAt(E, start) == last) {
    if (!hasMissing) return false;
    for (let s = 0; s < S; s++) setF64(leftPtr, s, f64At(curPtr, s) - f64At(missPtr, s));
    consider(f, leftPtr, last, MISSING, 0, true);
    return true;
  }
  if (!hasMissing && !entropy) {
    if (K == 3) scanGini3(f, start, pe);
    else scanGiniPresent(f, start, pe);
    return true;
  }
  for (let q = start; q < pe - 1; q++) {
    const code = i32At(lycPtr, idAt(E, q));
    const c = <f64>(code >>> CLASS_BITS);
    const y = code & CLASS_MASK;
    addF64(accPtr, y, f64At(classWeightPtr, y) * c);
    addF64(accPtr, K, c);
    const v = rankAt(E, q);
    const next = rankAt(E, q + 1);
    if (next == v) continue;
    consider(f, accPtr, v, next, 0, hasMissing);
    if (hasMissing) {
      for (let s = 0; s < S; s++) setF64(leftPtr, s, f64At(accPtr, s) + f64At(missPtr, s));
      consider(f, leftPtr, v, next, 1, true);
    }
  }
  if (hasMissing) {
    for (let s = 0; s < S; s++) setF64(leftPtr, s, f64At(curPtr, s) - f64At(missPtr, s));
    consider(f, leftPtr, last, MISSING, 0, true);
  }
  return true;
}

/**
 * Makes the cut after position bestAt of feature f's run the best split; bestLeftPtr already holds its
 * left side (copied at each improvement, which happens a few times per scan).
 */
function takeBest(f: i32, bestAt: i32, best: f64, W: f64): void {
  const E = entriesCur + (<usize>f * <usize>stride << 3);
  bestScore = best;
  bestFeature = f;
  bestRank = rankAt(E, bestAt);
  bestThreshold = thresholdBetween(f, bestRank, rankAt(E, bestAt + 1));
  const w = weightOf(bestLeftPtr);
  bestMissingLeft = w >= W - w ? 1 : 0;
}

/** scan's hot path (gini, no missing values in the node): the score inlined, the best kept in locals. */
function scanGiniPresent(f: i32, start: i32, pe: i32): void {
  const E = entriesCur + (<usize>f * <usize>stride << 3);
  const total = f64At(curPtr, K);
  const W = weightOf(curPtr);
  let best = bestScore;
  let bestAt = -1;
  let cL: f64 = 0;
  let wL: f64 = 0;
  for (let q = start; q < pe - 1; q++) {
    const code = i32At(lycPtr, idAt(E, q));
    const c = <f64>(code >>> CLASS_BITS);
    const y = code & CLASS_MASK;
    const w = f64At(classWeightPtr, y) * c;
    addF64(accPtr, y, w);
    wL += w;
    cL += c;
    if (rankAt(E, q + 1) != rankAt(E, q) && cL >= minLeaf && total - cL >= minLeaf) {
      const wR = W - wL;
      if (wL > 0 && wR > 0) {
        let sL: f64 = 0;
        let sR: f64 = 0;
        for (let k = 0; k < K; k++) {
          const a = f64At(accPtr, k);
          const r = f64At(curPtr, k) - a;
          sL += a * a;
          sR += r * r;
        }
        const score = sL / wL + sR / wR;
        if (score > best) {
          best = score;
          bestAt = q;
          memory.copy(bestLeftPtr, accPtr, <usize>K << 3);
          setF64(bestLeftPtr, K, cL);
        }
      }
    }
  }
  if (bestAt >= 0) takeBest(f, bestAt, best, W);
}

/** scanGiniPresent for three classes, the class sums in locals. */
function scanGini3(f: i32, start: i32, pe: i32): void {
  const E = entriesCur + (<usize>f * <usize>stride << 3);
  const total = f64At(curPtr, 3);
  const t0 = f64At(curPtr, 0);
  const t1 = f64At(curPtr, 1);
  const t2 = f64At(curPtr, 2);
  const W = t0 + t1 + t2;
  let best = bestScore;
  let bestAt = -1;
  let cL: f64 = 0;
  let v = rankAt(E, start);
  // The class sums stay in memory (acc), indexed by class: a branch per class would mispredict.
  for (let q = start; q < pe - 1; q++) {
    const code = i32At(lycPtr, idAt(E, q));
    const c = <f64>(code >>> CLASS_BITS);
    const y = code & CLASS_MASK;
    addF64(accPtr, y, f64At(classWeightPtr, y) * c);
    cL += c;
    const next = rankAt(E, q + 1);
    if (next != v) {
      v = next;
      if (cL >= minLeaf && total - cL >= minLeaf) {
        const a0 = f64At(accPtr, 0);
        const a1 = f64At(accPtr, 1);
        const a2 = f64At(accPtr, 2);
        const wL = a0 + a1 + a2;
        const wR = W - wL;
        if (wL > 0 && wR > 0) {
          const r0 = t0 - a0;
          const r1 = t1 - a1;
          const r2 = t2 - a2;
          const score = (a0 * a0 + a1 * a1 + a2 * a2) / wL + (r0 * r0 + r1 * r1 + r2 * r2) / wR;
          if (score > best) {
            best = score;
            bestAt = q;
            setF64(bestLeftPtr, 0, a0);
            setF64(bestLeftPtr, 1, a1);
            setF64(bestLeftPtr, 2, a2);
            setF64(bestLeftPtr, 3, cL);
          }
        }
      }
    }
  }
  if (bestAt >= 0) takeBest(f, bestAt, best, W);
}

/**
 * Stable partition of every feature's run [start, end) by the best split, rows going left first; returns
 * the split point. Writes go to both sides and the cursor advances by the rule: no branch on it.
 */
function partition(start: i32, end: i32): i32 {
  const f = bestFeature;
  const rank = bestRank;
  const missL = bestMissingLeft;
  const E = entriesCur + (<usize>f * <usize>stride << 3);
  let nLeft = 0;
  for (let q = start; q < end; q++) {
    const v = rankAt(E, q);
    const g: i32 = v == MISSING ? missL : v <= rank ? 1 : 0;
    store<u8>(goLeftPtr + <usize>idAt(E, q), <u8>g);
    nLeft += g;
  }
  const mid = start + nLeft;
  for (let g = 0; g < F; g++) {
    const from = entriesCur + (<usize>g * <usize>stride << 3);
    const to = entriesNext + (<usize>g * <usize>stride << 3);
    // The split feature's run needs no partition when missing values go right: left is its prefix.
    if (g == f && missL == 0) {
      memory.copy(to + (<usize>start << 3), from + (<usize>start << 3), <usize>(end - start) << 3);
      continue;
    }
    let l = start;
    let r = mid;
    for (let q = start; q < end; q++) {
      const e = load<i64>(from + (<usize>q << 3));
      const b = <i32>load<u8>(goLeftPtr + <usize>(<i32>e));
      const at = b != 0 ? l : r;
      store<i64>(to + (<usize>at << 3), e);
      l += b;
      r += 1 - b;
    }
  }
  return mid;
}
