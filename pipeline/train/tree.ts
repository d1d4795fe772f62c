import type { TreeJson } from "../model/artifact-schema.js";
import { binMatrix, midpoint, type BinnedMatrix } from "./binning.js";
import { Random } from "../core/random.js";

export { impurityImportance } from "../model/tree-eval.js";

export interface TrainMatrix {
  rows: number;
  /** One column per feature; NaN = missing. */
  features: Float64Array[];
  names: string[];
}

export interface TreeFitParams {
  criterion: "gini" | "entropy";
  max_depth: number;
  min_samples_split: number;
  min_samples_leaf: number;
  class_weight: "none" | "balanced" | Record<string, number>;
  max_bins: number;
  /** Features tried per split; default all. */
  max_features?: number;
}

/** Resolved growth parameters (counts, not config spellings). */
export interface GrowParams {
  criterion: "gini" | "entropy";
  maxDepth: number;
  minSamplesSplit: number;
  minSamplesLeaf: number;
  /** Features tried per split, 1..nFeatures; below nFeatures the features are drawn at random per node. */
  maxFeatures: number;
  /**
   * Bins on each side of the best histogram boundary whose rows are searched exactly for the threshold
   * (see TreeGrower.refine). A single tree uses a wide window to track exact CART closely (scikit-learn
   * parity); a forest averages threshold jitter away and uses 0 (just the two bins at the boundary).
   */
  refineWindow: number;
}

/** Refinement window of a single tree (a forest passes its own); see GrowParams.refineWindow. */
export const TREE_REFINE_WINDOW = 8;

/**
 * The rows a tree is grown on. `count` is each row's multiplicity (bootstrap draws; null = 1) and is what
 * min_samples_* count, as in scikit-learn; `weight` is the row's total weight (class weight x sample
 * weight x multiplicity; null = count).
 */
export interface TreeSample {
  rows: Int32Array;
  weight: Float64Array | null;
  count: Float64Array | null;
}

/** Nodes with at most this many (unique) rows are split by sorting instead of histograms (see TreeGrower.searchSmall). */
const SMALL_NODE = 64;

/** Threshold of a split that sends every present value left and only missing values right. */
const ALL_PRESENT = Number.MAX_VALUE;

/** Per-class weights: "balanced" = n / (k * count_c) as in scikit-learn; a record maps class names to weights (absent = 1). */
export function resolveClassWeights(y: Int32Array, nClasses: number, classWeight: TreeFitParams["class_weight"], classNames?: string[]): Float64Array {
  const w = new Float64Array(nClasses).fill(1);
  if (classWeight === "none") return w;
  if (classWeight === "balanced") {
    const counts = new Float64Array(nClasses);
    for (let i = 0; i < y.length; i++) counts[y[i]]++;
    for (let k = 0; k < nClasses; k++) w[k] = counts[k] > 0 ? y.length / (nClasses * counts[k]) : 1;
    return w;
  }
  if (!classNames || classNames.length !== nClasses) {
    throw new Error(`class_weight given per class name needs options.classNames with ${nClasses} names`);
  }
  for (const [name, weight] of Object.entries(classWeight)) {
    const k = classNames.indexOf(name);
    if (k < 0) throw new Error(`class_weight names class "${name}", which is not one of: ${classNames.join(", ")}`);
    w[k] = weight;
  }
  return w;
}

export function checkTrainingInput(X: { rows: number; features: Float64Array[] }, y: Int32Array, nClasses: number): void {
  if (X.features.length === 0) throw new Error("training needs at least one feature");
  if (X.rows < 1) throw new Error("training needs at least one row");
  if (y.length !== X.rows) throw new Error(`labels have ${y.length} rows, features ${X.rows}`);
  X.features.forEach((col, f) => {
    if (col.length !== X.rows) throw new Error(`feature ${f} has ${col.length} rows, expected ${X.rows}`);
  });
  if (!Number.isInteger(nClasses) || nClasses < 1) throw new Error(`nClasses must be a positive integer, got ${nClasses}`);
  for (let i = 0; i < y.length; i++) {
    if (y[i] < 0 || y[i] >= nClasses) throw new Error(`label of row ${i} is ${y[i]}, outside 0..${nClasses - 1}`);
  }
}

