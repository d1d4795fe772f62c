import type { TreeJson } from "../model/artifact-schema.js";
import { binColumn, binMatrix, type BinnedMatrix } from "./binning.js";
import os from "node:os";
import { Worker } from "node:worker_threads";
import { Random } from "../core/random.js";
import { workerEntry } from "./forest.js";
import { checkTrainingInput, resolveClassWeights, type TrainMatrix, type TreeFitParams } from "./tree.js";
import { useWasmBoosting, WasmBoostingFit, wasmBoostingJob, type WasmBoostingJob, type WasmTreeArrays } from "./boosting-grower.js";

/**
 * Histogram gradient boosting for classification (multinomial / softmax), after scikit-learn's
 * HistGradientBoostingClassifier and LightGBM: per iteration one regression tree per class is grown
 * leaf-wise on the gradients and hessians of the softmax cross-entropy, on binned features.
 *
 * The result is an ordinary list of trees in the artifact's tree shape: tree t*K + k belongs to class k
 * and its leaves hold a raw score for class k only (the other entries are 0), with the learning rate
 * already applied and the initial scores (log class priors) added to the leaves of the first iteration.
 * A prediction is therefore softmax(sum of the trees' leaf vectors): see combineTrees in
 * pipeline/model/tree-eval.ts ("sum_softmax"), which needs no training code.
 */

export interface BoostingFitParams {
  learning_rate: number;
  /** Boosting iterations (each adds one tree per class); early stopping may end sooner. */
  max_iter: number;
  /** Leaves per tree (grown best-first); 0 = no limit (then max_depth bounds the tree). */
  max_leaf_nodes: number;
  /** 0 = no limit. */
  max_depth: number;
  min_samples_leaf: number;
  l2_regularization: number;
  max_bins: number;
  class_weight: TreeFitParams["class_weight"];
  /** "auto" = on when the training part has more than 10 000 rows (scikit-learn's rule). */
  early_stopping: "auto" | boolean;
  /** Share of the training rows held out to decide when to stop (grouped when groups are given). */
  validation_fraction: number;
  /** Stop when the validation loss has not improved by more than tol over this many iterations. */
  n_iter_no_change: number;
  tol: number;
  /** Threads: the K class trees of an iteration are grown in parallel; 0 = one per core, 1 = none. Results do not depend on it. */
  n_jobs?: number;
}

export const BOOSTING_DEFAULTS: BoostingFitParams = {
  learning_rate: 0.1,
  max_iter: 100,
  max_leaf_nodes: 31,
  max_depth: 0,
  min_samples_leaf: 20,
  l2_regularization: 0,
  max_bins: 255,
  class_weight: "none",
  early_stopping: "auto",
  validation_fraction: 0.1,
  n_iter_no_change: 10,
  tol: 1e-7,
};

/** A split needs at least this much hessian on each side (scikit-learn's min_hessian_to_split). */
const MIN_HESSIAN = 1e-3;
/** Threshold of a split that sends every present value left and only missing values right. */
const ALL_PRESENT = Number.MAX_VALUE;

export interface BoostingResult {
  trees: TreeJson[];
  /** Iterations kept (trees = iterations x classes). */
  iterations: number;
  /** Validation loss before the first iteration and after each one (empty without early stopping). */
  validationLoss: number[];
  /** Initial raw score per class (already folded into the first iteration's leaves). */
  initScores: number[];
}

export interface BoostingOptions {
  seed?: number;
  classNames?: string[];
  /** Group id per row: the early-stopping validation rows are then whole groups. */
  groups?: Int32Array;
  /** Called after every iteration (progress display). */
  onIteration?: (done: number, max: number) => void;
  /** Grow with the JavaScript grower even where the WebAssembly one applies (they give the same trees; tests and benchmarks compare them). */
  javascriptGrower?: boolean;
}

/** Rows held out for early stopping: whole groups when given (seeded shuffle), else stratified by class. */
export function validationRows(y: Int32Array, nClasses: number, fraction: number, seed: number, groups?: Int32Array): Uint8Array {
  const n = y.length;
  const held = new Uint8Array(n);
  const rng = new Random(seed, 7);
  if (groups) {
    let count = 0;
    for (let i = 0; i < n; i++) count = Math.max(count, groups[i]! + 1);
    const sizes = new Int32Array(count);
    for (let i = 0; i < n; i++) sizes[groups[i]!]!++;
    const order = Int32Array.from({ length: count }, (_, g) => g).filter((g) => sizes[g]! > 0);
    rng.shuffle(order);
    const want = fraction * n;
    const take = new Uint8Array(count);
    let got = 0;
    // Whole groups until the share is reached; never every group (something must remain to train on).
    for (let j = 0; j < order.length - 1 && got < want; j++) {
      take[order[j]!] = 1;
      got += sizes[order[j]!]!;
    }
    for (let i = 0; i < n; i++) held[i] = take[groups[i]!]!;
    return held;
  }
  for (let k = 0; k < nClasses; k++) {
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (y[i] === k) rows.push(i);
    const order = Int32Array.from(rows);
    rng.shuffle(order);
    const m = Math.min(order.length - 1, Math.round(fraction * order.length));
    for (let j = 0; j < m; j++) held[order[j]!] = 1;
  }
  return held;
}

function takeRows(X: TrainMatrix, y: Int32Array, mask: Uint8Array, want: number): { X: TrainMatrix; y: Int32Array } {
  let m = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] === want) m++;
  const idx = new Int32Array(m);
  for (let i = 0, j = 0; i < mask.length; i++) if (mask[i] === want) idx[j++] = i;
  // Plain loops: Float64Array.from with a map function costs a call per value.
  const gather = <T extends Float64Array | Int32Array>(src: ArrayLike<number>, out: T): T => {
    for (let j = 0; j < m; j++) out[j] = src[idx[j]!]!;
    return out;
  };
  return {
    X: { rows: m, names: X.names, features: X.features.map((c) => gather(c, new Float64Array(m))) },
    y: gather(y, new Int32Array(m)),
  };
}

