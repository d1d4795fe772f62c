// AssemblyScript, not TypeScript: compiled to WebAssembly by scripts/build-wasm.mjs, which embeds the
// binary in pipeline/train/boosting-grower-wasm.ts. pipeline/train/boosting-grower.ts is the only caller.
//
// A gradient-boosting fit's per-iteration work, on one shared memory that every thread of the fit imports
// (each thread has its own instance, so its own globals, and its own region of that memory):
//   - the softmax gradients and hessians of a range of rows, for every class (softmaxGradients in
//     pipeline/train/boosting.ts, with the same exp and every operation in the same order);
//   - one class's regression tree, step for step what GradientTreeGrower.grow does (best-first on
//     histograms of (gradient, hessian, count) per bin, the smaller child built and the larger derived
//     from the parent, splits scored with missing values sent either way), every sum in the same order:
//     the trees are bit for bit the JavaScript grower's (tested);
//   - that tree's leaf values added to the class's raw scores of the training and the validation rows,
//     and the validation loss (softmaxLoss).
// Why WebAssembly: these loops are loads and stores on typed arrays, which V8's JIT runs about twice as
// slowly as the same loops compiled ahead of time. Why one shared memory: a thread reads the gradients the
// others computed and the trees they grew where they are, nothing is copied or posted.

import { addF64, align8, ensureMemory, f64At, i32At, setF64, setI32 } from "./memory";

// Math.exp and Math.log of the host: the JavaScript fit's own, so results match it bit for bit.
@external("env", "exp") declare function hostExp(x: f64): f64;
@external("env", "log") declare function hostLog(x: f64): f64;

const MIN_HESSIAN: f64 = 1e-3;

// The job (set once per fit, the same in every thread): n training rows, nv validation rows, F features, K classes.
let F: i32 = 0;
let n: i32 = 0;
let nv: i32 = 0;
let K: i32 = 0;
let histSize: i32 = 0;
let maxLeaves: i32 = 0;
let maxDepth: i32 = 0;
let minSamplesLeaf: f64 = 0;
let l2: f64 = 0;
let learningRate: f64 = 0;

// Shared by the threads (written by the calling thread before the first iteration, unless noted).
let constsPtr: usize = 0; // f64 [8]: expNonPositive's constants, from JavaScript
let expTablePtr: usize = 0; // f64 [256]: 2^(j/256)
let pow2Ptr: usize = 0; // f64 [1100]: 2^(e - 1075)
let rawPtr: usize = 0; // f64 [K][n], class-major (a class's column is written by one thread only)
let ghBasePtr: usize = 0; // f32 [K][n][2]: gradient, hessian (written by every thread, for its rows)
let wPtr: usize = 0; // f64 [n]
let yPtr: usize = 0; // i32 [n]
let validRawPtr: usize = 0; // f64 [K][nv]
let validWPtr: usize = 0; // f64 [nv]
let validYPtr: usize = 0; // i32 [nv]
let lossTermPtr: usize = 0; // f64 [nv]: each validation row's weighted loss (written by the threads, for their rows)
let validCodesPtr: usize = 0; // u8 [nv][F]
let featOffPtr: usize = 0; // i32 [F]: histogram offset (doubles) of each feature; its bins are 3 doubles each
let nBinsPtr: usize = 0; // i32 [F]: value bins; code nBins is missing
let rootTemplatePtr: usize = 0; // f64 [histSize]: zero sums and every bin's row count
let codesPtr: usize = 0; // u8 [n][F], row-major: what the histograms read (a row's codes in one cache line)
let columnsPtr: usize = 0; // u8 [F][n], the same codes column-major: what a split's partition reads

// expNonPositive's constants (read from constsPtr when a pass starts).
let expScale: f64 = 0;
let ln2Hi: f64 = 0;
let ln2Lo: f64 = 0;
let c6: f64 = 0;
let c24: f64 = 0;
let c120: f64 = 0;

// This thread's own region.
let ghPtr: usize = 0; // the gradients of the tree being grown
let probaPtr: usize = 0; // f64 [K][2]
let idxPtr: usize = 0; // i32 [n]
let tmpPtr: usize = 0; // i32 [n]
let goLeftPtr: usize = 0; // u8 [256]
let splitScratchPtr: usize = 0; // two leaves' searchSplits results (HELP_RESULT's layout)
let treeRefPtr: usize = 0; // i32 [6]: the tree's node arrays: feature, bin, left, right, missing left, value
let poolPtr: usize = 0; // f64 [poolSize][histSize]
let poolFreePtr: usize = 0; // i32 [poolSize]: free histogram slots
let poolFree: i32 = 0;
let poolSize: i32 = 0;

// Leaves (at most 2 * maxLeaves - 1 ever exist in a tree), as parallel arrays.
let leafCapacity: i32 = 0;
let leafNodePtr: usize = 0; // i32
let leafStartPtr: usize = 0; // i32
let leafEndPtr: usize = 0; // i32
let leafDepthPtr: usize = 0; // i32
let leafGPtr: usize = 0; // f64
let leafHPtr: usize = 0; // f64
let leafCPtr: usize = 0; // f64
let leafHistPtr: usize = 0; // i32: pool slot, -1 = none
let splitGainPtr: usize = 0; // f64
let splitFeaturePtr: usize = 0; // i32, -1 = no split
let splitBinPtr: usize = 0; // i32
let splitMissingLeftPtr: usize = 0; // i32
let splitGLPtr: usize = 0; // f64
let splitHLPtr: usize = 0; // f64
let openPtr: usize = 0; // i32 leaf ids, in the order the JavaScript grower keeps them
let openCount: i32 = 0;
let donePtr: usize = 0; // i32 leaf ids
let doneCount: i32 = 0;
let leafCount: i32 = 0;

// The tree.
let nodes: i32 = 0;
let work: f64 = 0; // rows its histograms and partitions went through
let outFeaturePtr: usize = 0; // i32
let outBinPtr: usize = 0; // i32
let outLeftPtr: usize = 0; // i32
let outRightPtr: usize = 0; // i32
let outMissingLeftPtr: usize = 0; // i32
let outValuePtr: usize = 0; // f64
let outCountPtr: usize = 0; // f64
let outRangesPtr: usize = 0; // i32 [leaves][3]: node, start, end, by node