/** Fits one CART classification tree (histogram-binned features; split thresholds are real values). */
export function fitTree(
  X: TrainMatrix,
  y: Int32Array,
  nClasses: number,
  params: TreeFitParams,
  options: { seed?: number; sampleWeight?: Float64Array; classNames?: string[] } = {},
): TreeJson {
  checkTrainingInput(X, y, nClasses);
  const binned = binMatrix(X, params.max_bins);
  const classWeight = resolveClassWeights(y, nClasses, params.class_weight, options.classNames);
  const sw = options.sampleWeight;
  if (sw && sw.length !== X.rows) throw new Error(`sampleWeight has ${sw.length} rows, features ${X.rows}`);
  let unit = !sw;
  for (let k = 0; k < nClasses; k++) if (classWeight[k] !== 1) unit = false;
  let rows: Int32Array;
  let weight: Float64Array | null = null;
  if (unit) {
    rows = new Int32Array(X.rows);
    for (let i = 0; i < X.rows; i++) rows[i] = i;
  } else {
    const kept: number[] = [];
    const ws: number[] = [];
    for (let i = 0; i < X.rows; i++) {
      const w = classWeight[y[i]] * (sw ? sw[i] : 1);
      if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`weight of row ${i} is ${w}; weights must be finite and >= 0`);
      if (w > 0) {
        kept.push(i);
        ws.push(w);
      }
    }
    rows = Int32Array.from(kept);
    weight = Float64Array.from(ws);
  }
  return growTree(binned, y, nClasses, growParams(params, X.features.length, params.max_features ?? X.features.length), { rows, weight, count: null }, new Random(options.seed ?? 0));
}

export function growParams(
  params: Omit<TreeFitParams, "max_features">,
  nFeatures: number,
  maxFeatures: number,
  refineWindow = TREE_REFINE_WINDOW,
): GrowParams {
  return {
    refineWindow,
    criterion: params.criterion,
    maxDepth: params.max_depth > 0 ? params.max_depth : Number.POSITIVE_INFINITY,
    minSamplesSplit: Math.max(2, params.min_samples_split),
    minSamplesLeaf: Math.max(1, params.min_samples_leaf),
    maxFeatures: Math.max(1, Math.min(nFeatures, Math.floor(maxFeatures))),
  };
}

interface Task {
  id: number;
  start: number;
  end: number;
  depth: number;
  /** Class weights then the row count (length nClasses + 1). */
  totals: Float64Array;
  /** Histograms of all features for this node's rows, when already derived from the parent. */
  hist: Float64Array | null;
}

/**
 * Grows a tree depth-first on binned data. Rows are an index array partitioned in place (stable, so rows
 * stay in ascending order and code look-ups stay cache friendly). With all features tried per split, a
 * child's histograms come from the parent's minus the smaller sibling's, so each level costs at most half
 * the rows; with feature subsampling only the drawn features are histogrammed.
 */
export function growTree(data: BinnedMatrix, y: Int32Array, nClasses: number, p: GrowParams, sample: TreeSample, rng: Random): TreeJson {
  return new TreeGrower(data, y, nClasses, p, sample, rng).grow();
}

class TreeGrower {
  private readonly K: number;
  private readonly S: number;
  private readonly F: number;
  private readonly idx: Int32Array;
  private readonly ny: Int32Array;
  private readonly nw: Float64Array;
  private readonly weightIsCount: boolean;
  private readonly nc: Float64Array;
  private readonly tIdx: Int32Array;
  private readonly tY: Int32Array;
  private readonly tW: Float64Array;
  private readonly tC: Float64Array;
  private readonly featOff: Int32Array;
  private readonly histSize: number;
  private readonly fullHist: boolean;
  private readonly pool: Float64Array[] = [];
  private readonly featureOrder: Int32Array;
  private readonly featScratch: Float64Array;
  private readonly acc: Float64Array;

  // Best split of the current node.
  private bestScore = Number.NEGATIVE_INFINITY;
  private bestFeature = -1;
  private bestBin = -1;
  private bestNext = -1;
  private bestMissingLeft = 0;
  private bestThreshold = 0;
  /** Left side of the best split: present values only, and with missing values added when they go left. */
  private readonly bestLeftPresent: Float64Array;
  private readonly bestLeft: Float64Array;
  /** The node's missing values of the best feature. */
  private readonly bestMiss: Float64Array;
  private readonly cand: Float64Array;
  private readonly cand2: Float64Array;
  private readonly smallMiss: Float64Array;
  private readonly gatherPos: Int32Array;
  private readonly gatherVal: Float64Array;
  private readonly gatherSorted: Float64Array;
  private groupAcc = new Float64Array(64);

  private readonly out: TreeJson = { feature: [], threshold: [], left: [], right: [], missing_left: [], value: [], n: [] };

