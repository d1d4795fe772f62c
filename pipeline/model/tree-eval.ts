import type { TreeJson } from "./artifact-schema.js";

/**
 * Tree prediction for serving and evaluation: no training code here. Rule at an internal node: go left
 * when x <= threshold; a missing value (NaN) goes to `missing_left ? left : right`.
 */

/** A tree as typed arrays: what prediction walks, and what workers transfer instead of cloning JSON. */
export interface TreeArrays {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  missingLeft: Uint8Array;
  /** Leaf class probabilities, nClasses per node (only leaves' are meaningful). */
  value: Float64Array;
}

interface CompiledTree extends TreeArrays {
  nClasses: number;
}

const compiled = new WeakMap<TreeJson, CompiledTree>();

function compile(tree: TreeJson, nClasses: number): CompiledTree {
  const cached = compiled.get(tree);
  if (cached && cached.nClasses === nClasses) return cached;
  const n = tree.feature.length;
  const value = new Float64Array(n * nClasses);
  for (let i = 0; i < n; i++) {
    const v = tree.value[i];
    if (tree.feature[i] < 0) {
      if (!v || v.length !== nClasses) throw new Error(`tree leaf ${i} has ${v ? v.length : "no"} class values, expected ${nClasses}`);
      for (let k = 0; k < nClasses; k++) value[i * nClasses + k] = v[k];
    }
  }
  const c: CompiledTree = {
    feature: Int32Array.from(tree.feature),
    threshold: Float64Array.from(tree.threshold),
    left: Int32Array.from(tree.left),
    right: Int32Array.from(tree.right),
    missingLeft: Uint8Array.from(tree.missing_left),
    value,
    nClasses,
  };
  compiled.set(tree, c);
  return c;
}

/** Index of the leaf a row reaches. */
function leafOf(t: CompiledTree, row: Float64Array): number {
  let node = 0;
  let f = t.feature[0];
  while (f >= 0) {
    const x = row[f];
    node = x !== x ? (t.missingLeft[node] ? t.left[node] : t.right[node]) : x <= t.threshold[node] ? t.left[node] : t.right[node];
    f = t.feature[node];
  }
  return node;
}

/**
 * How an ensemble's leaf vectors become class probabilities:
 * - "mean": leaves hold class probabilities; they are averaged (a tree, a random forest);
 * - "sum_softmax": leaves hold raw scores (gradient boosting: learning rate and initial scores already
 *   folded into the leaf values); they are summed and the sum goes through softmax.
 */
export type TreeCombine = "mean" | "sum_softmax";

/** The combination an algorithm's trees use (model.combine in the artifact, when present, says it). */
export function treeCombine(algorithm: string, declared?: TreeCombine): TreeCombine {
  return declared ?? (algorithm === "gradient_boosting" ? "sum_softmax" : "mean");
}

/** Class probabilities of one row (feature vector in the trees' feature order), combined over the trees. */
export function predictRowTrees(trees: TreeJson[], row: Float64Array, nClasses: number, out?: Float64Array, combine: TreeCombine = "mean"): Float64Array {
  const result = out ?? new Float64Array(nClasses);
  result.fill(0);
  for (const tree of trees) {
    const t = compile(tree, nClasses);
    const base = leafOf(t, row) * nClasses;
    for (let k = 0; k < nClasses; k++) result[k] += t.value[base + k];
  }
  if (combine === "sum_softmax") softmaxRow(result, 0, nClasses);
  else normalizeRow(result, 0, nClasses);
  return result;
}

/** Raw scores → probabilities, in place (shifted by the maximum so that exp cannot overflow). */
function softmaxRow(p: Float64Array, offset: number, nClasses: number): void {
  let max = p[offset];
  for (let k = 1; k < nClasses; k++) if (p[offset + k] > max) max = p[offset + k];
  let sum = 0;
  for (let k = 0; k < nClasses; k++) {
    const e = Math.exp(p[offset + k] - max);
    p[offset + k] = e;
    sum += e;
  }
  for (let k = 0; k < nClasses; k++) p[offset + k] /= sum;
}

/**
 * Scales one row of summed leaf probabilities to sum to 1. Dividing by the sum rather than the tree
 * count also absorbs the rounding of leaf values in model.json (1e-4), so served probabilities sum to 1.
 */
function normalizeRow(p: Float64Array, offset: number, nClasses: number): void {
  let sum = 0;
  for (let k = 0; k < nClasses; k++) sum += p[offset + k];
  if (sum > 0) for (let k = 0; k < nClasses; k++) p[offset + k] /= sum;
}