/** Fits a histogram gradient-boosting classifier; deterministic for a given seed. */
export async function fitBoosting(X: TrainMatrix, y: Int32Array, nClasses: number, params: BoostingFitParams, options: BoostingOptions = {}): Promise<BoostingResult> {
  checkTrainingInput(X, y, nClasses);
  const p = params;
  if (!(p.learning_rate > 0)) throw new Error(`learning_rate must be > 0, got ${p.learning_rate}`);
  if (!Number.isInteger(p.max_iter) || p.max_iter < 1) throw new Error(`max_iter must be a positive integer, got ${p.max_iter}`);
  if (options.groups && options.groups.length !== X.rows) throw new Error(`groups has ${options.groups.length} rows, features ${X.rows}`);
  const seed = options.seed ?? 0;
  const early = p.early_stopping === "auto" ? X.rows > 10_000 : p.early_stopping;
  let train = { X, y };
  let valid: { X: TrainMatrix; y: Int32Array } | null = null;
  if (early && p.validation_fraction > 0) {
    const held = validationRows(y, nClasses, p.validation_fraction, seed, options.groups);
    let nHeld = 0;
    for (let i = 0; i < held.length; i++) nHeld += held[i]!;
    if (nHeld > 0 && nHeld < X.rows) {
      train = takeRows(X, y, held, 0);
      valid = takeRows(X, y, held, 1);
    }
  }
  const K = nClasses;
  const threads = Math.max(1, Math.min(K, p.n_jobs === undefined ? 1 : p.n_jobs === 0 ? os.availableParallelism() : p.n_jobs));
  if (threads > 1) ClassTreeWorkers.prewarm(threads - 1);
  const data = binMatrix(train.X, Math.min(p.max_bins, 255), threads > 1);
  const n = train.X.rows;
  const classWeight = resolveClassWeights(train.y, K, p.class_weight, options.classNames);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = classWeight[train.y[i]!]!;

  // Initial raw scores: log of the (weighted) class priors, as scikit-learn's multinomial loss.
  const prior = new Float64Array(K);
  let wSum = 0;
  for (let i = 0; i < n; i++) {
    prior[train.y[i]!] += w[i]!;
    wSum += w[i]!;
  }
  const initScores: number[] = [];
  for (let k = 0; k < K; k++) initScores.push(Math.log(Math.max(prior[k]! / wSum, 1e-12)));

  let validCodes: Uint8Array[] | null = null;
  let validW: Float64Array | null = null;
  if (valid) {
    const v = valid;
    validCodes = data.edges.map((e, f) => {
      const out = new Uint8Array(v.X.rows);
      binColumn(v.X.features[f]!, e, out);
      return out;
    });
    validW = Float64Array.from(v.y, (c) => classWeight[c]!);
  }
  const javascriptGrower = options.javascriptGrower === true;
  if (!javascriptGrower && useWasmBoosting(p, data)) {
    const job = wasmBoostingJob(data, p, K, valid ? valid.X.rows : 0, threads);
    const fit = new WasmBoostingFit(job, data, { y: train.y, w, validCodes, validY: valid ? valid.y : null, validW }, initScores);
    return { ...(await iterateInWasm(fit, p, options, initScores)), initScores };
  }

  // Raw scores, labels and weights are shared with the worker threads when there are any: each thread
  // computes the gradients of its own rows and adds its own trees' leaf values.
  const buffer = (bytes: number) => (threads > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const raw = new Float64Array(buffer(8 * n * K));
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) raw[i * K + k] = initScores[k]!;
  let validRaw: Float64Array | null = null;
  const validationLoss: number[] = [];
  if (valid && validW) {
    validRaw = new Float64Array(valid.X.rows * K);
    for (let i = 0; i < valid.X.rows; i++) for (let k = 0; k < K; k++) validRaw[i * K + k] = initScores[k]!;
    validationLoss.push(softmaxLoss(validRaw, valid.y, validW, K));
  }

  // Gradients per class. float32, as scikit-learn stores them: half the memory the histogram passes stream through; the
  // histograms and every total still sum in float64.
  const gh = Array.from({ length: K }, () => new Float32Array(buffer(8 * n)));
  const trainY = new Int32Array(buffer(4 * n));
  trainY.set(train.y);
  const trainW = new Float64Array(buffer(8 * n));
  trainW.set(w);
  const growers = threads > 1 ? await ClassTreeWorkers.start(threads - 1, () => ({ op: "job", data: { data, params: p, gh, raw, y: trainY, w: trainW } })) : null;
  const local = new GradientTreeGrower(data, p);
  const proba = new Float64Array(K);
  // Thread c computes the gradients of rows [chunk[c], chunk[c + 1]).
  const chunk = Array.from({ length: threads + 1 }, (_, c) => Math.floor((c * n) / threads));
  const trees: TreeJson[] = [];
  let iterations = 0;
  try {
    for (let it = 0; it < p.max_iter; it++) {
      // Every row's gradients depend on that row alone: the same numbers whichever thread computes them.
      const grads: Promise<void>[] = [];
      for (let c = 1; c < threads; c++) grads.push(growers!.gradients(c - 1, chunk[c]!, chunk[c + 1]!));
      softmaxGradients(raw, proba, trainY, trainW, gh, chunk[0]!, chunk[1]!, K);
      await Promise.all(grads);
      // Class k's tree goes to thread (k + 1) % threads (0 = this one); each depends only on its gradients.
      // This thread takes the fewest trees (none of the extra ones when K is not a multiple of the threads):
      // it also finishes every tree (raw and validation scores, JSON), meanwhile the workers keep growing.
      // Each tree only touches class k's scores, so the order in which they are finished does not matter.
      const iterJson: TreeJson[] = new Array<TreeJson>(K);
      const finish = (t: BoostTree, k: number) => {
        t.missingCodes = local.missingCodes;
        // A worker has added its tree's leaf values already (class k's column of raw is its alone).
        if (t.hasRows) t.addLeafValues(raw, K, k);
        if (validCodes && validRaw) t.addToBinned(validCodes, validRaw, K, k);
        iterJson[k] = t.toJson(K, k, it === 0 ? initScores[k]! : 0);
      };
      const owner = (k: number) => (growers ? (k + 1) % threads : 0);
      const remote: Promise<void>[] = [];
      for (let k = 0; k < K; k++) if (owner(k) !== 0) remote.push(growers!.grow(k, owner(k) - 1).then((t) => finish(t, k)));
      for (let k = 0; k < K; k++) if (owner(k) === 0) finish(local.grow(gh[k]!), k);
      await Promise.all(remote);
      trees.push(...iterJson);
      iterations++;
      options.onIteration?.(iterations, p.max_iter);
      if (valid && validRaw && validW) {
        validationLoss.push(softmaxLoss(validRaw, valid.y, validW, K));
        if (shouldStop(validationLoss, p.n_iter_no_change, p.tol)) break;
      }
    }
  } finally {
    await growers?.stop();
  }
  return { trees, iterations, validationLoss, initScores };
}

