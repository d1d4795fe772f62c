import type { ModelArtifact } from "./artifact-schema.js";
import { chooseClass } from "./decision.js";
import { treeCombine } from "./tree-eval.js";
import { FEATURE_MASK, forestMemory, forestWalk, MISSING_LEFT, type ForestMemory } from "./forest-walk.js";
import { checkRecord, inputContract, type CheckOptions, type CheckedRecord, type InputContract } from "./input-contract.js";

/**
 * A model compiled for serving: every tree of the ensemble packed into one set of typed arrays, so
 * predicting one record walks plain arrays with no per-tree lookup or allocation. Same rule as
 * tree-eval.ts: go left when x <= threshold; a missing value (NaN) goes to `missing_left ? left :
 * right`; summed leaf probabilities are divided by their sum (boosting: softmax of summed scores).
 */
export interface CompiledPredictor {
  contract: InputContract;
  classes: string[];
  /** Walks the forest for one encoded row; writes normalized class probabilities into `out`. */
  predictRow(row: Float64Array, out: Float64Array): void;
  /** The same for `n` encoded rows laid end to end (`width` values each); `out` gets k values per row. */
  predictRows(rows: Float64Array, n: number, width: number, out: Float64Array): void;
  /** The forest in its shared memory: a thread started later (a batch helper) walks the same copy. */
  forest: ForestMemory;
  /** The answered class of rows [from, to) of `proba` (k values per row) into `out` (argmax, or the model's decision weights). */
  chooseClasses(proba: Float64Array, from: number, to: number, out: Int32Array): void;
  /**
   * Contract check + encoding of many records, record i encoded at row i of `matrix` (a record with
   * errors leaves its row unspecified). `progress.report(i)` is called each `progress.every` records
   * with the number checked so far (a thread walking the rows already checked can start on them).
   */
  checkRecords(raws: readonly unknown[], options: CheckOptions | undefined, matrix: Float64Array, progress?: CheckProgress): CheckedRecord[];
  /** Contract check + encoding + prediction of one raw record; `probabilities` is null when it has errors. */
  predictRecord(raw: unknown, options?: CheckOptions): RecordPrediction;
  /** The same for many records: every record checked, the valid ones predicted together (faster per row). */
  predictRecords(raws: readonly unknown[], options?: CheckOptions): RecordPrediction[];
}

export interface CheckProgress {
  every: number;
  report(checked: number): void;
}

export interface RecordPrediction {
  checked: CheckedRecord;
  /** Index into classes, -1 when the record has errors. */
  classIndex: number;
  probabilities: Float64Array | null;
}

/**
 * Every tree of an ensemble in one buffer of 16-byte nodes, with the two children of a node side by
 * side (right = left + 1) and each subtree contiguous, so a walk from root to leaf touches one short
 * run of memory per level instead of five parallel arrays, and leaf vectors are stored for leaves
 * only, each distinct vector once (a forest's leaves repeat a few vectors: the committed one has
 * 58,868 leaves and 1,815 distinct vectors, so the table is 44 kB instead of 1.4 MB and stays in
 * cache between predictions; the values and the order they are summed in do not change). Per node:
 * the threshold as a float64 at byte 0; at byte 8 the feature index (bit 30 set when a missing value
 * goes left), or -1 for a leaf; at byte 12 the left child's index, or for a leaf the offset of its
 * vector in `leafValues`. This is the form a forest is built in; it is then copied into a forest
 * memory (forest-walk.ts), which the threads that serve it walk.
 */
export interface PackedForest {
  nClasses: number;
  /** "mean": leaves hold probabilities, averaged; "sum_softmax": leaves hold raw scores (boosting), summed then softmax. */
  combine: "mean" | "sum_softmax";
  roots: Int32Array;
  /** 16 bytes per node (layout above). */
  nodes: ArrayBuffer;
  leafValues: Float64Array;
}

/** Every tree of the artifact packed (layout above); refuses a tree with nodes no path reaches. */
export function packForest(model: ModelArtifact): PackedForest {
  const k = model.classes.length;
  const trees = model.model.trees;
  const total = trees.reduce((s, t) => s + t.feature.length, 0);
  const nodes = new ArrayBuffer(total * 16);
  const f64 = new Float64Array(nodes);
  const i32 = new Int32Array(nodes);
  const roots = new Int32Array(trees.length);
  // Distinct leaf vectors by their exact bits (so 0 and -0 stay apart), in order of first use.
  const offsets = new Map<string, number>();
  const distinct: number[] = [];
  const vector = new Float64Array(k);
  const bits = new Uint32Array(vector.buffer);
  let next = 0;
  trees.forEach((t, ti) => {
    roots[ti] = next++;
    // (old node, its new index): each internal node reserves the next two slots for its children
    // and the left subtree is laid out before the right one.
    const stack: [number, number][] = [[0, roots[ti]!]];
    while (stack.length > 0) {
      const [old, at] = stack.pop()!;
      const feature = t.feature[old]!;
      if (feature < 0) {
        const v = t.value[old];
        for (let c = 0; c < k; c++) vector[c] = v ? v[c]! : 0;
        const key = bits.join(",");
        let offset = offsets.get(key);
        if (offset === undefined) {
          offset = distinct.length;
          offsets.set(key, offset);
          for (let c = 0; c < k; c++) distinct.push(vector[c]!);
        }
        f64[2 * at] = 0;
        i32[4 * at + 2] = -1;
        i32[4 * at + 3] = offset;
        continue;
      }
      if (feature > FEATURE_MASK) throw new Error(`feature index ${feature} is too large to pack`);
      const left = next;
      next += 2;
      f64[2 * at] = t.threshold[old]!;
      i32[4 * at + 2] = feature | (t.missing_left[old] ? MISSING_LEFT : 0);
      i32[4 * at + 3] = left;
      stack.push([t.right[old]!, left + 1], [t.left[old]!, left]);
    }
  });
  if (next !== total) throw new Error(`packed ${next} of ${total} nodes: a tree has unreachable nodes`);
  return { nClasses: k, combine: treeCombine(model.model.algorithm, model.model.combine), roots, nodes, leafValues: Float64Array.from(distinct) };
}

