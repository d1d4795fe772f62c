/**
 * Quality with and without the physics features (pipeline/model/physics.ts: PMV, PPD, operative
 * temperature, deviation from the ASHRAE 55 adaptive comfort temperature) on ASHRAE DB II: the 7 raw
 * features, test = buildings with building_id % 5 == 0, grouped 3-fold CV by building on the training
 * part only (the test part is scored once per variant). Missing values stay missing. Not a test.
 *
 *   npm run build && node dist/bench/physics-quality.js [--forest]
 */
import { predictProbaTrees, treeCombine } from "../pipeline/model/tree-eval.js";
import { physicsColumns, PHYSICS_FEATURES } from "../pipeline/model/physics.js";
import { fitBoosting, BOOSTING_DEFAULTS } from "../pipeline/train/boosting.js";
import { fitForest } from "../pipeline/train/forest.js";
import { argmaxRows, labelScores } from "../pipeline/train/metrics.js";
import type { TrainMatrix } from "../pipeline/train/tree.js";
import type { TreeJson } from "../pipeline/model/artifact-schema.js";
import { ASHRAE_FEATURES, findAshrae, loadAshrae } from "./ashrae-data.js";

const withForest = process.argv.includes("--forest");
const { file } = findAshrae(import.meta.url);
if (!file) {
  console.log("ASHRAE DB II not found; nothing to measure");
  process.exit(0);
}
const { d, test, building } = loadAshrae(file, { impute: false });
const col = (name: string) => d.X.features[ASHRAE_FEATURES.indexOf(name)]!;
const derived = physicsColumns({ ta: col("ta"), tr: col("tr"), rh: col("rh"), vel: col("vel"), clo: col("clo"), met: col("met"), t_out: col("t_out") });

function take(features: Float64Array[], names: string[], rows: Int32Array): TrainMatrix {
  return { rows: rows.length, names, features: features.map((c) => Float64Array.from(rows, (r) => c[r]!)) };
}

const trainRows: number[] = [];
const testRows: number[] = [];
for (let i = 0; i < d.X.rows; i++) (test[i] ? testRows : trainRows).push(i);
const train = Int32Array.from(trainRows);
const held = Int32Array.from(testRows);
// Grouped folds: buildings of the training part, dealt round-robin after a fixed shuffle by id hash.
const fold = (b: number) => ((b * 2654435761) >>> 0) % 3;

interface Variant {
  name: string;
  features: Float64Array[];
  names: string[];
}
const variants: Variant[] = [
  { name: "raw 7 features", features: d.X.features, names: ASHRAE_FEATURES },
  { name: "raw + physics", features: [...d.X.features, ...PHYSICS_FEATURES.map((f) => derived[f])], names: [...ASHRAE_FEATURES, ...PHYSICS_FEATURES] },
];

type Fit = (X: TrainMatrix, y: Int32Array, groups: Int32Array) => Promise<{ trees: TreeJson[]; combine: "mean" | "sum_softmax" }>;
const algorithms: { name: string; fit: Fit }[] = [
  {
    name: "gradient_boosting balanced",
    fit: async (X, y, groups) => ({
      trees: (await fitBoosting(X, y, 3, { ...BOOSTING_DEFAULTS, max_iter: 300, min_samples_leaf: 50, l2_regularization: 1, class_weight: "balanced", n_jobs: 2 }, { seed: 42, groups })).trees,
      combine: treeCombine("gradient_boosting"),
    }),
  },
];
if (withForest) {
  algorithms.push({
    name: "random_forest balanced",
    fit: async (X, y) => ({
      trees: await fitForest(X, y, 3, { criterion: "gini", max_depth: 16, min_samples_split: 2, min_samples_leaf: 10, class_weight: "balanced", max_bins: 256, n_trees: 100, max_features: "sqrt", bootstrap: true, max_samples: 0.5, n_jobs: 2 }, { seed: 42 }),
      combine: "mean",
    }),
  });
}

console.log(`ASHRAE DB II: train ${train.length} rows, test ${held.length} rows (grouped by building); grouped 3-fold CV on the training part`);
console.log("algorithm                   | features        | CV macro-F1 (folds)        | test macro-F1 | test accuracy");
for (const alg of algorithms) {
  for (const v of variants) {
    const f1s: number[] = [];
    for (let k = 0; k < 3; k++) {
      const fitRows = train.filter((r) => fold(building[r]!) !== k);
      const evalRows = train.filter((r) => fold(building[r]!) === k);
      const m = await alg.fit(take(v.features, v.names, fitRows), Int32Array.from(fitRows, (r) => d.y[r]!), Int32Array.from(fitRows, (r) => building[r]!));
      const proba = predictProbaTrees(m.trees, take(v.features, v.names, evalRows), 3, m.combine);
      f1s.push(labelScores(Int32Array.from(evalRows, (r) => d.y[r]!), argmaxRows(proba, 3), 3).macro_f1);
    }
    const m = await alg.fit(take(v.features, v.names, train), Int32Array.from(train, (r) => d.y[r]!), Int32Array.from(train, (r) => building[r]!));
    const s = labelScores(Int32Array.from(held, (r) => d.y[r]!), argmaxRows(predictProbaTrees(m.trees, take(v.features, v.names, held), 3, m.combine), 3), 3);
    const cv = f1s.reduce((a, b) => a + b, 0) / 3;
    console.log(`${alg.name.padEnd(27)} | ${v.name.padEnd(15)} | ${cv.toFixed(3)} (${f1s.map((x) => x.toFixed(3)).join(", ")}) | ${s.macro_f1.toFixed(3).padStart(13)} | ${s.accuracy.toFixed(3)}`);
  }
}
