/**
 * Benchmark: model.json size and load time, plain tree arrays (schema_version 1) against the packed trees
 * (schema_version 2, pipeline/model/tree-codec.ts), for the committed model and for a forest fitted on
 * ASHRAE DB II with the configured forest-balanced parameters. Load = parseModel (JSON.parse, decode,
 * schema validation, consistency checks), the median of --reps runs. Predictions are compared for
 * equality on every ASHRAE test row. Nothing here is asserted.
 *
 *   npm run build && node dist/bench/artifact.js [--reps 5] [--trees 100]
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseModel } from "../pipeline/model/load.js";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { predictProbaTrees } from "../pipeline/model/tree-eval.js";
import { serializeModel } from "../pipeline/model/tree-codec.js";
import { fitForest } from "../pipeline/train/forest.js";
import { compactTrees } from "../pipeline/train/index.js";
import { findAshrae, loadAshrae, subset } from "./ashrae-data.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const reps = Number(option("--reps", "5"));
const nTrees = Number(option("--trees", "100"));

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
const mb = (n: number) => (n / 1e6).toFixed(2);

function loadTime(text: string): number {
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    parseModel(text, "model.json");
    times.push(performance.now() - t0);
  }
  return median(times);
}

function compare(name: string, model: ModelArtifact): { packed: ModelArtifact } {
  const plain = JSON.stringify({ ...model, schema_version: 1 });
  const packed = serializeModel(model);
  const plainMs = loadTime(plain);
  const packedMs = loadTime(packed);
  console.log(`${name.padEnd(34)} | ${mb(plain.length).padStart(8)} | ${mb(packed.length).padStart(9)} | ${(plain.length / packed.length).toFixed(1).padStart(5)}x | ${plainMs.toFixed(0).padStart(8)} | ${packedMs.toFixed(0).padStart(9)}`);
  return { packed: parseModel(packed, "packed.json") };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const committedCandidates = [path.join(here, "..", "models", "thermal-comfort", "v1", "model.json"), path.join(here, "..", "..", "models", "thermal-comfort", "v1", "model.json"), path.join(process.cwd(), "models", "thermal-comfort", "v1", "model.json")];
const committed = committedCandidates.find((p) => fs.existsSync(p));
console.log(`node ${process.version}; load = parseModel, median of ${reps}`);
console.log("artifact                           | plain MB | packed MB | ratio | plain ms | packed ms");
if (committed) compare("committed thermal-comfort v1", parseModel(fs.readFileSync(committed, "utf8"), committed));

const { file } = findAshrae(import.meta.url);
if (file && committed) {
  const { d, test } = loadAshrae(file);
  const train = subset(d, test, 0);
  const held = subset(d, test, 1);
  // config/pipeline.yaml's forest-balanced.
  const params = { criterion: "gini" as const, max_depth: 16, min_samples_split: 2, min_samples_leaf: 10, class_weight: "balanced" as const, max_bins: 256, n_trees: nTrees, max_features: "sqrt" as const, bootstrap: true, max_samples: 0.5, n_jobs: 2 };
  const trees = compactTrees(await fitForest(train.X, train.y, 3, params, { seed: 42 }));
  // The committed artifact's envelope around the ASHRAE trees (only the trees' size matters here).
  const envelope = parseModel(fs.readFileSync(committed, "utf8"), committed);
  const model = { ...envelope, model: { ...envelope.model, trees } };
  const features = envelope.preprocessing.encoded_features.length;
  if (features >= d.X.features.length) {
    const { packed } = compare(`ASHRAE forest-balanced ${nTrees} trees`, model);
    const a = predictProbaTrees(trees, held.X, 3);
    const b = predictProbaTrees(packed.model.trees, held.X, 3);
    let same = a.length === b.length;
    for (let i = 0; same && i < a.length; i++) same = a[i] === b[i];
    console.log(`ASHRAE predictions identical after packing: ${same} (${held.X.rows} test rows)`);
  }
}