/** Lays out a thread's own region from p (8-aligned); returns its end. */
function layoutThread(start: usize): usize {
  let p = start;
  poolPtr = p;
  p += (<usize>histSize * <usize>poolSize) << 3;
  probaPtr = p;
  p += <usize>K << 4; // two rows' terms per class
  leafGPtr = p;
  p += <usize>leafCapacity << 3;
  leafHPtr = p;
  p += <usize>leafCapacity << 3;
  leafCPtr = p;
  p += <usize>leafCapacity << 3;
  splitGainPtr = p;
  p += <usize>leafCapacity << 3;
  splitGLPtr = p;
  p += <usize>leafCapacity << 3;
  splitHLPtr = p;
  p += <usize>leafCapacity << 3;
  outValuePtr = p;
  p += <usize>leafCapacity << 3;
  outCountPtr = p;
  p += <usize>leafCapacity << 3;
  idxPtr = p;
  p += <usize>n << 2;
  tmpPtr = p;
  p += <usize>n << 2;
  poolFreePtr = p;
  p += <usize>poolSize << 2;
  leafNodePtr = p;
  p += <usize>leafCapacity << 2;
  leafStartPtr = p;
  p += <usize>leafCapacity << 2;
  leafEndPtr = p;
  p += <usize>leafCapacity << 2;
  leafDepthPtr = p;
  p += <usize>leafCapacity << 2;
  leafHistPtr = p;
  p += <usize>leafCapacity << 2;
  splitFeaturePtr = p;
  p += <usize>leafCapacity << 2;
  splitBinPtr = p;
  p += <usize>leafCapacity << 2;
  splitMissingLeftPtr = p;
  p += <usize>leafCapacity << 2;
  openPtr = p;
  p += <usize>leafCapacity << 2;
  donePtr = p;
  p += <usize>leafCapacity << 2;
  outFeaturePtr = p;
  p += <usize>leafCapacity << 2;
  outBinPtr = p;
  p += <usize>leafCapacity << 2;
  outLeftPtr = p;
  p += <usize>leafCapacity << 2;
  outRightPtr = p;
  p += <usize>leafCapacity << 2;
  outMissingLeftPtr = p;
  p += <usize>leafCapacity << 2;
  outRangesPtr = p;
  p += (<usize>leafCapacity * 3) << 2;
  goLeftPtr = p;
  p += 256;
  splitScratchPtr = p;
  p += 2 * HELP_RESULT_SIZE;
  treeRefPtr = p;
  p += 24;
  // A cache line between regions, so that two threads never write the same one.
  return align8(p) + 64;
}

/**
 * Lays out a fit of `rows` training and `validRows` validation rows, `features` features, `classes`
 * classes and `size` histogram doubles, on `threads` threads, for thread `thread` (0 = the caller, which
 * fills the shared part; see the *At getters), and grows the memory to hold it all.
 */
export function setJob(features: i32, rows: i32, validRows: i32, classes: i32, threads: i32, thread: i32, size: i32, leaves: i32, depth: i32, minLeaf: f64, l2Reg: f64, lr: f64): void {
  F = features;
  n = rows;
  nv = validRows;
  K = classes;
  histSize = size;
  maxLeaves = leaves;
  maxDepth = depth;
  minSamplesLeaf = minLeaf;
  l2 = l2Reg;
  learningRate = lr;
  leafCapacity = 2 * leaves + 1;
  // Live histograms: one per open leaf, plus a split's parent and its new child.
  poolSize = leaves + 3;
  // The help block first, on cache lines of its own.
  let p = (__heap_base + 63) & ~(<usize>63);
  helpPtr = p;
  p += HELP_BLOCK;
  constsPtr = p;
  p += 8 << 3;
  expTablePtr = p;
  p += 256 << 3;
  pow2Ptr = p;
  p += 1100 << 3;
  rootTemplatePtr = p;
  p += <usize>histSize << 3;
  rawPtr = p;
  p += (<usize>K * <usize>n) << 3;
  ghBasePtr = p;
  p += (<usize>K * <usize>n) << 3;
  wPtr = p;
  p += <usize>n << 3;
  validRawPtr = p;
  p += (<usize>K * <usize>nv) << 3;
  validWPtr = p;
  p += <usize>nv << 3;
  lossTermPtr = p;
  p += <usize>nv << 3;
  yPtr = p;
  p += <usize>n << 2;
  validYPtr = p;
  p += <usize>nv << 2;
  featOffPtr = p;
  p += <usize>F << 2;
  nBinsPtr = p;
  p += <usize>F << 2;
  validCodesPtr = p;
  p += <usize>nv * <usize>F;
  codesPtr = p;
  p += <usize>n * <usize>F;
  columnsPtr = p;
  p += <usize>n * <usize>F;
  p = align8(p) + 64;
  const one = layoutThread(0);
  ensureMemory(p + one * <usize>threads);
  layoutThread(p + one * <usize>thread);
}