/**
 * The iterations of a fit whose trees the WebAssembly module grows: the same schedule as fitBoosting's
 * JavaScript loop (gradients split by rows, class k's tree on thread (k + 1) % threads), on the module's
 * shared memory, so the raw scores, gradients and validation scores never leave it.
 */
async function iterateInWasm(fit: WasmBoostingFit, p: BoostingFitParams, options: BoostingOptions, initScores: number[]): Promise<{ trees: TreeJson[]; iterations: number; validationLoss: number[] }> {
  const { job } = fit;
  const { threads, rows: n, classes: K } = job;
  const workers = threads > 1 ? await ClassTreeWorkers.start(threads - 1, (i) => ({ op: "wasm-job", fit: job, thread: i + 1 })) : null;
  const chunk = Array.from({ length: threads + 1 }, (_, c) => Math.floor((c * n) / threads));
  // Class k's tree grows on thread (k + 1) % threads (0 = this one), except on two threads with an odd
  // number of classes, where the worker grows (K - 1) / 2 trees, this thread as many, and then the two
  // share the last one (helpedSchedule), so that neither waits for a whole tree of the other's.
  const helped = threads === 2 && K % 2 === 1 && job.features > 1;
  const work = new Float64Array(K);
  const validationLoss = job.validRows > 0 ? [fit.validationLoss()] : [];
  const trees: TreeJson[] = [];
  let iterations = 0;
  let token = 0;
  // With a helper, each iteration ends with the next one's gradients, computed by the helper and this
  // thread before the helper is released (no messages).
  let gradientsReady = false;
  try {
    for (let it = 0; it < p.max_iter; it++) {
      if (!gradientsReady) {
        const grads: Promise<unknown>[] = [];
        for (let c = 1; c < threads; c++) grads.push(workers!.request(c - 1, { op: "wasm-gradients", start: chunk[c]!, end: chunk[c + 1]! }));
        fit.local.gradients(chunk[0]!, chunk[1]!);
        await Promise.all(grads);
      }
      const iterJson: TreeJson[] = new Array<TreeJson>(K);
      const offset = (k: number) => (it === 0 ? initScores[k]! : 0);
      token = helped ? it + 1 : 0;
      // Thread t's classes, in the order it grows them; with help, this thread's last one is shared.
      const plan = helped ? helpedSchedule(work) : Array.from({ length: threads }, (_, t) => Array.from({ length: K }, (_, k) => k).filter((k) => (k + 1) % threads === t));
      const keep = (k: number, at: WasmTreeArrays) => {
        work[k] = at.work;
        iterJson[k] = fit.treeJson(at, k, offset(k));
      };
      const remote: Promise<void>[] = [];
      for (let t = 1; t < threads; t++)
        plan[t]!.forEach((k, j) =>
          remote.push(
            workers!.request(t - 1, { op: "wasm-tree", k, help: j === plan[t]!.length - 1 ? token : 0 }).then((reply) => {
              if (!reply.wasmTree) throw new Error(`boosting worker returned no tree for class ${k}`);
              keep(k, reply.wasmTree);
            }),
          ),
        );
      plan[0]!.forEach((k, j) => keep(k, fit.local.growAndApply(k, false, j === plan[0]!.length - 1 ? token : 0)));
      await Promise.all(remote);
      trees.push(...iterJson);
      iterations++;
      options.onIteration?.(iterations, p.max_iter);
      // The helper of the last tree also takes half of the validation loss and of the next gradients.
      let stop = false;
      if (job.validRows > 0) {
        validationLoss.push(fit.validationLoss());
        stop = shouldStop(validationLoss, p.n_iter_no_change, p.tol);
      }
      gradientsReady = helped && !stop && it + 1 < p.max_iter;
      if (gradientsReady) fit.local.sharedGradients(0, chunk[1]!, n);
      fit.local.release();
      if (stop) break;
    }
  } finally {
    // A helper still waiting on a tree that an error left unfinished would spin for ever.
    if (token !== 0) fit.finishHelp(token);
    await workers?.stop();
  }
  return { trees, iterations, validationLoss };
}

/**
 * The two threads' classes when they share one tree (K odd): the tree that cost most last iteration is
 * shared (this thread's last), the others go, largest first, to the thread whose trees cost less so far,
 * (K - 1) / 2 each, this thread first on a tie (the worker's trees reach it later, by message). Costs are
 * the trees' work counts, which do not depend on timing: the schedule is the same on every run, and the
 * trees are the same on any schedule.
 */
export function helpedSchedule(work: Float64Array): [number[], number[]] {
  const K = work.length;
  const byWork = Array.from({ length: K }, (_, k) => k).sort((a, b) => work[b]! - work[a]! || b - a);
  const shared = byWork[0]!;
  const mine: number[] = [];
  const theirs: number[] = [];
  let mineWork = 0;
  let theirWork = 0;
  for (const k of byWork.slice(1)) {
    if (theirs.length === (K - 1) / 2 || (mine.length < (K - 1) / 2 && mineWork <= theirWork)) {
      mine.push(k);
      mineWork += work[k]!;
    } else {
      theirs.push(k);
      theirWork += work[k]!;
    }
  }
  mine.sort((a, b) => a - b).push(shared);
  theirs.sort((a, b) => a - b);
  return [mine, theirs];
}