  constructor(
    private readonly data: BinnedMatrix,
    y: Int32Array,
    nClasses: number,
    private readonly p: GrowParams,
    sample: TreeSample,
    private readonly rng: Random,
  ) {
    this.K = nClasses;
    const S = (this.S = nClasses + 1);
    const F = (this.F = data.codes.length);
    const n = sample.rows.length;
    this.idx = Int32Array.from(sample.rows);
    this.ny = new Int32Array(n);
    // Without class or sample weights a row weighs its count: one array serves both (less to partition).
    this.weightIsCount = sample.weight === null;
    this.nc = new Float64Array(n);
    this.nw = this.weightIsCount ? this.nc : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.ny[i] = y[this.idx[i]];
      this.nc[i] = sample.count ? sample.count[i] : 1;
      if (sample.weight) this.nw[i] = sample.weight[i];
    }
    this.tIdx = new Int32Array(n);
    this.gatherPos = new Int32Array(n);
    this.gatherVal = new Float64Array(n);
    this.gatherSorted = new Float64Array(n);
    this.tY = new Int32Array(n);
    this.tC = new Float64Array(n);
    this.tW = this.weightIsCount ? this.tC : new Float64Array(n);
    this.featOff = new Int32Array(F + 1);
    for (let f = 0; f < F; f++) this.featOff[f + 1] = this.featOff[f] + (data.nBins[f] + 1) * S;
    this.histSize = this.featOff[F];
    this.fullHist = p.maxFeatures >= F;
    this.featureOrder = new Int32Array(F);
    for (let f = 0; f < F; f++) this.featureOrder[f] = f;
    this.featScratch = new Float64Array(256 * S);
    this.acc = new Float64Array(S);
    this.bestLeft = new Float64Array(S);
    this.bestLeftPresent = new Float64Array(S);
    this.bestMiss = new Float64Array(S);
    this.cand = new Float64Array(S);
    this.cand2 = new Float64Array(S);
    this.smallMiss = new Float64Array(S);
  }

  grow(): TreeJson {
    const n = this.idx.length;
    const totals = new Float64Array(this.S);
    for (let i = 0; i < n; i++) {
      totals[this.ny[i]] += this.nw[i];
      totals[this.K] += this.nc[i];
    }
    const rootId = this.newNode();
    const stack: Task[] = [{ id: rootId, start: 0, end: n, depth: 0, totals, hist: null }];
    if (n > 0 && !this.isLeaf(totals, 0) && this.fullHist) {
      const h = this.takeHist();
      this.buildAll(h, 0, n);
      stack[0].hist = h;
    }
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (n === 0 || this.isLeaf(t.totals, t.depth)) {
        this.makeLeaf(t.id, t.totals);
        if (t.hist) this.pool.push(t.hist);
        continue;
      }
      this.resetBest();
      const small = !this.fullHist && t.end - t.start <= SMALL_NODE;
      if (this.fullHist) this.searchAll(t.hist!, t.totals);
      else if (small) this.searchSmall(t.start, t.end, t.totals);
      else this.searchSampled(t.start, t.end, t.totals);
      if (this.bestFeature < 0) {
        this.makeLeaf(t.id, t.totals);
        if (t.hist) this.pool.push(t.hist);
        continue;
      }
      if (!small) this.refine(t.start, t.end, t.totals);
      const f = this.bestFeature;
      // slice(), not Float64Array.from: from() takes the generic iterable path, many times slower on hot nodes.
      const leftTotals = this.bestLeft.slice();
      const rightTotals = new Float64Array(this.S);
      for (let s = 0; s < this.S; s++) rightTotals[s] = Math.max(0, t.totals[s] - leftTotals[s]);
      const mid = this.partition(t.start, t.end, f, this.bestThreshold, this.bestMissingLeft === 1);
      const leftId = this.newNode();
      const rightId = this.newNode();
      this.out.feature[t.id] = f;
      this.out.threshold[t.id] = this.bestThreshold;
      this.out.left[t.id] = leftId;
      this.out.right[t.id] = rightId;
      this.out.missing_left[t.id] = this.bestMissingLeft as 0 | 1;
      this.out.value[t.id] = null;
      this.out.n[t.id] = weightOf(t.totals, this.K);

      const left: Task = { id: leftId, start: t.start, end: mid, depth: t.depth + 1, totals: leftTotals, hist: null };
      const right: Task = { id: rightId, start: mid, end: t.end, depth: t.depth + 1, totals: rightTotals, hist: null };
      if (this.fullHist) this.deriveChildHists(t.hist!, left, right);
      stack.push(right, left);
    }
    return this.out;
  }

  private newNode(): number {
    const id = this.out.feature.length;
    this.out.feature.push(-1);
    this.out.threshold.push(0);
    this.out.left.push(-1);
    this.out.right.push(-1);
    this.out.missing_left.push(0);
    this.out.value.push(null);
    this.out.n.push(0);
    return id;
  }

  private makeLeaf(id: number, totals: Float64Array): void {
    const w = weightOf(totals, this.K);
    const value: number[] = [];
    for (let k = 0; k < this.K; k++) value.push(w > 0 ? totals[k] / w : 1 / this.K);
    this.out.feature[id] = -1;
    this.out.value[id] = value;
    this.out.n[id] = w;
  }

  private isLeaf(totals: Float64Array, depth: number): boolean {
    const count = totals[this.K];
    if (depth >= this.p.maxDepth || count < this.p.minSamplesSplit || count < 2 * this.p.minSamplesLeaf) return true;
    const w = weightOf(totals, this.K);
    let present = 0;
    for (let k = 0; k < this.K; k++) if (totals[k] > 1e-12 * w) present++;
    return present <= 1;
  }

  private takeHist(): Float64Array {
    const h = this.pool.pop();
    if (h) {
      h.fill(0);
      return h;
    }
    return new Float64Array(this.histSize);
  }

  /** Histograms of every feature over rows [start, end). */
  private buildAll(hist: Float64Array, start: number, end: number): void {
    for (let f = 0; f < this.F; f++) this.buildFeature(hist, this.featOff[f], f, start, end);
  }

  private buildFeature(hist: Float64Array, off: number, f: number, start: number, end: number): void {
    const codes = this.data.codes[f];
    const idx = this.idx;
    const ny = this.ny;
    const nw = this.nw;
    const nc = this.nc;
    const S = this.S;
    const K = this.K;
    if (this.weightIsCount) {
      // Weight = count: accumulate classes only; the count channel is their sum, filled per bin below.
      for (let i = start; i < end; i++) hist[off + codes[idx[i]] * S + ny[i]] += nc[i];
      this.fillCounts(hist, off, 0, this.data.nBins[f]);
      return;
    }
    for (let i = start; i < end; i++) {
      const h = off + codes[idx[i]] * S;
      hist[h + ny[i]] += nw[i];
      hist[h + K] += nc[i];
    }
  }

  /** Sets the count channel of bins first..last (inclusive) to the sum of their class channels. */
  private fillCounts(hist: Float64Array, off: number, first: number, last: number): void {
    const S = this.S;
    const K = this.K;
    for (let b = first; b <= last; b++) {
      const o = off + b * S;
      let c = 0;
      for (let k = 0; k < K; k++) c += hist[o + k];
      hist[o + K] = c;
    }
  }

  private deriveChildHists(parent: Float64Array, left: Task, right: Task): void {
    const needL = !this.isLeaf(left.totals, left.depth);
    const needR = !this.isLeaf(right.totals, right.depth);
    if (!needL && !needR) {
      this.pool.push(parent);
      return;
    }
    const nL = left.end - left.start;
    const nR = right.end - right.start;
    // Build the cheaper side directly; the other is the parent minus it (done in the parent's buffer).
    let build: Task;
    let derive: Task | null;
    if (needL && needR) {
      build = nL <= nR ? left : right;
      derive = nL <= nR ? right : left;
    } else {
      const need = needL ? left : right;
      const other = needL ? right : left;
      const nNeed = need.end - need.start;
      const nOther = other.end - other.start;
      if (nNeed <= nOther + (this.histSize >> 3)) {
        build = need;
        derive = null;
      } else {
        build = other;
        derive = need;
      }
    }
    const h = this.takeHist();
    this.buildAll(h, build.start, build.end);
    if (derive) {
      for (let i = 0; i < this.histSize; i++) parent[i] -= h[i];
      derive.hist = parent;
      if (build === left ? needL : needR) build.hist = h;
      else this.pool.push(h);
    } else {
      build.hist = h;
      this.pool.push(parent);
    }
  }

  private resetBest(): void {
    this.bestScore = Number.NEGATIVE_INFINITY;
    this.bestFeature = -1;
    this.bestBin = -1;
    this.bestNext = -1;
    this.bestMissingLeft = 0;
  }

  private searchAll(hist: Float64Array, totals: Float64Array): void {
    for (let f = 0; f < this.F; f++) this.scanFeature(hist, this.featOff[f], f, totals);
  }

  /** Random feature subset per node (drawn without replacement; more are drawn while no split is valid). */
  private searchSampled(start: number, end: number, totals: Float64Array): void {
    const order = this.featureOrder;
    const F = this.F;
    const S = this.S;
    const h = this.featScratch;
    let informative = 0;
    for (let i = 0; i < F; i++) {
      const j = i + this.rng.int(F - i);
      const f = order[j];
      order[j] = order[i];
      order[i] = f;
      // The scratch histogram is all zeros between uses; only the code range this node touches is
      // scanned and cleared again (deep nodes hold few rows and few distinct codes).
      const nb = this.data.nBins[f];
      const codes = this.data.codes[f];
      const { idx, ny, nw, nc } = this;
      const K = this.K;
      let lo = nb;
      let hi = -1;
      if (this.weightIsCount) {
        for (let r = start; r < end; r++) {
          const c = codes[idx[r]];
          if (c < nb) {
            if (c < lo) lo = c;
            if (c > hi) hi = c;
          }
          h[c * S + ny[r]] += nc[r];
        }
        if (hi >= lo) this.fillCounts(h, 0, lo, hi);
        this.fillCounts(h, 0, nb, nb);
      } else {
        for (let r = start; r < end; r++) {
          const c = codes[idx[r]];
          if (c < nb) {
            if (c < lo) lo = c;
            if (c > hi) hi = c;
          }
          const o = c * S;
          h[o + ny[r]] += nw[r];
          h[o + K] += nc[r];
        }
      }
      if (this.scanFeature(h, 0, f, totals, lo, hi)) informative++;
      if (hi >= lo) h.fill(0, lo * S, (hi + 1) * S);
      zero(h, nb * S, (nb + 1) * S);
      if (informative >= this.p.maxFeatures && this.bestFeature >= 0) return;
    }
  }

  /**
   * Exact search for small nodes (feature subsampling only): the node's values of each drawn feature are
   * sorted and every cut between distinct values is scored, as scikit-learn's splitter does. Below
   * SMALL_NODE rows this beats a histogram, whose cost is per bin rather than per row, and it needs no
   * refinement. Features are drawn exactly as searchSampled draws them.
   */
  private searchSmall(start: number, end: number, totals: Float64Array): void {
    const order = this.featureOrder;
    const F = this.F;
    const { idx, ny, nw, nc, K } = this;
    const gv = this.gatherVal;
    const gp = this.gatherPos;
    const base = this.cand;
    const miss = this.smallMiss;
    let informative = 0;
    for (let i = 0; i < F; i++) {
      const j = i + this.rng.int(F - i);
      const f = order[j];
      order[j] = order[i];
      order[i] = f;
      const values = this.data.values[f];
      zero(miss, 0, miss.length);
      let m = 0;
      for (let r = start; r < end; r++) {
        const v = values[idx[r]];
        if (v !== v) {
          miss[ny[r]] += nw[r];
          miss[K] += nc[r];
        } else {
          gp[m] = r;
          gv[m++] = v;
        }
      }
      const d = m > 0 ? this.groupByValue(m) : 0;
      if (d + (miss[K] > 0 ? 1 : 0) >= 2) {
        informative++;
        zero(base, 0, base.length);
        this.sweep(f, base, miss, d, totals, true);
      }
      if (informative >= this.p.maxFeatures && this.bestFeature >= 0) return;
    }
  }

  /**
   * Scans one feature's histogram for the best split "code <= b" with missing values sent left or right.
   * Returns whether the feature is non-constant in the node.
   */
  private scanFeature(hist: Float64Array, off: number, f: number, totals: Float64Array, first = 0, last = this.data.nBins[f] - 1): boolean {
    const K = this.K;
    const S = this.S;
    const nb = this.data.nBins[f];
    const acc = this.acc;
    zero(acc, 0, acc.length);
    const miss = off + nb * S;
    const missCount = hist[miss + K];
    if (missCount <= 0 && this.p.criterion === "gini") return this.scanGiniPresent(hist, off, f, totals, first, last);
    let prev = -1;
    let groups = missCount > 0 ? 1 : 0;
    for (let b = first; b <= last; b++) {
      const h = off + b * S;
      if (hist[h + K] <= 0) continue;
      groups++;
      if (prev >= 0) this.evaluate(acc, hist, miss, missCount, totals, f, prev, b);
      for (let s = 0; s < S; s++) acc[s] += hist[h + s];
      prev = b;
    }
    if (prev >= 0 && missCount > 0) this.evaluate(acc, hist, miss, 0, totals, f, prev, -1);
    return groups >= 2;
  }

  /**
   * scanFeature's hot path (gini, no missing values in the node): one pass with the score inlined and the
   * best cut kept in locals; the left side of the winner is re-summed only when it beats the node's best.
   */
  private scanGiniPresent(hist: Float64Array, off: number, f: number, totals: Float64Array, first: number, last: number): boolean {
    const K = this.K;
    const S = this.S;
    const acc = this.acc;
    zero(acc, 0, acc.length);
    const total = totals[K];
    const msl = this.p.minSamplesLeaf;
    let W = 0;
    for (let k = 0; k < K; k++) W += totals[k];
    let best = this.bestScore;
    let bestBin = -1;
    let bestNext = -1;
    let prev = -1;
    let groups = 0;
    let cL = 0;
    let wL = 0;
    for (let b = first; b <= last; b++) {
      const h = off + b * S;
      const cnt = hist[h + K];
      if (cnt <= 0) continue;
      groups++;
      if (prev >= 0 && cL >= msl && total - cL >= msl) {
        const wR = W - wL;
        if (wL > 0 && wR > 0) {
          let sL = 0;
          let sR = 0;
          for (let k = 0; k < K; k++) {
            const a = acc[k];
            const r = totals[k] - a;
            sL += a * a;
            sR += r * r;
          }
          const score = sL / wL + sR / wR;
          if (score > best) {
            best = score;
            bestBin = prev;
            bestNext = b;
          }
        }
      }
      for (let k = 0; k < K; k++) {
        const v = hist[h + k];
        acc[k] += v;
        wL += v;
      }
      cL += cnt;
      prev = b;
    }
    if (bestBin >= 0) {
      this.bestScore = best;
      this.bestFeature = f;
      this.bestBin = bestBin;
      this.bestNext = bestNext;
      const left = this.bestLeftPresent;
      zero(left, 0, left.length);
      for (let b = first; b <= bestBin; b++) for (let s = 0; s < S; s++) left[s] += hist[off + b * S + s];
      zero(this.bestMiss, 0, this.bestMiss.length);
      this.bestLeft.set(left);
      let w = 0;
      for (let k = 0; k < K; k++) w += left[k];
      this.bestMissingLeft = w >= W - w ? 1 : 0;
    }
    return groups >= 2;
  }

  /** Scores the split with `acc` (present values with code <= bin) on the left. */
  private evaluate(acc: Float64Array, hist: Float64Array, miss: number, missCount: number, totals: Float64Array, f: number, bin: number, next: number): void {
    const K = this.K;
    const msl = this.p.minSamplesLeaf;
    const entropy = this.p.criterion === "entropy";
    const total = totals[K];
    // Missing sent right (always possible), then left (only if there are missing values to send).
    for (let side = 0; side < 2; side++) {
      const withMissing = side === 1;
      if (withMissing && missCount <= 0) break;
      const cL = acc[K] + (withMissing ? missCount : 0);
      const cR = total - cL;
      if (cL < msl || cR < msl) continue;
      let wL = 0;
      let wR = 0;
      let score = 0;
      if (entropy) {
        for (let k = 0; k < K; k++) {
          const a = acc[k] + (withMissing ? hist[miss + k] : 0);
          const r = totals[k] - a;
          wL += a;
          wR += r;
          if (a > 0) score += a * Math.log(a);
          if (r > 0) score += r * Math.log(r);
        }
        if (wL <= 0 || wR <= 0) continue;
        score -= wL * Math.log(wL) + wR * Math.log(wR);
      } else {
        let sL = 0;
        let sR = 0;
        for (let k = 0; k < K; k++) {
          const a = acc[k] + (withMissing ? hist[miss + k] : 0);
          const r = totals[k] - a;
          wL += a;
          wR += r;
          sL += a * a;
          sR += r * r;
        }
        if (wL <= 0 || wR <= 0) continue;
        score = sL / wL + sR / wR;
      }
      if (score > this.bestScore) {
        this.bestScore = score;
        this.bestFeature = f;
        this.bestBin = bin;
        this.bestNext = next;
        // Without missing values in the node, unseen missing values follow the heavier side.
        this.bestMissingLeft = withMissing || (missCount <= 0 && next >= 0 && wL >= wR) ? 1 : 0;
        for (let s = 0; s < this.S; s++) {
          this.bestLeftPresent[s] = acc[s];
          this.bestMiss[s] = hist[miss + s];
        }
        for (let k = 0; k < K; k++) this.bestLeft[k] = acc[k] + (withMissing ? hist[miss + k] : 0);
        this.bestLeft[K] = cL;
      }
    }
  }

  /** Criterion score of a split (higher is better), or -Infinity when it violates min_samples_leaf. */
  private score(left: Float64Array, totals: Float64Array): number {
    const K = this.K;
    const cL = left[K];
    const cR = totals[K] - cL;
    if (cL < this.p.minSamplesLeaf || cR < this.p.minSamplesLeaf) return Number.NEGATIVE_INFINITY;
    let wL = 0;
    let wR = 0;
    let score = 0;
    if (this.p.criterion === "entropy") {
      for (let k = 0; k < K; k++) {
        const a = left[k];
        const r = totals[k] - a;
        wL += a;
        wR += r;
        if (a > 0) score += a * Math.log(a);
        if (r > 0) score += r * Math.log(r);
      }
      if (wL <= 0 || wR <= 0) return Number.NEGATIVE_INFINITY;
      return score - (wL * Math.log(wL) + wR * Math.log(wR));
    }
    let sL = 0;
    let sR = 0;
    for (let k = 0; k < K; k++) {
      const a = left[k];
      const r = totals[k] - a;
      wL += a;
      wR += r;
      sL += a * a;
      sR += r * r;
    }
    if (wL <= 0 || wR <= 0) return Number.NEGATIVE_INFINITY;
    return sL / wL + sR / wR;
  }

  /**
   * Turns the best bin boundary into an exact threshold: the rows of the bins around the boundary are
   * sorted by raw value and every cut between them is scored, as an exact CART would. The histogram search
   * picks the feature and the neighbourhood; this keeps thresholds (and so the trees) close to exact ones.
   */
  private refine(start: number, end: number, totals: Float64Array): void {
    const f = this.bestFeature;
    const lo = this.bestBin;
    const hi = this.bestNext;
    if (hi < 0) {
      this.bestThreshold = ALL_PRESENT;
      return;
    }
    const codes = this.data.codes[f];
    const values = this.data.values[f];
    const { idx, ny, nw, nc, K, S } = this;
    const a = Math.max(0, lo - this.p.refineWindow);
    const b = Math.min(this.data.nBins[f] - 1, hi + this.p.refineWindow);
    const base = this.cand;
    for (let s = 0; s < S; s++) base[s] = this.bestLeftPresent[s];
    const gv = this.gatherVal;
    const gp = this.gatherPos;
    let m = 0;
    for (let i = start; i < end; i++) {
      const row = idx[i];
      const c = codes[row];
      if (c >= a && c <= b) {
        gp[m] = i;
        gv[m++] = values[row];
        if (c <= lo) {
          base[ny[i]] -= nw[i];
          base[K] -= nc[i];
        }
      }
    }
    const d = this.groupByValue(m);
    // The binned best is one of the cuts swept here, so the refined split is at least as good.
    this.bestScore = Number.NEGATIVE_INFINITY;
    this.sweep(f, base, this.bestMiss, d, totals, false);
  }

  /**
   * Sorts the m gathered (value, position) pairs and sums class weights per distinct value into
   * groupAcc, distinct values into gatherSorted. Returns the number of distinct values.
   */
  private groupByValue(m: number): number {
    const { ny, nw, nc, K, S } = this;
    const gv = this.gatherVal;
    const gp = this.gatherPos;
    const distinct = this.gatherSorted;
    if (this.groupAcc.length < m * S) this.groupAcc = new Float64Array(m * S * 2);
    const acc = this.groupAcc;
    let d = 0;
    if (m <= 64) {
      for (let j = 1; j < m; j++) {
        const v = gv[j];
        const p = gp[j];
        let k = j - 1;
        while (k >= 0 && gv[k] > v) {
          gv[k + 1] = gv[k];
          gp[k + 1] = gp[k];
          k--;
        }
        gv[k + 1] = v;
        gp[k + 1] = p;
      }
      for (let j = 0; j < m; j++) {
        if (j === 0 || gv[j] !== gv[j - 1]) {
          distinct[d] = gv[j];
          zero(acc, d * S, (d + 1) * S);
          d++;
        }
        const i = gp[j];
        const o = (d - 1) * S;
        acc[o + ny[i]] += nw[i];
        acc[o + K] += nc[i];
      }
      return d;
    }
    const sorted = distinct.subarray(0, m);
    sorted.set(gv.subarray(0, m));
    sorted.sort();
    for (let j = 0; j < m; j++) if (j === 0 || distinct[j] !== distinct[d - 1]) distinct[d++] = distinct[j];
    acc.fill(0, 0, d * S);
    for (let j = 0; j < m; j++) {
      const v = gv[j];
      let l = 0;
      let h = d - 1;
      while (l < h) {
        const mid = (l + h) >>> 1;
        if (distinct[mid] < v) l = mid + 1;
        else h = mid;
      }
      const i = gp[j];
      acc[l * S + ny[i]] += nw[i];
      acc[l * S + K] += nc[i];
    }
    return d;
  }

  /**
   * Scores every cut between consecutive distinct values (groupByValue's output) of feature f, with the
   * missing values `miss` sent right or left; `base` holds what lies left of the first group (it is
   * consumed). With `allPresent`, also the cut "every present value left, missing right".
   */
  private sweep(f: number, base: Float64Array, miss: Float64Array, d: number, totals: Float64Array, allPresent: boolean): void {
    const { K, S } = this;
    const acc = this.groupAcc;
    const distinct = this.gatherSorted;
    const hasMissing = miss[K] > 0;
    const left = this.cand2;
    const last = allPresent && hasMissing ? d : d - 1;
    for (let g = 0; g < last; g++) {
      for (let s = 0; s < S; s++) base[s] += acc[g * S + s];
      const cutAll = g === d - 1;
      for (let side = 0; side < 2; side++) {
        if (side === 1 && (!hasMissing || cutAll)) break;
        for (let s = 0; s < S; s++) left[s] = base[s] + (side === 1 ? miss[s] : 0);
        const sc = this.score(left, totals);
        if (sc > this.bestScore) {
          this.bestScore = sc;
          this.bestFeature = f;
          this.bestThreshold = cutAll ? ALL_PRESENT : midpoint(distinct[g], distinct[g + 1]);
          this.bestLeft.set(left);
          let wL = 0;
          for (let k = 0; k < K; k++) wL += left[k];
          // Without missing values in the node, unseen missing values follow the heavier side.
          this.bestMissingLeft = side === 1 || (!hasMissing && wL >= weightOf(totals, K) - wL) ? 1 : 0;
        }
      }
    }
  }

  /**
   * Stable in-place partition of [start, end) by the real-valued rule: rows going left first. Returns the
   * split point. The rule is decided on the byte codes, and the raw value is read only for rows in the one
   * bin that holds the threshold: codes below that bin are <= an edge below the threshold, codes above it
   * are > an edge at or above it. So the result is exactly the real-valued rule's, while the 1-byte column
   * is the one walked (8 times denser in cache than the values). Writes go to both sides and the side's
   * cursor advances by the rule, so no branch on the rule (which a split makes unpredictable).
   */
  private partition(start: number, end: number, f: number, threshold: number, missingLeft: boolean): number {
    const values = this.data.values[f];
    const codes = this.data.codes[f];
    const edges = this.data.edges[f];
    const nb = this.data.nBins[f];
    // tb = the bin of the threshold: the first edge >= threshold (nb - 1 when it is above every edge).
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid] < threshold) lo = mid + 1;
      else hi = mid;
    }
    const tb = lo;
    const missL = missingLeft ? 1 : 0;
    const { idx, ny, nw, nc, tIdx, tY, tW, tC } = this;
    const separateWeight = !this.weightIsCount;
    let l = start;
    let r = 0;
    for (let i = start; i < end; i++) {
      const row = idx[i];
      const c = codes[row];
      let g = c < tb ? 1 : 0;
      if (c === tb) g = values[row] <= threshold ? 1 : 0;
      else if (c === nb) g = missL;
      const yv = ny[i];
      const cv = nc[i];
      // l <= i: the left write lands on a slot already read.
      idx[l] = row;
      ny[l] = yv;
      nc[l] = cv;
      tIdx[r] = row;
      tY[r] = yv;
      tC[r] = cv;
      if (separateWeight) {
        const wv = nw[i];
        nw[l] = wv;
        tW[r] = wv;
      }
      l += g;
      r += 1 - g;
    }
    // Plain loops: subarray() allocates a view per call, which costs more than the copy on small nodes.
    for (let j = 0; j < r; j++) {
      idx[l + j] = tIdx[j];
      ny[l + j] = tY[j];
      nc[l + j] = tC[j];
    }
    if (separateWeight) for (let j = 0; j < r; j++) nw[l + j] = tW[j];
    return l;
  }
}

/**
 * Zeroes a[from, to). For the few entries of a class vector a plain loop beats fill(), whose builtin call
 * costs more than the stores (it was a visible share of small-node time).
 */
function zero(a: Float64Array, from: number, to: number): void {
  for (let i = from; i < to; i++) a[i] = 0;
}

function weightOf(totals: Float64Array, K: number): number {
  let w = 0;
  for (let k = 0; k < K; k++) w += totals[k];
  return w;
}
