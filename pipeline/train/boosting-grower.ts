import type { TreeJson } from "../model/artifact-schema.js";
import type { BinnedMatrix } from "./binning.js";
import { BoostTree, EXP_CONSTANTS, EXP_TABLE, POW2, type BoostingFitParams } from "./boosting.js";
import { BOOSTING_GROWER_WASM } from "./boosting-grower-wasm.js";
import { callWasm, instantiateWasm, newSharedWasmMemory, type SharedWasmMemory } from "../core/wasm.js";

/**
 * A gradient-boosting fit's iterations in WebAssembly (wasm/boosting-grower.ts has the algorithms):
 * gradients, trees, leaf values and the validation loss, bit for bit what the JavaScript fit computes.
 * Every thread of a fit instantiates the module on one shared memory (WasmBoostingThread); the calling
 * thread lays out and fills the shared part (WasmBoostingFit) and reads every thread's trees from it.
 */

/** The module reserves one histogram per possible open leaf: at most this many bytes of them. */
const MAX_POOL_BYTES = 256 * 1024 * 1024;
const ALL_PRESENT = Number.MAX_VALUE;

/** Doubles in one histogram: (gradient, hessian, count) for each bin and the missing bin of every feature. */
function histogramSize(data: BinnedMatrix): number {
  let size = 0;
  for (let f = 0; f < data.codes.length; f++) size += (data.nBins[f]! + 1) * 3;
  return size;
}

/**
 * Whether a fit's trees can be grown in the module: best-first with a bounded number of leaves, whose
 * histograms (leaves + 3 of them live at once) fit in MAX_POOL_BYTES.
 */
export function useWasmBoosting(p: BoostingFitParams, data: BinnedMatrix): boolean {
  return p.max_leaf_nodes > 0 && (p.max_leaf_nodes + 3) * histogramSize(data) * 8 <= MAX_POOL_BYTES;
}

/** What every thread of a fit is given: the memory and the sizes the layout follows from. */
export interface WasmBoostingJob {
  memory: SharedWasmMemory;
  features: number;
  rows: number;
  validRows: number;
  classes: number;
  threads: number;
  histSize: number;
  maxLeaves: number;
  maxDepth: number;
  minSamplesLeaf: number;
  l2: number;
  learningRate: number;
}

/** A grown tree's node arrays, as the module leaves them (views on its memory, or copies posted by a worker). */
export interface WasmTreeArrays {
  feature: Int32Array;
  bin: Int32Array;
  left: Int32Array;
  right: Int32Array;
  missingLeft: Int32Array;
  value: Float64Array;
  count: Float64Array;
  /** Rows its histograms and partitions went through (treeWork). */
  work: number;
}

interface BoostingExports {
  setJob(features: number, rows: number, validRows: number, classes: number, threads: number, thread: number, histSize: number, maxLeaves: number, maxDepth: number, minSamplesLeaf: number, l2: number, learningRate: number): void;
  constsAt(): number;
  expTableAt(): number;
  pow2At(): number;
  rawAt(): number;
  ghAt(k: number): number;
  wAt(): number;
  yAt(): number;
  validRawAt(): number;
  validWAt(): number;
  validYAt(): number;
  validCodesAt(): number;
  featOffAt(): number;
  nBinsAt(): number;
  rootTemplateAt(): number;
  codesAt(): number;
  columnsAt(): number;
  gradients(start: number, end: number): void;
  sharedGradients(start: number, mid: number, end: number): void;
  treeWork(): number;
  grow(k: number, token: number): number;
  help(token: number): void;
  helpAt(): number;
  apply(k: number): void;
  release(): void;
  validationLoss(): number;
  leavesGrown(): number;
  outFeatureAt(): number;
  outBinAt(): number;
  outLeftAt(): number;
  outRightAt(): number;
  outMissingLeftAt(): number;
  outValueAt(): number;
  outCountAt(): number;
  outRangesAt(): number;
  idxAt(): number;
}

export function wasmBoostingJob(data: BinnedMatrix, p: BoostingFitParams, classes: number, validRows: number, threads: number): WasmBoostingJob {
  if (!useWasmBoosting(p, data)) throw new Error(`max_leaf_nodes ${p.max_leaf_nodes} on ${data.codes.length} features cannot be grown in WebAssembly (unbounded, or histograms over ${MAX_POOL_BYTES / 2 ** 20} MB)`);
  return {
    memory: newSharedWasmMemory(),
    features: data.codes.length,
    rows: data.rows,
    validRows,
    classes,
    threads,
    histSize: histogramSize(data),
    maxLeaves: p.max_leaf_nodes,
    maxDepth: p.max_depth > 0 ? p.max_depth : 0x7fffffff,
    minSamplesLeaf: p.min_samples_leaf,
    l2: p.l2_regularization,
    learningRate: p.learning_rate,
  };
}

