import { instantiateWasm, newSharedWasmMemory, type SharedWasmMemory } from "../core/wasm.js";
import { FOREST_WALK_WASM } from "./forest-walk-wasm.js";
import type { PackedForest } from "./predictor.js";

/** A packed node's meta word: the feature index, with this bit set when a missing value goes left. */
export const MISSING_LEFT = 1 << 30;
export const FEATURE_MASK = MISSING_LEFT - 1;

/**
 * A packed forest in a shared WebAssembly memory (wasm/forest-walk.ts says why WebAssembly): one copy
 * for every thread that serves the model. It can be posted to a worker as it is (the memory is
 * shared, not copied); each thread then makes its own walk on it.
 */
export interface ForestMemory {
  memory: SharedWasmMemory;
  /** Addresses of the nodes (16 bytes each), the leaf values (f64) and the roots (i32) in the memory. */
  nodesAt: number;
  leavesAt: number;
  rootsAt: number;
  nodeCount: number;
  nTrees: number;
  nClasses: number;
  combine: PackedForest["combine"];
}

/**
 * One thread's walk of a forest memory. The sums are those JavaScript would make, bit for bit (the
 * same additions in the same order); normalizing them is the caller's.
 */
export interface ForestWalk {
  /** Summed leaf vectors of one row (`width` values) into out[0, k). */
  sumRow(row: Float64Array, out: Float64Array): void;
  /** Summed leaf vectors of `n` rows laid end to end (`width` values each) into `out`, k per row. */
  sumRows(rows: Float64Array, n: number, out: Float64Array): void;
}

interface WalkExports {
  useForest(nodes: number, leaves: number, roots: number, nTrees: number, classes: number): void;
  useRows(rows: number, sums: number): void;
  sumRow(): void;
  sumRows(n: number, width: number): void;
}

/** Rows walked per call into the module: a larger batch goes in runs of this many (20 kB of rows at width 10). */
export const WALK_ROWS = 256;

/**
 * New pages for `bytes` at the end of the memory; the address of the first. Growing hands each caller
 * the pages it added, so threads taking room at once never share any.
 */
function take(memory: SharedWasmMemory, bytes: number): number {
  try {
    return memory.grow(Math.ceil(bytes / 65536)) * 65536;
  } catch (error) {
    throw new Error(`the forest walk: out of WebAssembly memory (${bytes} more bytes: ${(error as Error).message})`, { cause: error });
  }
}

/** The packed forest copied into a new shared memory (no module is compiled for it). */
export function forestMemory(packed: PackedForest): ForestMemory {
  const memory = newSharedWasmMemory();
  const nodesAt = take(memory, packed.nodes.byteLength + packed.leafValues.byteLength + packed.roots.byteLength);
  const leavesAt = nodesAt + packed.nodes.byteLength;
  const rootsAt = leavesAt + packed.leafValues.byteLength;
  const buffer = memory.buffer;
  new Uint8Array(buffer, nodesAt, packed.nodes.byteLength).set(new Uint8Array(packed.nodes));
  new Float64Array(buffer, leavesAt, packed.leafValues.length).set(packed.leafValues);
  new Int32Array(buffer, rootsAt, packed.roots.length).set(packed.roots);
  return { memory, nodesAt, leavesAt, rootsAt, nodeCount: packed.nodes.byteLength / 16, nTrees: packed.roots.length, nClasses: packed.nClasses, combine: packed.combine };
}

/** A walk for rows of `width` values: a module instance on the forest's memory, with its own rows. */
export function forestWalk(forest: ForestMemory, width: number): ForestWalk {
  const k = forest.nClasses;
  // The module reads a node's feature from the row without a bounds check: every feature must be in it.
  const meta = new Int32Array(forest.memory.buffer, forest.nodesAt, forest.nodeCount * 4);
  for (let node = 0; node < forest.nodeCount; node++) {
    const m = meta[4 * node + 2]!;
    if (m >= 0 && (m & FEATURE_MASK) >= width) throw new Error(`forest node ${node} reads feature ${m & FEATURE_MASK}, beyond the ${width} of a row`);
  }
  const w = instantiateWasm(FOREST_WALK_WASM, { memory: forest.memory }) as unknown as WalkExports;
  w.useForest(forest.nodesAt, forest.leavesAt, forest.rootsAt, forest.nTrees, k);
  const rowsAt = take(forest.memory, WALK_ROWS * (width + k) * 8);
  const sumsAt = rowsAt + WALK_ROWS * width * 8;
  w.useRows(rowsAt, sumsAt);
  // A shared memory's buffer object has the size the memory had when it was read: read it after this growth.
  const buffer = forest.memory.buffer;
  const rows = new Float64Array(buffer, rowsAt, WALK_ROWS * width);
  const sums = new Float64Array(buffer, sumsAt, WALK_ROWS * k);
  const firstRow = rows.subarray(0, width);
  const firstSums = sums.subarray(0, k);
  return {
    sumRow(row, out) {
      firstRow.set(row.length === width ? row : row.subarray(0, width));
      w.sumRow();
      out.set(firstSums);
    },
    sumRows(matrix, n, out) {
      for (let from = 0; from < n; from += WALK_ROWS) {
        const m = Math.min(WALK_ROWS, n - from);
        rows.set(matrix.subarray(from * width, (from + m) * width));
        w.sumRows(m, width);
        out.set(m === WALK_ROWS ? sums : sums.subarray(0, m * k), from * k);
      }
    },
  };
}