/** The help block (HELP_STOP is its fourth i32). */
export function helpAt(): usize {
  return helpPtr;
}
export function constsAt(): usize {
  return constsPtr;
}
export function expTableAt(): usize {
  return expTablePtr;
}
export function pow2At(): usize {
  return pow2Ptr;
}
export function rawAt(): usize {
  return rawPtr;
}
export function ghAt(k: i32): usize {
  return ghBasePtr + ((<usize>k * <usize>n) << 3);
}
export function wAt(): usize {
  return wPtr;
}
export function yAt(): usize {
  return yPtr;
}
export function validRawAt(): usize {
  return validRawPtr;
}
export function validWAt(): usize {
  return validWPtr;
}
export function validYAt(): usize {
  return validYPtr;
}
export function validCodesAt(): usize {
  return validCodesPtr;
}
export function featOffAt(): usize {
  return featOffPtr;
}
export function nBinsAt(): usize {
  return nBinsPtr;
}
export function rootTemplateAt(): usize {
  return rootTemplatePtr;
}
export function codesAt(): usize {
  return codesPtr;
}
export function columnsAt(): usize {
  return columnsPtr;
}
export function outFeatureAt(): usize {
  return outFeaturePtr;
}
export function outBinAt(): usize {
  return outBinPtr;
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
export function outCountAt(): usize {
  return outCountPtr;
}
export function outRangesAt(): usize {
  return outRangesPtr;
}
export function idxAt(): usize {
  return idxPtr;
}
/** The rows the last tree's histograms and partitions went through: what it cost, up to a factor (the same with or without help). */
export function treeWork(): f64 {
  return work;
}
/** Leaves of the last tree (its ranges: node, start, end each). */
export function leavesGrown(): i32 {
  return doneCount;
}

function readConstants(): void {
  expScale = f64At(constsPtr, 0);
  ln2Hi = f64At(constsPtr, 1);
  ln2Lo = f64At(constsPtr, 2);
  c6 = f64At(constsPtr, 3);
  c24 = f64At(constsPtr, 4);
  c120 = f64At(constsPtr, 5);
}

/** expNonPositive of pipeline/train/boosting.ts, the same operations on the same constants and tables. */
@inline function expNonPositive(x: f64): f64 {
  if (!(x > -700.0)) return hostExp(x);
  const m = <i32>(x * expScale - 0.5);
  const mf = <f64>m;
  const r = x - mf * ln2Hi - mf * ln2Lo;
  const q = 1.0 + r * (1.0 + r * (0.5 + r * (c6 + r * (c24 + r * c120))));
  return f64At(pow2Ptr, (m >> 8) + 1075) * f64At(expTablePtr, m & 255) * q;
}

/** expNonPositive of two values at once, lane by lane the same operations (both must be > -700). */
@inline function expNonPositive2(x: v128): v128 {
  const mi = i32x4.trunc_sat_f64x2_s_zero(f64x2.sub(f64x2.mul(x, f64x2.splat(expScale)), f64x2.splat(0.5)));
  const mf = f64x2.convert_low_i32x4_s(mi);
  const r = f64x2.sub(f64x2.sub(x, f64x2.mul(mf, f64x2.splat(ln2Hi))), f64x2.mul(mf, f64x2.splat(ln2Lo)));
  let q = f64x2.add(f64x2.splat(c24), f64x2.mul(r, f64x2.splat(c120)));
  q = f64x2.add(f64x2.splat(c6), f64x2.mul(r, q));
  q = f64x2.add(f64x2.splat(0.5), f64x2.mul(r, q));
  q = f64x2.add(f64x2.splat(1.0), f64x2.mul(r, q));
  q = f64x2.add(f64x2.splat(1.0), f64x2.mul(r, q));
  const m0 = i32x4.extract_lane(mi, 0);
  const m1 = i32x4.extract_lane(mi, 1);
  const tab = f64x2.replace_lane(f64x2.splat(f64At(expTablePtr, m0 & 255)), 1, f64At(expTablePtr, m1 & 255));
  // pow2[(m >> 8) + 1075] * tab * q, with the power of two added to the exponent bits instead: for
  // x > -700 the result is at least 2^-1010, a normal double, so scaling by a power of two before or
  // after the rounding of tab * q gives the same bits.
  const scale = i64x2.shl(i64x2.extend_low_i32x4_s(i32x4.shr_s(mi, 8)), 52);
  return i64x2.add(f64x2.mul(tab, q), scale);
}

/**
 * softmaxGradients: every class's gradient and hessian of rows [start, end), two rows at a time (a
 * class's raw scores of two rows are adjacent). Every lane does the scalar pass's operations in its order:
 * the largest score's term is exp(0), which expNonPositive gives as exactly 1, as the scalar pass takes it.
 */
export function gradients(start: i32, end: i32): void {
  readConstants();
  const p = probaPtr;
  const stride = <usize>n << 3;
  const low = f64x2.splat(-700.0);
  let i = start;
  for (; i + 2 <= end; i += 2) {
    const at = rawPtr + (<usize>i << 3);
    let max = v128.load(at);
    for (let k = 1; k < K; k++) {
      const v = v128.load(at + <usize>k * stride);
      max = v128.bitselect(v, max, f64x2.gt(v, max));
    }
    let s = f64x2.splat(0);
    let far = false;
    for (let k = 0; k < K; k++) {
      const x = f64x2.sub(v128.load(at + <usize>k * stride), max);
      if (!i64x2.all_true(f64x2.gt(x, low))) {
        far = true;
        break;
      }
      const e = expNonPositive2(x);
      v128.store(p + (<usize>k << 4), e);
      s = f64x2.add(s, e);
    }
    if (far) {
      gradientsScalar(i, i + 2);
      continue;
    }
    const w2 = v128.load(wPtr + (<usize>i << 3));
    const y0 = i32At(yPtr, i);
    const y1 = i32At(yPtr, i + 1);
    let g = ghBasePtr + (<usize>i << 3);
    for (let k = 0; k < K; k++, g += stride) {
      const pk = f64x2.div(v128.load(p + (<usize>k << 4)), s);
      const one = f64x2.replace_lane(f64x2.splat(y0 == k ? 1.0 : 0.0), 1, y1 == k ? 1.0 : 0.0);
      const grad = f32x4.demote_f64x2_zero(f64x2.mul(w2, f64x2.sub(pk, one)));
      const hess = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.mul(w2, pk), f64x2.sub(f64x2.splat(1.0), pk)));
      v128.store(g, v128.shuffle<i32>(grad, hess, 0, 4, 1, 5));
    }
  }
  gradientsScalar(i, end);
}

/**
 * The next iteration's gradients of rows [start, end), with the helper of the last tree taking rows
 * [mid, end) when it is there (every row's gradients depend on that row alone).
 */
export function sharedGradients(start: i32, mid: i32, end: i32): void {
  if (!helped) {
    gradients(start, end);
    return;
  }
  const seq = request(OP_GRADIENTS);
  setI32(helpPtr, HELP_START >> 2, mid);
  setI32(helpPtr, HELP_END >> 2, end);
  atomic.store<i32>(helpPtr + HELP_SEQ, seq);
  gradients(start, mid);
  awaitHelper(seq);
}

/** The first class with the largest of a row's K scores (at, at + stride, ...). */
@inline function topClass(at: usize, stride: usize): i32 {
  let top = 0;
  let max = load<f64>(at);
  for (let k = 1; k < K; k++) {
    const v = load<f64>(at + <usize>k * stride);
    if (v > max) {
      max = v;
      top = k;
    }
  }
  return top;
}

/** The gradients of rows [start, end) one row at a time (softmaxGradients): a pair's tail, or a pair with a score beyond the tables. */
function gradientsScalar(start: i32, end: i32): void {
  const p = probaPtr;
  const stride = <usize>n << 3;
  for (let i = start; i < end; i++) {
    const at = rawPtr + (<usize>i << 3);
    const top = topClass(at, stride);
    const max = load<f64>(at + <usize>top * stride);
    let s: f64 = 0;
    for (let k = 0; k < K; k++) {
      const e = k == top ? 1.0 : expNonPositive(load<f64>(at + <usize>k * stride) - max);
      setF64(p, k, e);
      s += e;
    }
    const wi = f64At(wPtr, i);
    const yi = i32At(yPtr, i);
    let g = ghBasePtr + (<usize>i << 3);
    for (let k = 0; k < K; k++, g += stride) {
      const pk = f64At(p, k) / s;
      store<f32>(g, <f32>(wi * (pk - (yi == k ? 1.0 : 0.0))));
      store<f32>(g, <f32>(wi * pk * (1.0 - pk)), 4);
    }
  }
}

/** Each validation row's weighted loss, rows [start, end), into lossTermPtr. */
function lossTerms(start: i32, end: i32): void {
  readConstants();
  const stride = <usize>nv << 3;
  for (let i = start; i < end; i++) {
    const at = validRawPtr + (<usize>i << 3);
    const top = topClass(at, stride);
    const max = load<f64>(at + <usize>top * stride);
    let s: f64 = 0;
    for (let k = 0; k < K; k++) s += k == top ? 1.0 : expNonPositive(load<f64>(at + <usize>k * stride) - max);
    setF64(lossTermPtr, i, f64At(validWPtr, i) * (hostLog(s) + max - load<f64>(at + <usize>i32At(validYPtr, i) * stride)));
  }
}