/** One thread's instance of the module on a fit's memory (thread 0 is the one that fills it). */
export class WasmBoostingThread {
  readonly exports: BoostingExports;

  constructor(
    readonly job: WasmBoostingJob,
    readonly thread: number,
  ) {
    const w = (this.exports = instantiateWasm(BOOSTING_GROWER_WASM, { memory: job.memory, exp: Math.exp, log: Math.log }) as unknown as BoostingExports);
    callWasm(`the boosting grower (${job.rows} rows, ${job.features} features)`, () =>
      w.setJob(job.features, job.rows, job.validRows, job.classes, job.threads, thread, job.histSize, job.maxLeaves, job.maxDepth, job.minSamplesLeaf, job.l2, job.learningRate),
    );
  }

  /** Every class's gradients of rows [start, end), from the raw scores. */
  gradients(start: number, end: number): void {
    this.exports.gradients(start, end);
  }

  /** The same, with the helper of the last tree (until release()) taking rows [mid, end). */
  sharedGradients(start: number, mid: number, end: number): void {
    this.exports.sharedGradients(start, mid, end);
  }

  /**
   * Grows class k's tree and adds its leaf values to class k's training and validation raw scores; returns
   * the tree's nodes (copies when `copy`: the views change with the next tree). A helpToken other than 0
   * lets another thread's help(helpToken) share the work, and the next validationLoss(), until release().
   */
  growAndApply(k: number, copy: boolean, helpToken = 0): WasmTreeArrays {
    const w = this.exports;
    const nodes = w.grow(k, helpToken);
    w.apply(k);
    const t = this.tree(nodes);
    if (!copy) return t;
    return { feature: t.feature.slice(), bin: t.bin.slice(), left: t.left.slice(), right: t.right.slice(), missingLeft: t.missingLeft.slice(), value: t.value.slice(), count: t.count.slice(), work: t.work };
  }

  /** Tells the helper of the last tree grown with a helpToken that it is finished. */
  release(): void {
    this.exports.release();
  }

  /** Takes half of the work of the tree another thread grows with this token, until that thread releases it. */
  help(token: number): void {
    this.exports.help(token);
  }

  /** The last tree's nodes, as views on the memory. */
  tree(nodes: number): WasmTreeArrays {
    const w = this.exports;
    const b = this.job.memory.buffer;
    return {
      feature: new Int32Array(b, w.outFeatureAt(), nodes),
      bin: new Int32Array(b, w.outBinAt(), nodes),
      left: new Int32Array(b, w.outLeftAt(), nodes),
      right: new Int32Array(b, w.outRightAt(), nodes),
      missingLeft: new Int32Array(b, w.outMissingLeftAt(), nodes),
      value: new Float64Array(b, w.outValueAt(), nodes),
      count: new Float64Array(b, w.outCountAt(), nodes),
      work: w.treeWork(),
    };
  }
}

/** A tree's node arrays as plain arrays (thresholds from the bins' edges), as BoostTree holds them. */
function readTree(at: WasmTreeArrays, data: BinnedMatrix) {
  const n = at.feature.length;
  const feature: number[] = new Array(n);
  const bin: number[] = new Array(n);
  const threshold: number[] = new Array(n);
  const left: number[] = new Array(n);
  const right: number[] = new Array(n);
  const missingLeft: (0 | 1)[] = new Array(n);
  const value: number[] = new Array(n);
  const count: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const fi = at.feature[i]!;
    const b = at.bin[i]!;
    feature[i] = fi;
    bin[i] = b;
    threshold[i] = fi < 0 ? 0 : b >= data.nBins[fi]! - 1 ? ALL_PRESENT : data.edges[fi]![b]!;
    left[i] = at.left[i]!;
    right[i] = at.right[i]!;
    missingLeft[i] = at.missingLeft[i] ? 1 : 0;
    value[i] = at.value[i]!;
    count[i] = at.count[i]!;
  }
  return { feature, bin, threshold, left, right, missingLeft, value, count };
}

/** The rows of a fit: training (binned, labels, weights) and the validation rows for early stopping. */
export interface WasmBoostingRows {
  y: Int32Array;
  w: Float64Array;
  validCodes: Uint8Array[] | null;
  validY: Int32Array | null;
  validW: Float64Array | null;
}

/** The calling thread's side of a fit: fills the shared memory, grows its own trees, reads every thread's. */
export class WasmBoostingFit {
  readonly local: WasmBoostingThread;