const predictors = new WeakMap<ModelArtifact, CompiledPredictor>();

export function compilePredictor(model: ModelArtifact): CompiledPredictor {
  const cached = predictors.get(model);
  if (cached) return cached;
  const predictor = predictorFromPacked(model, packForest(model));
  predictors.set(model, predictor);
  return predictor;
}

/** A predictor from a packed forest (copied into a new forest memory). */
export function predictorFromPacked(model: ModelArtifact, packed: PackedForest): CompiledPredictor {
  return predictorFromForest(model, forestMemory(packed));
}

/**
 * A predictor walking a forest memory, which other threads may walk too; `model` supplies the classes
 * and the input contract (features, preprocessing, policy, reference profile). Its `trees` are not
 * read, so they may have been dropped.
 */
export function predictorFromForest(model: ModelArtifact, forest: ForestMemory): CompiledPredictor {
  const k = forest.nClasses;
  if (k !== model.classes.length) throw new Error(`the forest has ${k} classes, the model ${model.classes.length}`);
  const softmax = forest.combine === "sum_softmax";
  const weights = model.model.decision_weights ? Float64Array.from(model.model.decision_weights) : null;
  const contract = inputContract(model);
  const walk = forestWalk(forest, contract.width);

  /** Summed leaf vectors → probabilities, in place. */
  const finish = (out: Float64Array, o: number): void => {
    if (softmax) {
      // Gradient boosting: the summed leaves are raw scores (see treeCombine in tree-eval.ts).
      let max = out[o]!;
      for (let c = 1; c < k; c++) if (out[o + c]! > max) max = out[o + c]!;
      let sum = 0;
      for (let c = 0; c < k; c++) {
        out[o + c] = Math.exp(out[o + c]! - max);
        sum += out[o + c]!;
      }
      for (let c = 0; c < k; c++) out[o + c]! /= sum;
      return;
    }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += out[o + c]!;
    if (sum > 0) for (let c = 0; c < k; c++) out[o + c]! /= sum;
  };

  const predictRow = (row: Float64Array, out: Float64Array): void => {
    walk.sumRow(row, out);
    finish(out, 0);
  };

  const predictRows = (rows: Float64Array, n: number, width: number, out: Float64Array): void => {
    if (width !== contract.width) throw new Error(`rows of ${width} values, the model's contract has ${contract.width}`);
    walk.sumRows(rows, n, out);
    for (let r = 0; r < n; r++) finish(out, r * k);
  };

  const chooseClasses = (proba: Float64Array, from: number, to: number, out: Int32Array): void => {
    for (let i = from; i < to; i++) out[i] = chooseClass(proba, i * k, k, weights);
  };
  const checkRecords = (raws: readonly unknown[], options: CheckOptions | undefined, matrix: Float64Array, progress?: CheckProgress): CheckedRecord[] => {
    const width = contract.width;
    const checked: CheckedRecord[] = [];
    for (let i = 0; i < raws.length; i++) {
      checked.push(checkRecord(contract, raws[i], options, matrix.subarray(i * width, (i + 1) * width)));
      if (progress !== undefined && (i + 1) % progress.every === 0) progress.report(i + 1);
    }
    return checked;
  };
  // One scratch row per predictor: JavaScript runs one request handler at a time.
  const scratch = new Float64Array(contract.width);
  return {
    contract,
    classes: model.classes,
    predictRow,
    predictRows,
    forest,
    chooseClasses,
    checkRecords,
    predictRecords(raws, options) {
      const n = raws.length;
      const matrix = new Float64Array(n * contract.width);
      const checked = checkRecords(raws, options, matrix);
      // Rows of records with errors are walked too (any value is a valid input to a walk) and dropped.
      const proba = new Float64Array(n * k);
      predictRows(matrix, n, contract.width, proba);
      return checked.map((c, i) => (c.ok ? { checked: c, classIndex: chooseClass(proba, i * k, k, weights), probabilities: proba.subarray(i * k, (i + 1) * k) } : { checked: c, classIndex: -1, probabilities: null }));
    },
    predictRecord(raw, options) {
      const checked = checkRecord(contract, raw, options, scratch);
      if (!checked.ok) return { checked, classIndex: -1, probabilities: null };
      const proba = new Float64Array(k);
      predictRow(scratch, proba);
      return { checked, classIndex: chooseClass(proba, 0, k, weights), probabilities: proba };
    },
  };
}