/**
 * softmaxLoss of the validation rows' raw scores. The rows' terms are computed apart (half of them by the
 * helper, when there is one) and summed here in row order: the same operations as one pass, so the same bits.
 */
export function validationLoss(): f64 {
  const half = nv >> 1;
  if (helped && half > 0) {
    const seq = request(OP_LOSS);
    setI32(helpPtr, HELP_START >> 2, half);
    setI32(helpPtr, HELP_END >> 2, nv);
    atomic.store<i32>(helpPtr + HELP_SEQ, seq);
    lossTerms(0, half);
    awaitHelper(seq);
  } else lossTerms(0, nv);
  let loss: f64 = 0;
  let wSum: f64 = 0;
  for (let i = 0; i < nv; i++) {
    loss += f64At(lossTermPtr, i);
    wSum += f64At(validWPtr, i);
  }
  return wSum > 0 ? loss / wSum : 0;
}

/** Adds a tree's leaf values (ranges j0..j1 of `ranges`: node, start, end) to the class-k raw scores of those rows. */
function addLeafValuesOf(k: i32, idx: usize, ranges: usize, values: usize, j0: i32, j1: i32): void {
  const raw = rawPtr + ((<usize>k * <usize>n) << 3);
  for (let j = j0; j < j1; j++) {
    const v = f64At(values, i32At(ranges, 3 * j));
    const end = i32At(ranges, 3 * j + 2);
    for (let i = i32At(ranges, 3 * j + 1); i < end; i++) addF64(raw, i32At(idx, i), v);
  }
}

/** Adds a tree's leaf values (its node arrays from `tree`: feature, bin, left, right, missing left, value) to the class-k raw scores of validation rows [i0, i1) (BoostTree.addToBinned). */
function addToValidationOf(k: i32, tree: usize, i0: i32, i1: i32): void {
  const feature = <usize>load<i32>(tree);
  const binAt = <usize>load<i32>(tree, 4);
  const leftAt = <usize>load<i32>(tree, 8);
  const rightAt = <usize>load<i32>(tree, 12);
  const mlAt = <usize>load<i32>(tree, 16);
  const valueAt = <usize>load<i32>(tree, 20);
  const raw = validRawPtr + ((<usize>k * <usize>nv) << 3);
  for (let i = i0; i < i1; i++) {
    const codes = validCodesPtr + <usize>i * <usize>F;
    let node = 0;
    let f = i32At(feature, 0);
    while (f >= 0) {
      const c = <i32>load<u8>(codes + <usize>f);
      const left = c == i32At(nBinsPtr, f) ? i32At(mlAt, node) == 1 : c <= i32At(binAt, node);
      node = left ? i32At(leftAt, node) : i32At(rightAt, node);
      f = i32At(feature, node);
    }
    addF64(raw, i, f64At(valueAt, node));
  }
}

/**
 * Adds the last tree's leaf values to class k's raw scores of the training rows and of the validation
 * rows; with a helper, it takes the second half of the leaves' rows and of the validation rows (each row
 * gets one addition either way).
 */
export function apply(k: i32): void {
  // This thread's tree, for addToValidationOf (and the helper).
  const tree = treeRefPtr;
  store<i32>(tree, <i32>outFeaturePtr);
  store<i32>(tree, <i32>outBinPtr, 4);
  store<i32>(tree, <i32>outLeftPtr, 8);
  store<i32>(tree, <i32>outRightPtr, 12);
  store<i32>(tree, <i32>outMissingLeftPtr, 16);
  store<i32>(tree, <i32>outValuePtr, 20);
  if (helped) {
    // The first leaves (in node order) holding at least half of the rows stay here.
    let j = 0;
    for (let rows = 0; j < doneCount && rows < n >> 1; j++) rows += i32At(outRangesPtr, 3 * j + 2) - i32At(outRangesPtr, 3 * j + 1);
    const seq = request(OP_APPLY);
    setI32(helpPtr, HELP_CLASS >> 2, k);
    setI32(helpPtr, HELP_IDX >> 2, <i32>idxPtr);
    setI32(helpPtr, HELP_RANGES >> 2, <i32>outRangesPtr);
    setI32(helpPtr, HELP_TREE >> 2, <i32>tree);
    setI32(helpPtr, HELP_START >> 2, j);
    setI32(helpPtr, HELP_END >> 2, doneCount);
    atomic.store<i32>(helpPtr + HELP_SEQ, seq);
    addLeafValuesOf(k, idxPtr, outRangesPtr, outValuePtr, 0, j);
    addToValidationOf(k, tree, 0, nv >> 1);
    awaitHelper(seq);
    return;
  }
  addLeafValuesOf(k, idxPtr, outRangesPtr, outValuePtr, 0, doneCount);
  addToValidationOf(k, tree, 0, nv);
}
@inline function histAt(slot: i32): usize {
  return poolPtr + ((<usize>slot * <usize>histSize) << 3);
}

/** A free histogram slot, zero-filled when `zero`. */
function takeHist(zero: bool): i32 {
  const slot = i32At(poolFreePtr, --poolFree);
  if (zero) memory.fill(histAt(slot), 0, <usize>histSize << 3);
  return slot;
}

function releaseHist(slot: i32): void {
  setI32(poolFreePtr, poolFree++, slot);
}

function newNode(C: f64): i32 {
  const id = nodes++;
  setI32(outFeaturePtr, id, -1);
  setI32(outBinPtr, id, -1);
  setI32(outLeftPtr, id, -1);
  setI32(outRightPtr, id, -1);
  setI32(outMissingLeftPtr, id, 0);
  setF64(outValuePtr, id, 0);
  setF64(outCountPtr, id, C);
  return id;
}

function newLeaf(node: i32, start: i32, end: i32, depth: i32, G: f64, H: f64, C: f64): i32 {
  const l = leafCount++;
  setI32(leafNodePtr, l, node);
  setI32(leafStartPtr, l, start);
  setI32(leafEndPtr, l, end);
  setI32(leafDepthPtr, l, depth);
  setF64(leafGPtr, l, G);
  setF64(leafHPtr, l, H);
  setF64(leafCPtr, l, C);
  setI32(leafHistPtr, l, -1);
  setI32(splitFeaturePtr, l, -1);
  return l;
}

function splittable(l: i32): bool {
  return i32At(leafDepthPtr, l) < maxDepth && f64At(leafCPtr, l) >= 2 * minSamplesLeaf && f64At(leafHPtr, l) >= 2 * MIN_HESSIAN;
}

