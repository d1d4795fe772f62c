import type { Random } from "../core/random.js";
import type { BinnedMatrix } from "./binning.js";
import { FOREST_GROWER_WASM } from "./forest-grower-wasm.js";
import type { GrowParams } from "./tree.js";
import type { PackedTree } from "./forest.js";

/**
 * Forest members grown presorted in WebAssembly (wasm/forest-grower.ts has the algorithm and says why).
 * This side sorts each feature's rows once per forest, copies the job into the module's memory once per
 * thread, and per tree writes the bootstrap sample in and reads the nodes out.
 */

/** Rows of the job at most, as features x rows: the module holds about 12 bytes per cell, twice (job and tree). */
const MAX_CELLS = 1 << 23;
/** The partition moves every feature's rows at every split: past this many features histograms cost less. */
const MAX_FEATURES = 32;
/** The module keeps a row's class in 8 bits and its bootstrap count in the 23 above. */
const MAX_CLASSES = 256;
const MAX_COUNT = 2 ** 23 - 1;
/** The rank of a missing value: above every present one, so missing values sort last. */
const MISSING_RANK = 0x7fffffff;

/** Whether a forest grows presorted (feature subsampling, few features, fits the module's limits). */
export function usePresorted(nFeatures: number, maxFeatures: number, rows: number, nClasses: number): boolean {
  return maxFeatures < nFeatures && nFeatures <= MAX_FEATURES && nFeatures * rows <= MAX_CELLS && nClasses <= MAX_CLASSES && rows <= MAX_COUNT;
}

/** Rows of every feature in ascending value order, missing values last: computed once per forest. */
export function sortRowsByFeature(data: BinnedMatrix, shared = false): Int32Array[] {
  const n = data.rows;
  const orders: Int32Array[] = [];
  for (let f = 0; f < data.codes.length; f++) {
    const codes = data.codes[f]!;
    const values = data.values[f]!;
    const nb = data.nBins[f]!;
    // Counting sort by bin code (the missing code is the last), then each bin's run by value: a run holds
    // one value when the feature has few distinct values, a few hundred rows otherwise.
    const start = new Int32Array(nb + 2);
    for (let i = 0; i < n; i++) start[codes[i]! + 1]!++;
    for (let c = 0; c <= nb; c++) start[c + 1]! += start[c]!;
    const order = shared ? new Int32Array(new SharedArrayBuffer(n * 4)) : new Int32Array(n);
    const cursor = start.slice(0, nb + 1);
    for (let i = 0; i < n; i++) order[cursor[codes[i]!]!++] = i;
    const byValue = (a: number, b: number): number => values[a]! - values[b]!;
    for (let c = 0; c < nb; c++) {
      const run = order.subarray(start[c]!, start[c + 1]!);
      let sorted = true;
      for (let j = 1; j < run.length && sorted; j++) if (values[run[j]!]! < values[run[j - 1]!]!) sorted = false;
      if (!sorted) run.sort(byValue);
    }
    orders.push(order);
  }
  return orders;
}

/** The part of the WebAssembly API used here (the ES2022 lib does not declare it; Node 20 and 24 have it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

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

let compiled: object | null = null;

/** One module instance (its own memory) holding one forest job. */
export class PresortedForestGrower {
  private readonly wasm: GrowerExports;
  private readonly nClasses: number;
  /** The random source of the tree being grown: the module draws features through it. */
  private rng: Random | null = null;

  constructor(data: BinnedMatrix, orders: Int32Array[], y: Int32Array, nClasses: number, classWeight: Float64Array) {
    compiled ??= new wasm.Module(Buffer.from(FOREST_GROWER_WASM, "base64"));
    const draw = (n: number): number => this.rng!.int(n);
    this.wasm = new wasm.Instance(compiled, { env: { draw } }).exports as unknown as GrowerExports;
    this.nClasses = nClasses;
    const F = data.codes.length;
    const N = data.rows;
    const w = this.wasm;
    const distinctAt = w.setJob(F, N, nClasses);
    const mem = w.memory.buffer;
    const distinct = new Float64Array(mem, distinctAt, F * N);
    const ranks = new Int32Array(mem, w.ranksAt(), F * N);
    const sorted = new Int32Array(mem, w.ordersAt(), F * N);
    for (let f = 0; f < F; f++) {
      const order = orders[f]!;
      const values = data.values[f]!;
      sorted.set(order, f * N);
      // Ranks of the values (the module compares and moves 4-byte ranks, not 8-byte values); missing last.
      let d = -1;
      let previous = Number.NaN;
      for (let i = 0; i < N; i++) {
        const row = order[i]!;
        const v = values[row]!;
        if (v !== v) {
          ranks[f * N + row] = MISSING_RANK;
          continue;
        }
        if (d < 0 || v !== previous) {
          distinct[f * N + ++d] = v;
          previous = v;
        }
        ranks[f * N + row] = d;
      }
    }
    new Int32Array(mem, w.yAt(), N).set(y);
    new Float64Array(mem, w.classWeightAt(), nClasses).set(classWeight);
  }

  /** Grows a tree on `rows` (ascending) drawn `count` times each (null = once). */
  grow(p: GrowParams, rows: Int32Array, count: Float64Array | null, rng: Random): PackedTree {
    const w = this.wasm;
    const n = rows.length;
    const rowsAt = w.prepareTree(n);
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
