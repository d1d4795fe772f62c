import type { Random } from "../core/random.js";
import type { BinnedMatrix } from "./binning.js";
import { FOREST_GROWER_WASM } from "./forest-grower-wasm.js";
import { callWasm, instantiateWasm } from "../core/wasm.js";
import type { GrowParams } from "./tree.js";
import type { PackedTree } from "./forest.js";

/**
 * Forest members grown presorted in WebAssembly (wasm/forest-grower.ts has the algorithm and says why).
 * This side sorts each feature's rows once per forest, copies the job into the module's memory once per
 * thread, and per tree writes the bootstrap sample in and reads the nodes out.
 */

/** Rows of the job at most, as features x rows: the module holds about 12 bytes per cell, twice (job and tree). */
const MAX_CELLS = 1 << 23;
/**
 * The partition moves every feature's rows at every split, so its cost grows with the features while a
 * histogram's grows with the drawn ones: bench/forest-grower-width.ts measured the presorted grower at
 * 0.41x the histogram grower's time per tree with 7 features, 0.53x with 32 and 0.71x with 128.
 */
const MAX_FEATURES = 128;
/** The module keeps a row's class in 8 bits and its bootstrap count in the 23 above. */
const MAX_CLASSES = 256;
const MAX_COUNT = 2 ** 23 - 1;
/** The rank of a missing value: above every present one, so missing values sort last. */
const MISSING_RANK = 0x7fffffff;

/** Whether a forest grows presorted (feature subsampling, few features, fits the module's limits). */
export function usePresorted(nFeatures: number, maxFeatures: number, rows: number, nClasses: number): boolean {
  return maxFeatures < nFeatures && nFeatures <= MAX_FEATURES && nFeatures * rows <= MAX_CELLS && nClasses <= MAX_CLASSES && rows <= MAX_COUNT;
}

/** Each feature's rows in value order, computed once per forest and shared by every thread's grower. */
export interface PresortedFeatures {
  /** Rows by ascending value, missing values last (equal values in row order). */
  orders: Int32Array[];
  /** Each row's rank: the index of its value in `distinct`, MISSING_RANK when missing. */
  ranks: Int32Array[];
  /** The distinct present values, ascending. */
  distinct: Float64Array[];
}

/**
 * Sorts each feature once. The rows are counting-sorted by bin code first (bins are value ranges in
 * order), so only each bin's few hundred values are sorted (natively, as a typed array), deduplicated and
 * searched; then the rows are counting-sorted by rank. `shared` puts the results in SharedArrayBuffers
 * for the workers.
 */
export function presortFeatures(data: BinnedMatrix, shared = false): PresortedFeatures {
  const n = data.rows;
  const int32 = (length: number) => (shared ? new Int32Array(new SharedArrayBuffer(length * 4)) : new Int32Array(length));
  const out: PresortedFeatures = { orders: [], ranks: [], distinct: [] };
  const byBin = new Int32Array(n);
  const scratch = new Float64Array(n);
  data.values.forEach((values, f) => {
    const codes = data.codes[f]!;
    const nb = data.nBins[f]!;
    const binStart = new Int32Array(nb + 2);
    for (let i = 0; i < n; i++) binStart[codes[i]! + 1]!++;
    for (let c = 0; c <= nb; c++) binStart[c + 1]! += binStart[c]!;
    const cursor = binStart.slice(0, nb + 1);
    for (let i = 0; i < n; i++) byBin[cursor[codes[i]!]!++] = i;
    const ranks = int32(n);
    // The distinct values of bins 0.., in order, gathered into scratch; d counts them.
    let d = 0;
    for (let c = 0; c < nb; c++) {
      const a = binStart[c]!;
      const m = binStart[c + 1]! - a;
      if (m === 0) continue;
      const first = d;
      const run = scratch.subarray(first, first + m);
      for (let k = 0; k < m; k++) run[k] = values[byBin[a + k]!]!;
      run.sort();
      for (let k = 0; k < m; k++) if (k === 0 || run[k] !== scratch[d - 1]) scratch[d++] = run[k]!;
      for (let k = 0; k < m; k++) {
        const row = byBin[a + k]!;
        const v = values[row]!;
        let lo = first;
        let hi = d - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (scratch[mid]! < v) lo = mid + 1;
          else hi = mid;
        }
        ranks[row] = lo;
      }
    }
    for (let k = binStart[nb]!; k < n; k++) ranks[byBin[k]!] = MISSING_RANK;
    const distinct = shared ? new Float64Array(new SharedArrayBuffer(d * 8)) : new Float64Array(d);
    distinct.set(scratch.subarray(0, d));
    // Counting sort by rank; the missing rows go after every rank, in row order.
    const start = new Int32Array(d + 1);
    for (let i = 0; i < n; i++) if (ranks[i] !== MISSING_RANK) start[ranks[i]! + 1]!++;
    for (let r = 0; r < d; r++) start[r + 1]! += start[r]!;
    const order = int32(n);
    let missingAt = start[d]!;
    for (let i = 0; i < n; i++) {
      const r = ranks[i]!;
      order[r === MISSING_RANK ? missingAt++ : start[r]!++] = i;
    }
    out.orders.push(order);
    out.ranks.push(ranks);
    out.distinct.push(distinct);
  });
  return out;
}