/** A row's (gradient, hessian) as two doubles: a bin's first two sums take both in one addition per lane. */
@inline function ghPair(row: i32): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(ghPtr + (<usize>row << 3)));
}

/** Histograms of features [f0, f1) of the rows at positions [start, end) of idx, each bin summing its rows in idx order. */
function buildFeatures(hist: usize, idx: usize, start: i32, end: i32, f0: i32, f1: i32): void {
  for (let i = start; i < end; i++) {
    const row = i32At(idx, i);
    const gh = ghPair(row);
    const codes = codesPtr + <usize>row * <usize>F;
    for (let f = f0; f < f1; f++) {
      const a = hist + (<usize>(i32At(featOffPtr, f) + <i32>load<u8>(codes + <usize>f) * 3) << 3);
      v128.store(a, f64x2.add(v128.load(a), gh));
      store<f64>(a, load<f64>(a, 16) + 1.0, 16);
    }
  }
}

/** The root's histograms of features [f0, f1): every row in row order (the counts come from the template). */
function buildRootFeatures(hist: usize, f0: i32, f1: i32): void {
  for (let row = 0; row < n; row++) {
    const gh = ghPair(row);
    const codes = codesPtr + <usize>row * <usize>F;
    for (let f = f0; f < f1; f++) {
      const a = hist + (<usize>(i32At(featOffPtr, f) + <i32>load<u8>(codes + <usize>f) * 3) << 3);
      v128.store(a, f64x2.add(v128.load(a), gh));
    }
  }
}

// Help with one tree: the thread that grows it (the owner) shares the work with a thread that has no
// tree left (the helper, in help()). Every request splits work whose parts are independent:
//   - a split's histograms: the helper builds, derives (the larger child's, by subtraction) and searches
//     the second half of the features; the owner keeps the best of the two halves' splits, the first
//     half's on a tie, as one pass over all features would;
//   - a partition of many rows: the helper partitions the second half of the range; the owner joins
//     the four parts (its left rows, the helper's, its right rows, the helper's), which is the stable
//     order of one pass;
//   - the leaf values added to the raw scores, the validation rows' loss terms and the next iteration's
//     gradients: half of the rows.
// Every sum therefore has its terms in the same order, and the tree is the same as without help. The
// owner and the helper meet in the shared help block through atomics; the token names the tree, so a
// helper never serves, nor an owner waits for, another tree's requests.
const HELP_MIN_ROWS = 2048; // a partition below this is not shared
const HELP_WAIT_MS = 10_000;
const HELP_SEQ = 0; // i32: the owner's last request
const HELP_DONE = 4; // i32: the last request the helper finished
const HELP_HELPING = 8; // i32: the token of the tree the helper waits on
const HELP_STOP = 12; // i32: the token of the tree that is finished
const HELP_OP = 16; // i32: the request (OP_*), and its fields:
const HELP_IDX = 20; // i32: the owner's row positions
const HELP_GH = 24; // i32: the tree's gradients
const HELP_START = 28; // i32: rows [start, end) (leaves for OP_APPLY); end < 0: the root's histogram
const HELP_END = 32;
const HELP_HIST = 36; // i32: the histogram to build
const HELP_PARENT = 40; // i32: the histogram it is subtracted from, 0 = none
const HELP_NEED = 44; // i32: bit 0: the best split of HIST's leaf; bit 1: of PARENT's (once subtracted)
const HELP_FEATURE = 48; // i32: a partition's feature, bin and missing-left
const HELP_BIN = 52;
const HELP_MISSING_LEFT = 56;
const HELP_CLASS = 60; // i32: OP_APPLY's class
const HELP_LEAF = 64; // f64 [2][3]: G, H, C of HIST's leaf and of PARENT's
const HELP_RANGES = 112; // i32: OP_APPLY's leaf ranges
const HELP_TREE = 116; // i32: the owner's node arrays (its treeRefPtr)
const HELP_RESULT = 192; // per leaf (HIST's, PARENT's): f64 gain, gL, hL; i32 feature, bin, missing-left
const HELP_RESULT_SIZE = 40;
const HELP_LEFT = 272; // i32: the rows the helper's partition kept left
const HELP_TMP = 276; // i32: where its right rows wait
const HELP_BLOCK = 320;
const OP_NODE: i32 = 1;
const OP_PARTITION: i32 = 2;
const OP_APPLY: i32 = 3;
const OP_LOSS: i32 = 4;
const OP_GRADIENTS: i32 = 5;
let helpPtr: usize = 0; // the help block, in the shared part
let helpToken: i32 = 0; // the owner's tree being grown with help, 0 = none
let helped = false; // the helper of helpToken is there
let helpSeq: i32 = 0;

@inline function helpSplit(): i32 {
  return F >> 1;
}

/** Starts writing request op; the caller writes its fields, then stores the returned number at HELP_SEQ. */
@inline function request(op: i32): i32 {
  store<i32>(helpPtr + HELP_OP, op);
  return ++helpSeq;
}

@inline function awaitHelper(seq: i32): void {
  while (atomic.load<i32>(helpPtr + HELP_DONE) != seq) {}
}

/** The owner waits (at most HELP_WAIT_MS) for the helper of its tree, which comes once its own trees are grown. */
function waitForHelper(): bool {
  for (let waited = 0; waited < HELP_WAIT_MS; waited++) {
    const at = atomic.load<i32>(helpPtr + HELP_HELPING);
    if (at == helpToken) return true;
    atomic.wait<i32>(helpPtr + HELP_HELPING, at, 1_000_000);
  }
  return atomic.load<i32>(helpPtr + HELP_HELPING) == helpToken;
}

/** The first histogram double of feature f (histSize for f = F). */
@inline function featureStart(f: i32): i32 {
  return f < F ? i32At(featOffPtr, f) : histSize;
}

/** parent -= child, doubles [i0, i1). */
function subtractHistogram(parent: usize, child: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 2 <= i1; i += 2) {
    const a = parent + (<usize>i << 3);
    v128.store(a, f64x2.sub(v128.load(a), v128.load(child + (<usize>i << 3))));
  }
  for (; i < i1; i++) setF64(parent, i, f64At(parent, i) - f64At(child, i));
}

/**
 * The features [f0, f1) part of a split's histogram work: the histogram `hist` of the rows at positions
 * [start, end) of idx (the root's when end < 0), subtracted from
 * `parent` unless 0, then the best splits of the leaves whose G, H, C are at leaf (bit 0 of need: hist's,
 * bit 1: parent's), written to result (HELP_RESULT's layout).
 */