/** scikit-learn's rule: stop when none of the last n scores beats the one before them by more than tol. */
function shouldStop(losses: number[], nIterNoChange: number, tol: number): boolean {
  if (losses.length <= nIterNoChange) return false;
  const reference = losses[losses.length - 1 - nIterNoChange]!;
  for (let j = losses.length - nIterNoChange; j < losses.length; j++) if (losses[j]! < reference - tol) return false;
  return true;
}

/**
 * Softmax of each row's raw scores and, from it, the gradient and hessian of every class, in one pass over
 * the rows (raw, labels and weights are read once per iteration, not once per class). `p` is scratch of
 * length K.
 */
export function softmaxGradients(raw: Float64Array, p: Float64Array, y: Int32Array, w: Float64Array, gh: Float32Array[], start: number, end: number, K: number): void {
  for (let i = start; i < end; i++) {
    const o = i * K;
    let top = 0;
    for (let k = 1; k < K; k++) if (raw[o + k]! > raw[o + top]!) top = k;
    const max = raw[o + top]!;
    let s = 0;
    // exp is most of this pass: the largest score's term is exp(0) = 1 exactly, so it is skipped.
    for (let k = 0; k < K; k++) {
      const e = k === top ? 1 : expNonPositive(raw[o + k]! - max);
      p[k] = e;
      s += e;
    }
    const wi = w[i]!;
    const yi = y[i]!;
    for (let k = 0; k < K; k++) {
      const pk = p[k]! / s;
      const g = gh[k]!;
      g[2 * i] = wi * (pk - (yi === k ? 1 : 0));
      g[2 * i + 1] = wi * pk * (1 - pk);
    }
  }
}

/** 2^(j/256), j = 0..255, and 2^(e - 1075) for the exponent of expNonPositive's result. */
export const EXP_TABLE = Float64Array.from({ length: 256 }, (_, j) => 2 ** (j / 256));
export const POW2 = Float64Array.from({ length: 1100 }, (_, e) => 2 ** (e - 1075));
const EXP_SCALE = 256 / Math.LN2;
// ln 2 / 256 in two parts (fdlibm's split of ln 2, divided by a power of two, so exact): m * LN2_HI is exact.
const LN2_HI = 6.93147180369123816490e-1 / 256;
const LN2_LO = 1.90821492927058770002e-10 / 256;
/** expNonPositive's constants, in the order the WebAssembly module reads them (wasm/boosting-grower.ts). */
export const EXP_CONSTANTS = Float64Array.of(EXP_SCALE, LN2_HI, LN2_LO, 1 / 6, 1 / 24, 1 / 120);

/**
 * exp(x) for x <= 0 to within 2 ulp of Math.exp, about twice as fast in V8 (Math.exp was half of the
 * gradient pass): x = m ln2/256 + r with |r| <= ln2/512, exp(x) = 2^(m/256) exp(r), 2^(m/256) from two
 * tables and exp(r) from its Taylor series to r^5 (the next term is below 2^-56 relative). Plain double
 * arithmetic, so the same value on every machine and thread.
 */
export function expNonPositive(x: number): number {
  if (!(x > -700)) return Math.exp(x);
  // x * EXP_SCALE is in (-2^18, 0]: subtracting 0.5 and truncating toward zero rounds to the nearest integer.
  const m = (x * EXP_SCALE - 0.5) | 0;
  const r = x - m * LN2_HI - m * LN2_LO;
  const q = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120)))));
  return POW2[(m >> 8) + 1075]! * EXP_TABLE[m & 255]! * q;
}

/** Weighted mean cross-entropy of softmax(raw). */
export function softmaxLoss(raw: Float64Array, y: Int32Array, w: Float64Array, K: number): number {
  let loss = 0;
  let wSum = 0;
  for (let i = 0; i < y.length; i++) {
    const o = i * K;
    let top = 0;
    for (let k = 1; k < K; k++) if (raw[o + k]! > raw[o + top]!) top = k;
    const max = raw[o + top]!;
    let s = 0;
    for (let k = 0; k < K; k++) s += k === top ? 1 : expNonPositive(raw[o + k]! - max);
    loss += w[i]! * (Math.log(s) + max - raw[o + y[i]!]!);
    wSum += w[i]!;
  }
  return wSum > 0 ? loss / wSum : 0;
}

/** A grown regression tree in plain arrays (what a worker posts back). */
export interface PlainBoostTree {
  feature: number[];
  bin: number[];
  threshold: number[];
  left: number[];
  right: number[];
  missingLeft: (0 | 1)[];
  value: number[];
  count: number[];
}

/** A grown regression tree: nodes, and each training row's leaf (by position ranges). */
export class BoostTree {
  static fromPlain(t: PlainBoostTree): BoostTree {
    return new BoostTree(t.feature, t.bin, t.threshold, t.left, t.right, t.missingLeft, t.value, t.count, [], new Int32Array(0));
  }

  plain(): PlainBoostTree {
    return { feature: this.feature, bin: this.bin, threshold: this.threshold, left: this.left, right: this.right, missingLeft: this.missingLeft, value: this.value, count: this.count };
  }

  /** Whether the tree carries its training rows per leaf (grown on this thread, not posted from a worker). */
  get hasRows(): boolean {
    return this.order.length > 0;
  }

  /** Adds each training row's leaf value to its class-k raw score raw[row * K + k]. */
  addLeafValues(raw: Float64Array, K: number, k: number): void {
    const r = this.leafRanges;
    const order = this.order;
    for (let j = 0; j < r.length; j += 3) {
      const v = this.value[r[j]!]!;
      for (let i = r[j + 1]!; i < r[j + 2]!; i++) {
        const o = order[i]! * K + k;
        raw[o] = raw[o]! + v;
      }
    }
  }

