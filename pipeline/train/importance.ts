import type { TreeJson } from "../model/artifact-schema.js";
import { impurityImportance, predictProbaTrees, splitWeightImportance, type TreeCombine } from "../model/tree-eval.js";
import type { FeatureMatrix } from "../model/transform.js";
import { argmaxRows, labelScores } from "./metrics.js";
import { Random } from "../core/random.js";

/**
 * Feature importance, reported per input feature (a one-hot encoded category sums, or is permuted
 * as, all of its columns).
 * - impurity: total weighted impurity decrease of the splits on a feature, normalised to sum 1
 *   (from the tree module); cheap, but biased towards features with many distinct values;
 * - permutation: the drop in macro-F1 on held-out rows when one feature's values are shuffled
 *   (seeded), averaged over `repeats` shuffles; model-agnostic and computed on the test set.
 */

export interface FeatureGroup {
  name: string;
  /** Encoded columns that belong to this input feature. */
  columns: number[];
}

export interface PermutationScore {
  mean: number;
  std: number;
}

/** Input features → encoded columns, from the encoded names ("season=summer" belongs to "season"). */
export function featureGroups(inputFeatures: string[], encodedNames: string[]): FeatureGroup[] {
  return inputFeatures.map((name) => ({
    name,
    columns: encodedNames.flatMap((e, i) => (e === name || e.startsWith(`${name}=`) ? [i] : [])),
  }));
}

/** For boosted trees (leaves are raw scores, no class counts), the rows routed by each feature's splits instead. */
export function impurityByFeature(trees: TreeJson[], groups: FeatureGroup[], nEncoded: number, criterion: "gini" | "entropy" = "gini", combine: TreeCombine = "mean"): Record<string, number> {
  const raw = combine === "sum_softmax" ? splitWeightImportance(trees, nEncoded) : impurityImportance(trees, nEncoded, criterion);
  const out: Record<string, number> = {};
  for (const g of groups) out[g.name] = g.columns.reduce((s, c) => s + (raw[c] ?? 0), 0);
  return out;
}

/** Rows are subsampled (seeded) to at most `maxRows`: the estimate needs hundreds of rows, not all. */
export function permutationImportance(
  trees: TreeJson[],
  X: FeatureMatrix,
  y: Int32Array,
  nClasses: number,
  groups: FeatureGroup[],
  options: { repeats: number; seed: number; maxRows?: number; combine?: TreeCombine; decisionWeights?: ArrayLike<number> | null },
): Record<string, PermutationScore> {
  const out: Record<string, PermutationScore> = {};
  if (options.repeats <= 0 || X.rows === 0) return out;
  const rng = new Random(options.seed);
  let sample: FeatureMatrix = X;
  let labels = y;
  const maxRows = options.maxRows ?? 10_000;
  if (X.rows > maxRows) {
    const order = Int32Array.from({ length: X.rows }, (_, i) => i);
    rng.shuffle(order);
    const pick = order.slice(0, maxRows).sort();
    sample = { rows: maxRows, names: X.names, features: X.features.map((f) => Float64Array.from(pick, (r) => f[r]!)) };
    labels = Int32Array.from(pick, (r) => y[r]!);
  }
  const score = (m: FeatureMatrix) => labelScores(labels, argmaxRows(predictProbaTrees(trees, m, nClasses, options.combine), nClasses, options.decisionWeights), nClasses).macro_f1;
  const base = score(sample);
  for (const g of groups) {
    const drops: number[] = [];
    for (let rep = 0; rep < options.repeats; rep++) {
      const perm = Int32Array.from({ length: sample.rows }, (_, i) => i);
      rng.shuffle(perm);
      const features = sample.features.slice();
      for (const c of g.columns) features[c] = Float64Array.from(perm, (r) => sample.features[c]![r]!);
      drops.push(base - score({ ...sample, features }));
    }
    const mean = drops.reduce((s, d) => s + d, 0) / drops.length;
    const std = Math.sqrt(drops.reduce((s, d) => s + (d - mean) ** 2, 0) / drops.length);
    out[g.name] = { mean, std };
  }
  return out;
}