function nodeFeatures(hist: usize, parent: usize, idx: usize, start: i32, end: i32, need: i32, leaf: usize, result: usize, f0: i32, f1: i32): void {
  // Each thread clears (or copies the root's template into) its own features' part: the cache lines of
  // that part then stay with the thread that builds, derives and searches them.
  const i0 = featureStart(f0);
  const bytes = <usize>(featureStart(f1) - i0) << 3;
  const part = hist + (<usize>i0 << 3);
  if (end < 0) {
    memory.copy(part, rootTemplatePtr + (<usize>i0 << 3), bytes);
    buildRootFeatures(hist, f0, f1);
  } else {
    memory.fill(part, 0, bytes);
    buildFeatures(hist, idx, start, end, f0, f1);
  }
  if (parent != 0) subtractHistogram(parent, hist, i0, featureStart(f1));
  if (need & 1) {
    searchSplits(hist, load<f64>(leaf), load<f64>(leaf, 8), load<f64>(leaf, 16), f0, f1);
    saveSplit(result);
  }
  if (need & 2) {
    searchSplits(parent, load<f64>(leaf, 24), load<f64>(leaf, 32), load<f64>(leaf, 40), f0, f1);
    saveSplit(result + HELP_RESULT_SIZE);
  }
}

function saveSplit(at: usize): void {
  store<f64>(at, foundGain);
  store<f64>(at, foundGL, 8);
  store<f64>(at, foundHL, 16);
  store<i32>(at, foundFeature, 24);
  store<i32>(at, foundBin, 28);
  store<i32>(at, foundMissingLeft, 32);
}
// searchSplits' result.
let foundGain: f64 = 0;
let foundFeature: i32 = -1;
let foundBin: i32 = 0;
let foundMissingLeft: i32 = 0;
let foundGL: f64 = 0;
let foundHL: f64 = 0;

/**
 * Best split over features [f0, f1) and their bin boundaries (GradientTreeGrower.bestSplit) of the leaf
 * with sums G, H, C and histogram hist; only a gain above 0 and above every earlier feature's counts.
 */
function searchSplits(hist: usize, G: f64, H: f64, C: f64, f0: i32, f1: i32): void {
  const msl = minSamplesLeaf;
  const parentScore = (G * G) / (H + l2);
  let bestGain: f64 = 0;
  let bestF = -1;
  let bestB = 0;
  let bestML = 0;
  let bestGL: f64 = 0;
  let bestHL: f64 = 0;
  for (let f = f0; f < f1; f++) {
    const off = i32At(featOffPtr, f);
    const nb = i32At(nBinsPtr, f);
    const mo = off + nb * 3;
    const mG = f64At(hist, mo);
    const mH = f64At(hist, mo + 1);
    const mC = f64At(hist, mo + 2);
    let aG: f64 = 0;
    let aH: f64 = 0;
    let aC: f64 = 0;
    const lastCut = mC > 0 ? nb - 1 : nb - 2;
    for (let b = 0, o = off; b <= lastCut; b++, o += 3) {
      aG += f64At(hist, o);
      aH += f64At(hist, o + 1);
      aC += f64At(hist, o + 2);
      if (C - aC < msl) break;
      if (f64At(hist, o + 2) == 0 && b < nb - 1) continue;
      // Missing values right.
      if (aC >= msl) {
        const hR = H - aH;
        if (aH >= MIN_HESSIAN && hR >= MIN_HESSIAN) {
          const gR = G - aG;
          const gain = (aG * aG) / (aH + l2) + (gR * gR) / (hR + l2) - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            bestF = f;
            bestB = b;
            // Without missing values in training, unseen missing values follow the child with more rows.
            bestML = mC == 0 && aC >= C - aC ? 1 : 0;
            bestGL = aG;
            bestHL = aH;
          }
        }
      }
      // Missing values left: only when there are some and a present value goes right.
      if (mC > 0 && b < nb - 1) {
        const cL = aC + mC;
        if (cL < msl || C - cL < msl) continue;
        const gL = aG + mG;
        const hL = aH + mH;
        const hR = H - hL;
        if (hL < MIN_HESSIAN || hR < MIN_HESSIAN) continue;
        const gR = G - gL;
        const gain = (gL * gL) / (hL + l2) + (gR * gR) / (hR + l2) - parentScore;
        if (gain > bestGain) {
          bestGain = gain;
          bestF = f;
          bestB = b;
          bestML = 1;
          bestGL = gL;
          bestHL = hL;
        }
      }
    }
  }
  foundGain = bestGain;
  foundFeature = bestF;
  foundBin = bestB;
  foundMissingLeft = bestML;
  foundGL = bestGL;
  foundHL = bestHL;
}

/** Leaf l's split: searchSplits' result. */
function keepSplit(l: i32): void {
  setI32(splitFeaturePtr, l, foundFeature);
  if (foundFeature < 0) return;
  setF64(splitGainPtr, l, foundGain);
  setI32(splitBinPtr, l, foundBin);
  setI32(splitMissingLeftPtr, l, foundMissingLeft);
  setF64(splitGLPtr, l, foundGL);
  setF64(splitHLPtr, l, foundHL);
}

/** Leaf l's split: the better of this thread's half (searchSplits' result) and the helper's (at `at`), this one on a tie. */
function keepBetterSplit(l: i32, at: usize): void {
  if (load<f64>(at) > foundGain) loadSplit(at);
  keepSplit(l);
}

/** Best split of leaf l over all features (its histogram is built). */
function bestSplit(l: i32): void {
  searchSplits(histAt(i32At(leafHistPtr, l)), f64At(leafGPtr, l), f64At(leafHPtr, l), f64At(leafCPtr, l), 0, F);
  keepSplit(l);
}

/**
 * A split's histogram work shared with the helper (see nodeFeatures): the histogram `hist` (not yet cleared) of the rows
 * [start, end) of the leaf `a` (the root when end < 0), subtracted from `parent` (0 = none, or the
 * histogram of the leaf `b`), and the best splits of a and b (-1: not wanted).
 */
function sharedNode(hist: usize, parent: usize, start: i32, end: i32, a: i32, b: i32): void {
  const need = (a >= 0 ? 1 : 0) | (b >= 0 ? 2 : 0);
  const leaf = helpPtr + HELP_LEAF;
  if (a >= 0) {
    store<f64>(leaf, f64At(leafGPtr, a));
    store<f64>(leaf, f64At(leafHPtr, a), 8);
    store<f64>(leaf, f64At(leafCPtr, a), 16);
  }
  if (b >= 0) {
    store<f64>(leaf, f64At(leafGPtr, b), 24);
    store<f64>(leaf, f64At(leafHPtr, b), 32);
    store<f64>(leaf, f64At(leafCPtr, b), 40);
  }
  const seq = request(OP_NODE);
  setI32(helpPtr, HELP_HIST >> 2, <i32>hist);
  setI32(helpPtr, HELP_PARENT >> 2, <i32>parent);
  setI32(helpPtr, HELP_IDX >> 2, <i32>idxPtr);
  setI32(helpPtr, HELP_GH >> 2, <i32>ghPtr);
  setI32(helpPtr, HELP_START >> 2, start);
  setI32(helpPtr, HELP_END >> 2, end);
  setI32(helpPtr, HELP_NEED >> 2, need);
  atomic.store<i32>(helpPtr + HELP_SEQ, seq);
  // This thread's half: its results go to the pool's scratch, not the help block the helper writes.
  const fm = helpSplit();
  const mine = splitScratchPtr;
  nodeFeatures(hist, parent, idxPtr, start, end, need, leaf, mine, 0, fm);
  awaitHelper(seq);
  const theirs = helpPtr + HELP_RESULT;
  if (a >= 0) {
    loadSplit(mine);
    keepBetterSplit(a, theirs);
  }
  if (b >= 0) {
    loadSplit(mine + HELP_RESULT_SIZE);
    keepBetterSplit(b, theirs + HELP_RESULT_SIZE);
  }
}