  constructor(
    readonly feature: number[],
    readonly bin: number[],
    readonly threshold: number[],
    readonly left: number[],
    readonly right: number[],
    readonly missingLeft: (0 | 1)[],
    readonly value: number[],
    readonly count: number[],
    /** Per leaf: [node, start, end) of its rows in `order`. */
    private readonly leafRanges: number[],
    private readonly order: Int32Array,
  ) {}

  /** Adds the leaf values to rows given as bin codes (the validation rows). */
  addToBinned(codes: Uint8Array[], raw: Float64Array, K: number, k: number): void {
    const rows = codes[0]!.length;
    for (let i = 0; i < rows; i++) {
      let node = 0;
      while (this.feature[node]! >= 0) {
        const f = this.feature[node]!;
        const c = codes[f]![i]!;
        const missingCode = c === this.missingCodeOf(f);
        node = (missingCode ? this.missingLeft[node] === 1 : c <= this.bin[node]!) ? this.left[node]! : this.right[node]!;
      }
      raw[i * K + k] += this.value[node]!;
    }
  }

  missingCodes: Int32Array | null = null;
  private missingCodeOf(f: number): number {
    return this.missingCodes![f]!;
  }

  toJson(K: number, k: number, offset: number): TreeJson {
    const nodes = this.feature.length;
    const t: TreeJson = { feature: this.feature.slice(), threshold: this.threshold.slice(), left: this.left.slice(), right: this.right.slice(), missing_left: this.missingLeft.slice(), value: [], n: this.count.slice() };
    for (let i = 0; i < nodes; i++) {
      if (this.feature[i]! >= 0) {
        t.value.push(null);
        continue;
      }
      const v = new Array<number>(K).fill(0);
      v[k] = this.value[i]! + offset;
      t.value.push(v);
    }
    return t;
  }
}

interface Split {
  gain: number;
  feature: number;
  bin: number;
  missingLeft: 0 | 1;
  gL: number;
  hL: number;
  cL: number;
}

interface Leaf {
  node: number;
  start: number;
  end: number;
  depth: number;
  G: number;
  H: number;
  C: number;
  hist: Float64Array | null;
  split: Split | null;
}

/**
 * Grows one tree on gradients g and hessians h (indexed by training row). Rows are an index array
 * partitioned in place per split (stable); gradients travel with them so histogram building reads them in
 * order. Histograms hold (sum g, sum h, count) per bin; a split's smaller child is built, the larger is
 * the parent minus it.
 */
export class GradientTreeGrower {
  private readonly F: number;
  private readonly idx: Int32Array;
  /** Scratch of the partition: the left and the right rows of the node being split. */
  private readonly tmpLeft: Int32Array;
  private readonly tmpRight: Int32Array;
  /**
   * Bin codes row-major (row * stride + f): one histogram pass reads a row's codes from one cache line.
   * The stride pads F up to whole blocks of the unrolled builders (8, and a last block of 4); padding
   * columns hold code 0 and point at a dummy bin no split search reads.
   */
  private readonly rowCodes: Uint8Array;
  private readonly stride: number;
  /** Histogram offset (in doubles) of every column of rowCodes, padding included. */
  private readonly colOff: Int32Array;
  /** Left-or-right per code for the split being applied (see partition). */
  private readonly goLeft = new Uint8Array(256);
  /** A root histogram before any gradient is added: zero sums and every bin's row count (the same for every tree). */
  private readonly rootTemplate: Float64Array;
  /** Gradient and hessian of row r at 2r and 2r + 1 (one cache line for both). */
  private gh: Float32Array = new Float32Array(0);
  private readonly featOff: Int32Array;
  private readonly histSize: number;
  private readonly pool: Float64Array[] = [];
  readonly missingCodes: Int32Array;
  private readonly maxLeaves: number;
  private readonly maxDepth: number;

  constructor(
    private readonly data: BinnedMatrix,
    private readonly p: BoostingFitParams,
  ) {
    const n = data.rows;
    this.F = data.codes.length;
    this.idx = new Int32Array(n);
    this.tmpLeft = new Int32Array(n);
    this.tmpRight = new Int32Array(n);
    const full = this.F - (this.F % 8);
    this.stride = full + (this.F % 8 === 0 ? 0 : this.F % 8 <= 4 ? 4 : 8);
    this.rowCodes = new Uint8Array(n * this.stride);
    for (let f = 0; f < this.F; f++) {
      const codes = data.codes[f]!;
      for (let i = 0, o = f; i < n; i++, o += this.stride) this.rowCodes[o] = codes[i]!;
    }
    this.featOff = new Int32Array(this.F + 1);
    for (let f = 0; f < this.F; f++) this.featOff[f + 1] = this.featOff[f]! + (data.nBins[f]! + 1) * 3;
    // One dummy bin after the real ones takes the padding columns' updates.
    this.histSize = this.featOff[this.F]! + 3;
    this.colOff = new Int32Array(this.stride).fill(this.featOff[this.F]!);
    this.colOff.set(this.featOff.subarray(0, this.F));
    this.rootTemplate = new Float64Array(this.histSize);
    for (let f = 0; f < this.F; f++) {
      const codes = data.codes[f]!;
      const off = this.featOff[f]! + 2;
      for (let i = 0; i < n; i++) this.rootTemplate[off + codes[i]! * 3]++;
    }
    this.missingCodes = Int32Array.from(data.nBins);
    this.maxLeaves = p.max_leaf_nodes > 0 ? p.max_leaf_nodes : Number.POSITIVE_INFINITY;
    this.maxDepth = p.max_depth > 0 ? p.max_depth : Number.POSITIVE_INFINITY;
    if (!Number.isFinite(this.maxLeaves) && !Number.isFinite(this.maxDepth)) throw new Error("gradient boosting needs max_leaf_nodes or max_depth (both are unlimited)");
  }

