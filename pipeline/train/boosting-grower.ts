import type { BinnedMatrix } from "./binning.js";
import { BoostTree, type BoostingFitParams } from "./boosting.js";
import { BOOSTING_GROWER_WASM } from "./boosting-grower-wasm.js";
import { callWasm, instantiateWasm } from "./wasm.js";

/**
 * GradientTreeGrower's trees grown in WebAssembly (wasm/boosting-grower.ts has the algorithm): the same
 * interface and bit for bit the same trees. This side copies the binned rows into the module once per fit
 * and each tree's gradients in, and reads the tree out.
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

interface BoostingExports {
  memory: { buffer: ArrayBuffer };
  setJob(features: number, rows: number, histSize: number, maxLeaves: number, maxDepth: number, minSamplesLeaf: number, l2: number, learningRate: number): number;
  featOffAt(): number;
  nBinsAt(): number;
  rootTemplateAt(): number;
  ghAt(): number;
  grow(): number;
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

export class WasmGradientTreeGrower {
  readonly missingCodes: Int32Array;
  private readonly wasm: BoostingExports;
  private readonly n: number;

  constructor(
    private readonly data: BinnedMatrix,
    p: BoostingFitParams,
  ) {
    if (!useWasmBoosting(p, data)) throw new Error(`max_leaf_nodes ${p.max_leaf_nodes} on ${data.codes.length} features cannot be grown in WebAssembly (unbounded, or histograms over ${MAX_POOL_BYTES / 2 ** 20} MB)`);
    this.wasm = instantiateWasm(BOOSTING_GROWER_WASM, {}) as unknown as BoostingExports;
    const F = data.codes.length;
    const n = (this.n = data.rows);
    const featOff = new Int32Array(F + 1);
    for (let f = 0; f < F; f++) featOff[f + 1] = featOff[f]! + (data.nBins[f]! + 1) * 3;
    const histSize = histogramSize(data);
    const w = this.wasm;
    const codesAt = callWasm(`the boosting grower (${n} rows, ${F} features)`, () => w.setJob(F, n, histSize, p.max_leaf_nodes, p.max_depth > 0 ? p.max_depth : 0x7fffffff, p.min_samples_leaf, p.l2_regularization, p.learning_rate));
    const mem = w.memory.buffer;
    const codes = new Uint8Array(mem, codesAt, n * F);
    const template = new Float64Array(mem, w.rootTemplateAt(), histSize);
    template.fill(0);
    for (let f = 0; f < F; f++) {
      const column = data.codes[f]!;
      const off = featOff[f]! + 2;
      for (let i = 0, o = f; i < n; i++, o += F) {
        codes[o] = column[i]!;
        template[off + column[i]! * 3]++;
      }
    }
    new Int32Array(mem, w.featOffAt(), F).set(featOff.subarray(0, F));
    new Int32Array(mem, w.nBinsAt(), F).set(data.nBins);
    this.missingCodes = Int32Array.from(data.nBins);
  }

  /** Grows a tree on gh (gradient, hessian of row r at 2r, 2r + 1). */
  grow(gh: Float32Array): BoostTree {
    const w = this.wasm;
    new Float32Array(w.memory.buffer, w.ghAt(), 2 * this.n).set(gh.subarray(0, 2 * this.n));
    const nodes = w.grow();
    const mem = w.memory.buffer;
    const f = new Int32Array(mem, w.outFeatureAt(), nodes);
    const b = new Int32Array(mem, w.outBinAt(), nodes);
    const l = new Int32Array(mem, w.outLeftAt(), nodes);
    const r = new Int32Array(mem, w.outRightAt(), nodes);
    const ml = new Int32Array(mem, w.outMissingLeftAt(), nodes);
    const v = new Float64Array(mem, w.outValueAt(), nodes);
    const c = new Float64Array(mem, w.outCountAt(), nodes);
    const feature: number[] = new Array(nodes);
    const bin: number[] = new Array(nodes);
    const threshold: number[] = new Array(nodes);
    const left: number[] = new Array(nodes);
    const right: number[] = new Array(nodes);
    const missingLeft: (0 | 1)[] = new Array(nodes);
    const value: number[] = new Array(nodes);
    const count: number[] = new Array(nodes);
    for (let i = 0; i < nodes; i++) {
      const fi = f[i]!;
      feature[i] = fi;
      bin[i] = b[i]!;
      threshold[i] = fi < 0 ? 0 : b[i]! >= this.data.nBins[fi]! - 1 ? ALL_PRESENT : this.data.edges[fi]![b[i]!]!;
      left[i] = l[i]!;
      right[i] = r[i]!;
      missingLeft[i] = ml[i] ? 1 : 0;
      value[i] = v[i]!;
      count[i] = c[i]!;
    }
    const ranges = Array.from(new Int32Array(mem, w.outRangesAt(), 3 * w.leavesGrown()));
    const tree = new BoostTree(feature, bin, threshold, left, right, missingLeft, value, count, ranges, new Int32Array(mem, w.idxAt(), this.n).slice());
    tree.missingCodes = this.missingCodes;
    return tree;
  }
}