function loadSplit(at: usize): void {
  foundGain = load<f64>(at);
  foundGL = load<f64>(at, 8);
  foundHL = load<f64>(at, 16);
  foundFeature = load<i32>(at, 24);
  foundBin = load<i32>(at, 28);
  foundMissingLeft = load<i32>(at, 32);
}

/** The helper's side: serves the owner's requests for tree `token` until the owner says it is finished (returns at once when it already is). */
export function help(token: i32): void {
  let last = atomic.load<i32>(helpPtr + HELP_SEQ);
  atomic.store<i32>(helpPtr + HELP_HELPING, token);
  atomic.notify(helpPtr + HELP_HELPING, 1);
  while (true) {
    const seq = atomic.load<i32>(helpPtr + HELP_SEQ);
    if (seq != last) {
      serve(load<i32>(helpPtr + HELP_OP));
      last = seq;
      atomic.store<i32>(helpPtr + HELP_DONE, seq);
      continue;
    }
    if (atomic.load<i32>(helpPtr + HELP_STOP) == token) break;
  }
}

/** The helper's part of a request (the second half; see the owner's side for each op). */
function serve(op: i32): void {
  const start = i32At(helpPtr, HELP_START >> 2);
  const end = i32At(helpPtr, HELP_END >> 2);
  const idx = <usize>i32At(helpPtr, HELP_IDX >> 2);
  if (op == OP_NODE) {
    const saved = ghPtr;
    ghPtr = <usize>i32At(helpPtr, HELP_GH >> 2);
    const need = i32At(helpPtr, HELP_NEED >> 2);
    nodeFeatures(<usize>i32At(helpPtr, HELP_HIST >> 2), <usize>i32At(helpPtr, HELP_PARENT >> 2), idx, start, end, need, helpPtr + HELP_LEAF, helpPtr + HELP_RESULT, helpSplit(), F);
    ghPtr = saved;
  } else if (op == OP_PARTITION) {
    const left = partitionRows(idx, start, end, i32At(helpPtr, HELP_FEATURE >> 2), i32At(helpPtr, HELP_BIN >> 2), i32At(helpPtr, HELP_MISSING_LEFT >> 2));
    setI32(helpPtr, HELP_LEFT >> 2, left - start);
    setI32(helpPtr, HELP_TMP >> 2, <i32>tmpPtr);
  } else if (op == OP_APPLY) {
    const k = i32At(helpPtr, HELP_CLASS >> 2);
    const tree = <usize>i32At(helpPtr, HELP_TREE >> 2);
    addLeafValuesOf(k, idx, <usize>i32At(helpPtr, HELP_RANGES >> 2), <usize>load<i32>(tree, 20), start, end);
    addToValidationOf(k, tree, nv >> 1, nv);
  } else if (op == OP_LOSS) lossTerms(start, end);
  else if (op == OP_GRADIENTS) gradients(start, end);
}

/** Finds leaf l's split when it can have one (its histogram is built), then files it. */
function consider(l: i32): void {
  if (splittable(l)) bestSplit(l);
  file(l);
}

/** Leaf l goes to the open leaves if it has a split, else to the finished ones. */
function file(l: i32): void {
  if (i32At(splitFeaturePtr, l) >= 0) setI32(openPtr, openCount++, l);
  else {
    const slot = i32At(leafHistPtr, l);
    if (slot >= 0) releaseHist(slot);
    setI32(leafHistPtr, l, -1);
    setI32(donePtr, doneCount++, l);
  }
}

/**
 * Stable partition of positions [start, end) of idx by "code <= bin" (missing code: missingLeft): the
 * left rows move down in place (never past a row not yet read), the right rows wait in this thread's
 * tmp, in order. Returns the end of the left rows.
 */
function partitionRows(idx: usize, start: i32, end: i32, f: i32, bin: i32, missingLeft: i32): i32 {
  for (let c = 0; c < 256; c++) store<u8>(goLeftPtr + <usize>c, c <= bin ? 1 : 0);
  store<u8>(goLeftPtr + <usize>i32At(nBinsPtr, f), <u8>missingLeft);
  const codes = columnsPtr + <usize>f * <usize>n;
  let l = start;
  let r = 0;
  for (let i = start; i < end; i++) {
    const row = i32At(idx, i);
    const g = <i32>load<u8>(goLeftPtr + <usize>load<u8>(codes + <usize>row));
    setI32(idx, l, row);
    setI32(tmpPtr, r, row);
    l += g;
    r += 1 - g;
  }
  return l;
}

/** partitionRows of this thread's idx, the right rows put after the left ones; with a helper for many rows. */
function partition(start: i32, end: i32, f: i32, bin: i32, missingLeft: i32): i32 {
  const idx = idxPtr;
  if (!helped || end - start < HELP_MIN_ROWS) {
    const l = partitionRows(idx, start, end, f, bin, missingLeft);
    memory.copy(idx + (<usize>l << 2), tmpPtr, <usize>(end - l) << 2);
    return l;
  }
  const mid = start + ((end - start) >> 1);
  const seq = request(OP_PARTITION);
  setI32(helpPtr, HELP_IDX >> 2, <i32>idx);
  setI32(helpPtr, HELP_START >> 2, mid);
  setI32(helpPtr, HELP_END >> 2, end);
  setI32(helpPtr, HELP_FEATURE >> 2, f);
  setI32(helpPtr, HELP_BIN >> 2, bin);
  setI32(helpPtr, HELP_MISSING_LEFT >> 2, missingLeft);
  atomic.store<i32>(helpPtr + HELP_SEQ, seq);
  const leftA = partitionRows(idx, start, mid, f, bin, missingLeft) - start;
  awaitHelper(seq);
  const leftB = i32At(helpPtr, HELP_LEFT >> 2);
  const rightA = mid - start - leftA;
  // Left rows: this thread's, then the helper's; right rows: this thread's, then the helper's.
  memory.copy(idx + (<usize>(start + leftA) << 2), idx + (<usize>mid << 2), <usize>leftB << 2);
  const l = start + leftA + leftB;
  memory.copy(idx + (<usize>l << 2), tmpPtr, <usize>rightA << 2);
  memory.copy(idx + (<usize>(l + rightA) << 2), <usize>i32At(helpPtr, HELP_TMP >> 2), <usize>(end - mid - leftB) << 2);
  return l;
}