  /** Grows a tree on gh (gradient, hessian of row r at 2r, 2r + 1). */
  grow(gh: Float32Array): BoostTree {
    const n = this.data.rows;
    const idx = this.idx;
    this.gh = gh;
    let G = 0;
    let H = 0;
    for (let i = 0; i < n; i++) {
      idx[i] = i;
      G += gh[2 * i]!;
      H += gh[2 * i + 1]!;
    }
    const feature: number[] = [];
    const bin: number[] = [];
    const threshold: number[] = [];
    const left: number[] = [];
    const right: number[] = [];
    const missingLeft: (0 | 1)[] = [];
    const value: number[] = [];
    const count: number[] = [];
    const newNode = (C: number): number => {
      feature.push(-1);
      bin.push(-1);
      threshold.push(0);
      left.push(-1);
      right.push(-1);
      missingLeft.push(0);
      value.push(0);
      count.push(C);
      return feature.length - 1;
    };
    const root: Leaf = { node: newNode(n), start: 0, end: n, depth: 0, G, H, C: n, hist: null, split: null };
    const open: Leaf[] = [];
    const done: Leaf[] = [];
    const consider = (leaf: Leaf) => {
      if (this.splittable(leaf)) {
        if (!leaf.hist) {
          leaf.hist = this.takeHist();
          if (leaf.node === 0) this.buildRoot(leaf.hist);
          else this.build(leaf.hist, leaf.start, leaf.end);
        }
        leaf.split = this.bestSplit(leaf);
      }
      if (leaf.split) open.push(leaf);
      else {
        if (leaf.hist) this.pool.push(leaf.hist);
        leaf.hist = null;
        done.push(leaf);
      }
    };
    consider(root);
    let leaves = 1;
    while (open.length > 0 && leaves < this.maxLeaves) {
      // Best-first: the open leaf with the largest gain (ties: the older node, for determinism).
      let b = 0;
      for (let j = 1; j < open.length; j++) if (open[j]!.split!.gain > open[b]!.split!.gain) b = j;
      const leaf = open[b]!;
      open.splice(b, 1);
      const s = leaf.split!;
      const mid = this.partition(leaf.start, leaf.end, s.feature, s.bin, s.missingLeft === 1);
      const l: Leaf = { node: newNode(mid - leaf.start), start: leaf.start, end: mid, depth: leaf.depth + 1, G: s.gL, H: s.hL, C: mid - leaf.start, hist: null, split: null };
      const r: Leaf = { node: newNode(leaf.end - mid), start: mid, end: leaf.end, depth: leaf.depth + 1, G: leaf.G - s.gL, H: leaf.H - s.hL, C: leaf.end - mid, hist: null, split: null };
      const id = leaf.node;
      feature[id] = s.feature;
      bin[id] = s.bin;
      threshold[id] = s.bin >= this.data.nBins[s.feature]! - 1 ? ALL_PRESENT : this.data.edges[s.feature]![s.bin]!;
      left[id] = l.node;
      right[id] = r.node;
      missingLeft[id] = s.missingLeft;
      leaves++;
      // Children's histograms: build the smaller, derive the larger from the parent's (in its buffer).
      const parent = leaf.hist!;
      leaf.hist = null;
      if (leaves >= this.maxLeaves) {
        // The tree is full: these leaves will not be split, so their histograms and splits are not needed.
        this.pool.push(parent);
        done.push(l, r);
        continue;
      }
      const needL = this.splittable(l);
      const needR = this.splittable(r);
      if (needL || needR) {
        const small = l.C <= r.C ? l : r;
        const large = small === l ? r : l;
        const hs = this.takeHist();
        this.build(hs, small.start, small.end);
        for (let i = 0; i < this.histSize; i++) parent[i] = parent[i]! - hs[i]!;
        small.hist = hs;
        large.hist = parent;
      } else this.pool.push(parent);
      consider(l);
      consider(r);
    }
    for (const leaf of open) {
      if (leaf.hist) this.pool.push(leaf.hist);
      done.push(leaf);
    }
    const l2 = this.p.l2_regularization;
    const lr = this.p.learning_rate;
    const ranges: number[] = [];
    done.sort((a, c) => a.node - c.node);
    for (const leaf of done) {
      value[leaf.node] = leaf.H + l2 > 0 ? (-lr * leaf.G) / (leaf.H + l2) : 0;
      ranges.push(leaf.node, leaf.start, leaf.end);
    }
    const tree = new BoostTree(feature, bin, threshold, left, right, missingLeft, value, count, ranges, this.idx.slice());
    tree.missingCodes = this.missingCodes;
    return tree;
  }

  private splittable(leaf: Leaf): boolean {
    return leaf.depth < this.maxDepth && leaf.C >= 2 * this.p.min_samples_leaf && leaf.H >= 2 * MIN_HESSIAN;
  }

  private takeHist(): Float64Array {
    const h = this.pool.pop();
    if (h) {
      h.fill(0);
      return h;
    }
    return new Float64Array(this.histSize);
  }

  /**
   * Histograms of rows [start, end): one pass over the rows per block of 8 (or 4) columns. The block's
   * updates are written out rather than looped over f: V8 compiles the inner feature loop poorly (about 3x
   * slower), and independent features per row keep several bin updates in flight when consecutive rows
   * fall in the same bin. Each bin still sums its rows in idx order, so the sums do not depend on the blocks.
   */
  private build(hist: Float64Array, start: number, end: number): void {
    const S = this.stride;
    let f0 = 0;
    for (; f0 + 8 <= S; f0 += 8) build8(hist, this.idx, this.gh, this.rowCodes, this.colOff, S, f0, start, end);
    if (f0 < S) build4(hist, this.idx, this.gh, this.rowCodes, this.colOff, S, f0, start, end);
  }

  /**
   * The root's histograms: every row in row order (no index), and the counts copied from the template
   * (every tree's root holds every row) instead of counted.
   */
  private buildRoot(hist: Float64Array): void {
    hist.set(this.rootTemplate);
    const S = this.stride;
    const n = this.data.rows;
    let f0 = 0;
    for (; f0 + 8 <= S; f0 += 8) buildRoot8(hist, this.gh, this.rowCodes, this.colOff, S, f0, n);
    if (f0 < S) buildRoot4(hist, this.gh, this.rowCodes, this.colOff, S, f0, n);
  }