interface GrowerExports {
  memory: { buffer: ArrayBuffer };
  setJob(features: number, rows: number, classes: number): number;
  ranksAt(): number;
  ordersAt(): number;
  yAt(): number;
  classWeightAt(): number;
  prepareTree(rows: number): number;
  countAt(): number;
  grow(maxDepth: number, minSamplesSplit: number, minSamplesLeaf: number, maxFeatures: number, entropy: number): number;
  outFeatureAt(): number;
  outThresholdAt(): number;
  outLeftAt(): number;
  outRightAt(): number;
  outMissingLeftAt(): number;
  outValueAt(): number;
  outNAt(): number;
}

/** One module instance (its own memory) holding one forest job. */
export class PresortedForestGrower {
  private readonly wasm: GrowerExports;
  private readonly nClasses: number;
  /** The random source of the tree being grown: the module draws features through it. */
  private rng: Random | null = null;

  constructor(presorted: PresortedFeatures, y: Int32Array, nClasses: number, classWeight: Float64Array) {
    const draw = (n: number): number => this.rng!.int(n);
    this.wasm = instantiateWasm(FOREST_GROWER_WASM, { draw }) as unknown as GrowerExports;
    this.nClasses = nClasses;
    const F = presorted.orders.length;
    const N = y.length;
    const w = this.wasm;
    const distinctAt = callWasm(`the forest grower (${N} rows, ${F} features)`, () => w.setJob(F, N, nClasses));
    const mem = w.memory.buffer;
    const distinct = new Float64Array(mem, distinctAt, F * N);
    const ranks = new Int32Array(mem, w.ranksAt(), F * N);
    const orders = new Int32Array(mem, w.ordersAt(), F * N);
    for (let f = 0; f < F; f++) {
      distinct.set(presorted.distinct[f]!, f * N);
      ranks.set(presorted.ranks[f]!, f * N);
      orders.set(presorted.orders[f]!, f * N);
    }
    new Int32Array(mem, w.yAt(), N).set(y);
    new Float64Array(mem, w.classWeightAt(), nClasses).set(classWeight);
  }

  /** Grows a tree on `rows` (ascending) drawn `count` times each (null = once). */
  grow(p: GrowParams, rows: Int32Array, count: Float64Array | null, rng: Random): PackedTree {
    const w = this.wasm;
    const n = rows.length;
    const rowsAt = callWasm(`the forest grower (a tree of ${n} rows)`, () => w.prepareTree(n));
    let mem = w.memory.buffer;
    new Int32Array(mem, rowsAt, n).set(rows);
    const counts = new Int32Array(mem, w.countAt(), n);
    if (count) {
      for (let j = 0; j < n; j++) {
        const c = count[j]!;
        if (!(Number.isInteger(c) && c >= 1 && c <= MAX_COUNT)) throw new Error(`bootstrap count ${c} of row ${rows[j]} cannot be grown presorted`);
        counts[j] = c;
      }
    } else counts.fill(1);
    this.rng = rng;
    let nodes: number;
    try {
      const depth = Number.isFinite(p.maxDepth) ? Math.min(p.maxDepth, 0x7fffffff) : 0x7fffffff;
      nodes = w.grow(depth, p.minSamplesSplit, p.minSamplesLeaf, p.maxFeatures, p.criterion === "entropy" ? 1 : 0);
    } finally {
      this.rng = null;
    }
    mem = w.memory.buffer;
    const K = this.nClasses;
    return {
      feature: new Int32Array(mem, w.outFeatureAt(), nodes).slice(),
      threshold: new Float64Array(mem, w.outThresholdAt(), nodes).slice(),
      left: new Int32Array(mem, w.outLeftAt(), nodes).slice(),
      right: new Int32Array(mem, w.outRightAt(), nodes).slice(),
      missingLeft: new Uint8Array(mem, w.outMissingLeftAt(), nodes).slice(),
      value: new Float64Array(mem, w.outValueAt(), nodes * K).slice(),
      n: new Float64Array(mem, w.outNAt(), nodes).slice(),
    };
  }
}