/**
 * Grows a tree on class k's gradients (at ghAt(k)); returns its node count. A token other than 0 names
 * the tree for a helper (help(token) on another thread), which helps with it, with apply() and
 * validationLoss() until release().
 */
export function grow(k: i32, token: i32): i32 {
  helpToken = token;
  helped = false;
  return growTree(k);
}

/** Tells the helper of the last tree that it is finished. */
export function release(): void {
  if (helpToken != 0) atomic.store<i32>(helpPtr + HELP_STOP, helpToken);
  helpToken = 0;
  helped = false;
}

function growTree(k: i32): i32 {
  ghPtr = ghBasePtr + ((<usize>k * <usize>n) << 3);
  let G: f64 = 0;
  let H: f64 = 0;
  for (let i = 0; i < n; i++) {
    setI32(idxPtr, i, i);
    G += <f64>load<f32>(ghPtr + (<usize>i << 3));
    H += <f64>load<f32>(ghPtr + (<usize>i << 3), 4);
  }
  nodes = 0;
  work = <f64>n;
  leafCount = 0;
  openCount = 0;
  doneCount = 0;
  poolFree = poolSize;
  for (let s = 0; s < poolSize; s++) setI32(poolFreePtr, s, poolSize - 1 - s);
  const root = newLeaf(newNode(<f64>n), 0, n, 0, G, H, <f64>n);
  if (splittable(root)) {
    const slot = takeHist(false);
    setI32(leafHistPtr, root, slot);
    helped = helpToken != 0 && F > 1 && waitForHelper();
    if (helped) {
      sharedNode(histAt(slot), 0, 0, -1, root, -1);
      file(root);
    } else {
      memory.copy(histAt(slot), rootTemplatePtr, <usize>histSize << 3);
      buildRootFeatures(histAt(slot), 0, F);
      consider(root);
    }
  } else file(root);
  let leaves = 1;
  while (openCount > 0 && leaves < maxLeaves) {
    // Best-first: the open leaf with the largest gain (ties: the earlier in the open list).
    let b = 0;
    for (let j = 1; j < openCount; j++) if (f64At(splitGainPtr, i32At(openPtr, j)) > f64At(splitGainPtr, i32At(openPtr, b))) b = j;
    const leaf = i32At(openPtr, b);
    for (let j = b; j < openCount - 1; j++) setI32(openPtr, j, i32At(openPtr, j + 1));
    openCount--;
    const start = i32At(leafStartPtr, leaf);
    const end = i32At(leafEndPtr, leaf);
    const depth = i32At(leafDepthPtr, leaf);
    const f = i32At(splitFeaturePtr, leaf);
    const bin = i32At(splitBinPtr, leaf);
    const ml = i32At(splitMissingLeftPtr, leaf);
    const gL = f64At(splitGLPtr, leaf);
    const hL = f64At(splitHLPtr, leaf);
    const mid = partition(start, end, f, bin, ml);
    work += <f64>(end - start);
    const l = newLeaf(newNode(<f64>(mid - start)), start, mid, depth + 1, gL, hL, <f64>(mid - start));
    const r = newLeaf(newNode(<f64>(end - mid)), mid, end, depth + 1, f64At(leafGPtr, leaf) - gL, f64At(leafHPtr, leaf) - hL, <f64>(end - mid));
    const id = i32At(leafNodePtr, leaf);
    setI32(outFeaturePtr, id, f);
    setI32(outBinPtr, id, bin);
    setI32(outLeftPtr, id, i32At(leafNodePtr, l));
    setI32(outRightPtr, id, i32At(leafNodePtr, r));
    setI32(outMissingLeftPtr, id, ml);
    leaves++;
    const parent = i32At(leafHistPtr, leaf);
    setI32(leafHistPtr, leaf, -1);
    if (leaves >= maxLeaves) {
      // The tree is full: these leaves will not be split, so their histograms and splits are not needed.
      releaseHist(parent);
      setI32(donePtr, doneCount++, l);
      setI32(donePtr, doneCount++, r);
      continue;
    }
    const needL = splittable(l);
    const needR = splittable(r);
    if (needL || needR) {
      const small = f64At(leafCPtr, l) <= f64At(leafCPtr, r) ? l : r;
      const large = small == l ? r : l;
      const hs = takeHist(!helped);
      work += f64At(leafCPtr, small);
      setI32(leafHistPtr, small, hs);
      setI32(leafHistPtr, large, parent);
      if (helped) {
        sharedNode(histAt(hs), histAt(parent), i32At(leafStartPtr, small), i32At(leafEndPtr, small), splittable(small) ? small : -1, splittable(large) ? large : -1);
        file(l);
        file(r);
        continue;
      }
      buildFeatures(histAt(hs), idxPtr, i32At(leafStartPtr, small), i32At(leafEndPtr, small), 0, F);
      subtractHistogram(histAt(parent), histAt(hs), 0, histSize);
    } else releaseHist(parent);
    consider(l);
    consider(r);
  }
  for (let j = 0; j < openCount; j++) {
    const l = i32At(openPtr, j);
    const slot = i32At(leafHistPtr, l);
    if (slot >= 0) releaseHist(slot);
    setI32(donePtr, doneCount++, l);
  }
  // Leaf values, and the leaves' row ranges in node order (the JavaScript grower sorts them by node).
  for (let a = 1; a < doneCount; a++) {
    const v = i32At(donePtr, a);
    let j = a;
    while (j > 0 && i32At(leafNodePtr, i32At(donePtr, j - 1)) > i32At(leafNodePtr, v)) {
      setI32(donePtr, j, i32At(donePtr, j - 1));
      j--;
    }
    setI32(donePtr, j, v);
  }
  for (let j = 0; j < doneCount; j++) {
    const l = i32At(donePtr, j);
    const node = i32At(leafNodePtr, l);
    const lh = f64At(leafHPtr, l);
    setF64(outValuePtr, node, lh + l2 > 0 ? (-learningRate * f64At(leafGPtr, l)) / (lh + l2) : 0);
    setI32(outRangesPtr, 3 * j, node);
    setI32(outRangesPtr, 3 * j + 1, i32At(leafStartPtr, l));
    setI32(outRangesPtr, 3 * j + 2, i32At(leafEndPtr, l));
  }
  return nodes;
}