  /** Best split of a leaf over all features and bin boundaries, missing values sent either way. */
  private bestSplit(leaf: Leaf): Split | null {
    const hist = leaf.hist!;
    const l2 = this.p.l2_regularization;
    const msl = this.p.min_samples_leaf;
    const { G, H, C } = leaf;
    const parentScore = (G * G) / (H + l2);
    let bestGain = 0;
    let bestF = -1;
    let bestB = 0;
    let bestML: 0 | 1 = 0;
    let bestGL = 0;
    let bestHL = 0;
    let bestCL = 0;
    for (let f = 0; f < this.F; f++) {
      const off = this.featOff[f]!;
      const nb = this.data.nBins[f]!;
      const mo = off + nb * 3;
      const mG = hist[mo]!;
      const mH = hist[mo + 1]!;
      const mC = hist[mo + 2]!;
      let aG = 0;
      let aH = 0;
      let aC = 0;
      // Cut after bin b (present codes <= b left). b = nb - 1 is "all present left", useful only with missing values.
      const lastCut = mC > 0 ? nb - 1 : nb - 2;
      for (let b = 0, o = off; b <= lastCut; b++, o += 3) {
        aG += hist[o]!;
        aH += hist[o + 1]!;
        aC += hist[o + 2]!;
        // The left count only grows with b: once the right side is too small with missing values sent right,
        // it is for every later cut and either missing side.
        if (C - aC < msl) break;
        if (hist[o + 2]! === 0 && b < nb - 1) continue;
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
              bestML = mC === 0 && aC >= C - aC ? 1 : 0;
              bestGL = aG;
              bestHL = aH;
              bestCL = aC;
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
            bestCL = cL;
          }
        }
      }
    }
    return bestF < 0 ? null : { gain: bestGain, feature: bestF, bin: bestB, missingLeft: bestML, gL: bestGL, hL: bestHL, cL: bestCL };
  }

  /** Stable partition of positions [start, end) by "code <= bin" (missing code → missingLeft). */
  private partition(start: number, end: number, f: number, bin: number, missingLeft: boolean): number {
    const codes = this.data.codes[f]!;
    const goLeft = this.goLeft;
    // The rule as a table over codes: one load per row instead of two compares.
    for (let c = 0; c < 256; c++) goLeft[c] = c <= bin ? 1 : 0;
    goLeft[this.missingCodes[f]!] = missingLeft ? 1 : 0;
    const { idx, tmpLeft, tmpRight } = this;
    let l = 0;
    let r = 0;
    // Both sides written, the cursors advanced by the rule: no branch on it (a split makes it unpredictable).
    // Into two scratch arrays rather than back into idx: stores into the array being read measured 25 %
    // slower (the loads of later rows wait on them).
    for (let i = start; i < end; i++) {
      const row = idx[i]!;
      const g = goLeft[codes[row]!]!;
      tmpLeft[l] = row;
      tmpRight[r] = row;
      l += g;
      r += 1 - g;
    }
    idx.set(tmpLeft.subarray(0, l), start);
    idx.set(tmpRight.subarray(0, r), start + l);
    return start + l;
  }
}

/** Adds rows [start, end) to the histograms of columns f0..f0+7 (see GradientTreeGrower.build). */
function build8(hist: Float64Array, idx: Int32Array, gh: Float32Array, codes: Uint8Array, colOff: Int32Array, S: number, f0: number, start: number, end: number): void {
  const o0 = colOff[f0]!;
  const o1 = colOff[f0 + 1]!;
  const o2 = colOff[f0 + 2]!;
  const o3 = colOff[f0 + 3]!;
  const o4 = colOff[f0 + 4]!;
  const o5 = colOff[f0 + 5]!;
  const o6 = colOff[f0 + 6]!;
  const o7 = colOff[f0 + 7]!;
  for (let i = start; i < end; i++) {
    const r = idx[i]!;
    const g = gh[2 * r]!;
    const h = gh[2 * r + 1]!;
    const c = r * S + f0;
    let o = o0 + codes[c]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o1 + codes[c + 1]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o2 + codes[c + 2]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o3 + codes[c + 3]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o4 + codes[c + 4]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o5 + codes[c + 5]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o6 + codes[c + 6]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o7 + codes[c + 7]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
  }
}

/** Adds every row's gradient and hessian to the bins of columns f0..f0+7 (the root: no index, no counts). */
function buildRoot8(hist: Float64Array, gh: Float32Array, codes: Uint8Array, colOff: Int32Array, S: number, f0: number, n: number): void {
  const o0 = colOff[f0]!;
  const o1 = colOff[f0 + 1]!;
  const o2 = colOff[f0 + 2]!;
  const o3 = colOff[f0 + 3]!;
  const o4 = colOff[f0 + 4]!;
  const o5 = colOff[f0 + 5]!;
  const o6 = colOff[f0 + 6]!;
  const o7 = colOff[f0 + 7]!;
  for (let r = 0, c = f0; r < n; r++, c += S) {
    const g = gh[2 * r]!;
    const h = gh[2 * r + 1]!;
    let o = o0 + codes[c]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o1 + codes[c + 1]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o2 + codes[c + 2]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o3 + codes[c + 3]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o4 + codes[c + 4]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o5 + codes[c + 5]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o6 + codes[c + 6]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o7 + codes[c + 7]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
  }
}

/** As buildRoot8, for the last block of 4 columns. */
function buildRoot4(hist: Float64Array, gh: Float32Array, codes: Uint8Array, colOff: Int32Array, S: number, f0: number, n: number): void {
  const o0 = colOff[f0]!;
  const o1 = colOff[f0 + 1]!;
  const o2 = colOff[f0 + 2]!;
  const o3 = colOff[f0 + 3]!;
  for (let r = 0, c = f0; r < n; r++, c += S) {
    const g = gh[2 * r]!;
    const h = gh[2 * r + 1]!;
    let o = o0 + codes[c]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o1 + codes[c + 1]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o2 + codes[c + 2]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    o = o3 + codes[c + 3]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
  }
}