/** Class probabilities of every row (row-major, rows x nClasses), combined over the trees. */
export function predictProbaTrees(trees: TreeJson[], X: { rows: number; features: Float64Array[] }, nClasses: number, combine: TreeCombine = "mean"): Float64Array {
  const out = new Float64Array(X.rows * nClasses);
  const nFeatures = X.features.length;
  const row = new Float64Array(nFeatures);
  const compiledTrees = trees.map((t) => compile(t, nClasses));
  for (const t of compiledTrees) {
    for (let i = 0; i < t.feature.length; i++) {
      if (t.feature[i] >= nFeatures) throw new Error(`tree splits on feature ${t.feature[i]} but the input has ${nFeatures} features`);
    }
  }
  for (let r = 0; r < X.rows; r++) {
    for (let f = 0; f < nFeatures; f++) row[f] = X.features[f][r];
    const o = r * nClasses;
    for (const t of compiledTrees) {
      const base = leafOf(t, row) * nClasses;
      for (let k = 0; k < nClasses; k++) out[o + k] += t.value[base + k];
    }
  }
  if (combine === "sum_softmax") for (let r = 0; r < X.rows; r++) softmaxRow(out, r * nClasses, nClasses);
  else for (let r = 0; r < X.rows; r++) normalizeRow(out, r * nClasses, nClasses);
  return out;
}

/**
 * Mean decrease in impurity per feature (gini on the weighted class counts per node, reconstructed from
 * leaf values and `n`), normalised per tree and over the ensemble as scikit-learn does; sums to 1 unless no
 * tree has a split.
 */
export function impurityImportance(trees: TreeJson[], nFeatures: number, criterion: "gini" | "entropy" = "gini"): Float64Array {
  const total = new Float64Array(nFeatures);
  for (const tree of trees) {
    const n = tree.feature.length;
    let nClasses = 0;
    for (const v of tree.value) if (v) nClasses = v.length;
    if (nClasses === 0) continue;
    const counts = new Float64Array(n * nClasses);
    // Children always have larger ids than their parent, so a reverse pass sees children first.
    for (let i = n - 1; i >= 0; i--) {
      const v = tree.value[i];
      if (tree.feature[i] < 0) {
        if (v) for (let k = 0; k < nClasses; k++) counts[i * nClasses + k] = v[k] * tree.n[i];
      } else {
        const l = tree.left[i];
        const r = tree.right[i];
        for (let k = 0; k < nClasses; k++) counts[i * nClasses + k] = counts[l * nClasses + k] + counts[r * nClasses + k];
      }
    }
    const impurity = (i: number): number => {
      let w = 0;
      for (let k = 0; k < nClasses; k++) w += counts[i * nClasses + k];
      if (w <= 0) return 0;
      let s = 0;
      for (let k = 0; k < nClasses; k++) {
        const p = counts[i * nClasses + k] / w;
        s += criterion === "gini" ? p * p : p > 0 ? -p * Math.log2(p) : 0;
      }
      return criterion === "gini" ? 1 - s : s;
    };
    const imp = new Float64Array(nFeatures);
    for (let i = 0; i < n; i++) {
      const f = tree.feature[i];
      if (f < 0) continue;
      if (f >= nFeatures) throw new Error(`tree splits on feature ${f} but only ${nFeatures} features were given`);
      const l = tree.left[i];
      const r = tree.right[i];
      imp[f] += tree.n[i] * impurity(i) - tree.n[l] * impurity(l) - tree.n[r] * impurity(r);
    }
    let sum = 0;
    for (let f = 0; f < nFeatures; f++) sum += imp[f];
    if (sum > 0) for (let f = 0; f < nFeatures; f++) total[f] += imp[f] / sum;
  }
  let sum = 0;
  for (let f = 0; f < nFeatures; f++) sum += total[f];
  if (sum > 0) for (let f = 0; f < nFeatures; f++) total[f] /= sum;
  return total;
}

/**
 * Importance for trees whose leaves hold raw scores (gradient boosting), where class counts cannot be
 * reconstructed: the rows routed by each feature's splits (node `n`), normalised to sum 1.
 */
export function splitWeightImportance(trees: TreeJson[], nFeatures: number): Float64Array {
  const total = new Float64Array(nFeatures);
  for (const tree of trees) {
    for (let i = 0; i < tree.feature.length; i++) {
      const f = tree.feature[i];
      if (f < 0) continue;
      if (f >= nFeatures) throw new Error(`tree splits on feature ${f} but only ${nFeatures} features were given`);
      total[f] += tree.n[i];
    }
  }
  let sum = 0;
  for (let f = 0; f < nFeatures; f++) sum += total[f];
  if (sum > 0) for (let f = 0; f < nFeatures; f++) total[f] /= sum;
  return total;
}