  constructor(
    readonly job: WasmBoostingJob,
    private readonly data: BinnedMatrix,
    rows: WasmBoostingRows,
    initScores: number[],
  ) {
    const local = (this.local = new WasmBoostingThread(job, 0));
    const w = local.exports;
    const mem = job.memory.buffer;
    const F = job.features;
    const n = job.rows;
    const K = job.classes;
    const featOff = new Int32Array(F + 1);
    for (let f = 0; f < F; f++) featOff[f + 1] = featOff[f]! + (data.nBins[f]! + 1) * 3;
    const codes = new Uint8Array(mem, w.codesAt(), n * F);
    const template = new Float64Array(mem, w.rootTemplateAt(), job.histSize);
    template.fill(0);
    for (let f = 0; f < F; f++) {
      const column = data.codes[f]!;
      const off = featOff[f]! + 2;
      for (let i = 0, o = f; i < n; i++, o += F) {
        codes[o] = column[i]!;
        template[off + column[i]! * 3]++;
      }
    }
    const columns = new Uint8Array(mem, w.columnsAt(), n * F);
    for (let f = 0; f < F; f++) columns.set(data.codes[f]!.subarray(0, n), f * n);
    new Int32Array(mem, w.featOffAt(), F).set(featOff.subarray(0, F));
    new Int32Array(mem, w.nBinsAt(), F).set(data.nBins);
    new Float64Array(mem, w.constsAt(), EXP_CONSTANTS.length).set(EXP_CONSTANTS);
    new Float64Array(mem, w.expTableAt(), EXP_TABLE.length).set(EXP_TABLE);
    new Float64Array(mem, w.pow2At(), POW2.length).set(POW2);
    new Int32Array(mem, w.yAt(), n).set(rows.y);
    new Float64Array(mem, w.wAt(), n).set(rows.w);
    const raw = new Float64Array(mem, w.rawAt(), K * n);
    for (let k = 0; k < K; k++) raw.fill(initScores[k]!, k * n, (k + 1) * n);
    const nv = job.validRows;
    if (nv > 0 && rows.validCodes && rows.validY && rows.validW) {
      const vc = new Uint8Array(mem, w.validCodesAt(), nv * F);
      for (let f = 0; f < F; f++) {
        const column = rows.validCodes[f]!;
        for (let i = 0, o = f; i < nv; i++, o += F) vc[o] = column[i]!;
      }
      new Int32Array(mem, w.validYAt(), nv).set(rows.validY);
      new Float64Array(mem, w.validWAt(), nv).set(rows.validW);
      const validRaw = new Float64Array(mem, w.validRawAt(), K * nv);
      for (let k = 0; k < K; k++) validRaw.fill(initScores[k]!, k * nv, (k + 1) * nv);
    }
  }

  validationLoss(): number {
    return this.local.exports.validationLoss();
  }

  /** Tells a helper that tree `token` is finished (the module does at the tree's end; this is for a fit that stops on an error). */
  finishHelp(token: number): void {
    Atomics.store(new Int32Array(this.job.memory.buffer, this.local.exports.helpAt(), 4), 3, token);
  }

  /** A tree some thread of this fit grew, as the artifact's JSON (BoostTree.toJson). */
  treeJson(at: WasmTreeArrays, k: number, offset: number): TreeJson {
    const t = readTree(at, this.data);
    const K = this.job.classes;
    const nodes = t.feature.length;
    const value: (number[] | null)[] = new Array(nodes);
    for (let i = 0; i < nodes; i++) {
      if (t.feature[i]! >= 0) {
        value[i] = null;
        continue;
      }
      const v = new Array<number>(K).fill(0);
      v[k] = t.value[i]! + offset;
      value[i] = v;
    }
    return { feature: t.feature, threshold: t.threshold, left: t.left, right: t.right, missing_left: t.missingLeft, value, n: t.count };
  }
}

/**
 * One tree at a time on given gradients (one class, no raw scores): the module's grower on its own, which
 * the tests compare with GradientTreeGrower.
 */
export class WasmGradientTreeGrower {
  readonly missingCodes: Int32Array;
  private readonly fit: WasmBoostingFit;

  constructor(
    private readonly data: BinnedMatrix,
    p: BoostingFitParams,
  ) {
    const job = wasmBoostingJob(data, p, 1, 0, 1);
    this.fit = new WasmBoostingFit(job, data, { y: new Int32Array(data.rows), w: new Float64Array(data.rows), validCodes: null, validY: null, validW: null }, [0]);
    this.missingCodes = Int32Array.from(data.nBins);
  }

  /** Grows a tree on gh (gradient, hessian of row r at 2r, 2r + 1). */
  grow(gh: Float32Array): BoostTree {
    const w = this.fit.local.exports;
    const n = this.data.rows;
    const mem = this.fit.job.memory.buffer;
    new Float32Array(mem, w.ghAt(0), 2 * n).set(gh.subarray(0, 2 * n));
    const t = readTree(this.fit.local.tree(w.grow(0, 0)), this.data);
    const ranges = Array.from(new Int32Array(mem, w.outRangesAt(), 3 * w.leavesGrown()));
    const tree = new BoostTree(t.feature, t.bin, t.threshold, t.left, t.right, t.missingLeft, t.value, t.count, ranges, new Int32Array(mem, w.idxAt(), n).slice());
    tree.missingCodes = this.missingCodes;
    return tree;
  }
}