/** Adds rows [start, end) to the histograms of columns f0..f0+3 (the last block when F is not a multiple of 8). */
function build4(hist: Float64Array, idx: Int32Array, gh: Float32Array, codes: Uint8Array, colOff: Int32Array, S: number, f0: number, start: number, end: number): void {
  const o0 = colOff[f0]!;
  const o1 = colOff[f0 + 1]!;
  const o2 = colOff[f0 + 2]!;
  const o3 = colOff[f0 + 3]!;
  for (let i = start; i < end; i++) {
    const r = idx[i]!;
    const g = gh[2 * r]!;
    const h = gh[2 * r + 1]!;
    const c = r * S + f0;
    let o = o0 + codes[c]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o1 + codes[c + 1]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o2 + codes[c + 2]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
    o = o3 + codes[c + 3]! * 3;
    hist[o] += g;
    hist[o + 1] += h;
    hist[o + 2] += 1;
  }
}

/** What a boosting worker thread gets once for a fit grown in JavaScript: the binned data and the shared raw scores, labels, weights and gradients. */
export interface BoostingWorkerData {
  data: BinnedMatrix;
  params: BoostingFitParams;
  gh: Float32Array[];
  /** Row-major raw scores (row * K + k). */
  raw: Float64Array;
  y: Int32Array;
  w: Float64Array;
}

/** How a fit is set on a worker: the JavaScript one's data, or the WebAssembly one's memory and the worker's thread number in it. */
export type BoostingJobMessage = { op: "job"; data: BoostingWorkerData } | { op: "wasm-job"; fit: WasmBoostingJob; thread: number };
export type BoostingWork =
  | { op: "gradients" | "wasm-gradients"; start: number; end: number }
  | { op: "tree"; k: number }
  /** help: after the tree, help the calling thread with the tree of this token (WasmBoostingThread.help). */
  | { op: "wasm-tree"; k: number; help: number };

/**
 * A message to a boosting worker: the fit to work on (until the next one), then requests for the
 * gradients of rows [start, end) or the tree of class k, all tagged with the fit's id.
 */
export type BoostingRequest = ({ job: number } & BoostingJobMessage) | ({ job: number; id: number } & BoostingWork);
export interface BoostingReply {
  job: number;
  id: number;
  tree?: PlainBoostTree;
  wasmTree?: WasmTreeArrays;
  error?: string;
}

/**
 * Boosting workers kept between fits (CV folds, candidates, the final fit), as the forest's are: each is
 * started and JIT-warmed once per process, not once per fit (a fresh worker spent about a third more CPU
 * on the same trees). An idle worker is unreferenced, so it never keeps the process alive; one that failed
 * is terminated, not reused.
 */
const idleBoostingWorkers: Worker[] = [];
let nextBoostingJob = 1;

function spawnBoostingWorker(): Worker {
  const w = new Worker(workerEntry("boosting-worker"));
  w.on("exit", () => {
    const j = idleBoostingWorkers.indexOf(w);
    if (j >= 0) idleBoostingWorkers.splice(j, 1);
  });
  // A worker that fails while idle exits and leaves the pool; one in use reports to its fit (ClassTreeWorkers).
  w.on("error", () => {});
  return w;
}

/** Worker threads that compute gradients and grow class trees on request (pipeline/train/boosting-worker.ts). */
class ClassTreeWorkers {
  private readonly pending = new Map<number, { resolve: (r: BoostingReply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failed = false;
  private readonly job = nextBoostingJob++;
  private readonly onMessage = (reply: BoostingReply) => {
    if (reply.job !== this.job) return;
    const p = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (!p) return;
    if (reply.error !== undefined) p.reject(new Error(`boosting worker failed: ${reply.error}`));
    else p.resolve(reply);
  };
  private readonly onError = (err: unknown) => this.failAll(err instanceof Error ? err : new Error(String(err)));
  private readonly onExit = (code: number) => this.failAll(new Error(`boosting worker exited with code ${code}`));

  private constructor(
    private readonly workers: Worker[],
    jobFor: (worker: number) => BoostingJobMessage,
  ) {
    workers.forEach((w, i) => {
      w.ref();
      w.on("message", this.onMessage);
      w.on("error", this.onError);
      w.on("exit", this.onExit);
      const message: BoostingRequest = { job: this.job, ...jobFor(i) };
      w.postMessage(message);
    });
  }

  static async start(count: number, jobFor: (worker: number) => BoostingJobMessage): Promise<ClassTreeWorkers> {
    const workers = Array.from({ length: count }, () => idleBoostingWorkers.pop() ?? spawnBoostingWorker());
    return new ClassTreeWorkers(workers, jobFor);
  }

  /** Has `count` workers in the pool: a fit calls this before binning its data, so that new ones boot meanwhile. */
  static prewarm(count: number): void {
    while (idleBoostingWorkers.length < count) {
      const w = spawnBoostingWorker();
      w.unref();
      idleBoostingWorkers.push(w);
    }
  }

  request(worker: number, body: BoostingWork): Promise<BoostingReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const message: BoostingRequest = { job: this.job, id, ...body };
      this.workers[worker]!.postMessage(message);
    });
  }

  async gradients(worker: number, start: number, end: number): Promise<void> {
    await this.request(worker, { op: "gradients", start, end });
  }

  async grow(k: number, worker: number): Promise<BoostTree> {
    const { tree } = await this.request(worker, { op: "tree", k });
    if (!tree) throw new Error(`boosting worker returned no tree for class ${k}`);
    return BoostTree.fromPlain(tree);
  }

  private failAll(err: Error): void {
    this.failed = true;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Returns the workers to the pool, or terminates them when one failed or a request is still open (the fit threw). */
  async stop(): Promise<void> {
    for (const w of this.workers) {
      w.off("message", this.onMessage);
      w.off("error", this.onError);
      w.off("exit", this.onExit);
    }
    if (this.failed || this.pending.size > 0) {
      this.pending.clear();
      await Promise.all(this.workers.map((w) => w.terminate()));
      return;
    }
    for (const w of this.workers) {
      w.unref();
      idleBoostingWorkers.push(w);
    }
  }
}
