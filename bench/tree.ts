/**
 * Benchmark: our CART trainer vs scikit-learn (same run, same files) and vs ml-cart; random forest on
 * ASHRAE DB II vs RandomForestClassifier(n_jobs=2). Prints ratios; nothing here is asserted.
 *
 *   npx tsx bench/tree.ts              (from source; forest workers start through tsx)
 *   npm run build && node dist/bench/tree.js
 *   Options: --sizes 20000,100000,1000000  --no-mlcart  --no-forest  --no-tree  --no-sklearn  --jobs 2,1  --trees 100  --python /usr/bin/python3
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { predictProbaTrees } from "../pipeline/model/tree-eval.js";
import { fitForest } from "../pipeline/train/forest.js";
import { Random } from "../pipeline/core/random.js";
import { fitTree, type TrainMatrix } from "../pipeline/train/tree.js";
import { ASHRAE_FEATURES, findAshrae, loadAshrae, subset } from "./ashrae-data.js";

const N_FEATURES = 8;
const N_CLASSES = 3;
const MAX_DEPTH = 10;

interface Args {
  sizes: number[];
  mlcart: boolean;
  forest: boolean;
  tree: boolean;
  sklearn: boolean;
  jobs: number[];
  trees: number;
  python: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { sizes: [20_000, 100_000, 1_000_000], mlcart: true, forest: true, tree: true, sklearn: true, jobs: [2, 1], trees: 100, python: "/usr/bin/python3" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--sizes") args.sizes = argv[++i].split(",").map(Number);
    else if (a === "--no-mlcart") args.mlcart = false;
    else if (a === "--no-forest") args.forest = false;
    else if (a === "--no-tree") args.tree = false;
    else if (a === "--no-sklearn") args.sklearn = false;
    else if (a === "--jobs") args.jobs = argv[++i].split(",").map(Number);
    else if (a === "--trees") args.trees = Number(argv[++i]);
    else if (a === "--python") args.python = argv[++i];
    else throw new Error(`unknown option ${a}`);
  }
  return args;
}

/** bench/tree_sklearn.py, from source (bench/) or compiled (dist/bench/). */
function sklearnScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const p of [path.join(here, "tree_sklearn.py"), path.join(here, "..", "..", "bench", "tree_sklearn.py")]) if (fs.existsSync(p)) return p;
  throw new Error(`bench/tree_sklearn.py not found near ${here}`);
}

interface Dataset {
  X: TrainMatrix;
  y: Int32Array;
}

/**
 * Deterministic synthetic data: 8 numeric features (normal, uniform, skewed, integer-valued), a
 * nonlinear 3-class rule on five of them, 10% label noise. Values are rounded to 4 decimals so the CSV text
 * parses back to exactly the doubles used here.
 */
function generate(rows: number): Dataset {
  const rng = new Random(20_261_121);
  const features = Array.from({ length: N_FEATURES }, () => new Float64Array(rows));
  const y = new Int32Array(rows);
  const r4 = (v: number) => Math.round(v * 1e4) / 1e4;
  for (let i = 0; i < rows; i++) {
    const v = [rng.normal(), rng.normal(), rng.next() * 10, Math.exp(rng.normal()), rng.int(7), rng.normal(), rng.next(), rng.normal() * 3].map(r4);
    for (let f = 0; f < N_FEATURES; f++) features[f][i] = v[f];
    const s = Math.sin(v[0] * 1.5) + v[1] * v[5] + 0.3 * (v[2] - 5) * (v[4] > 3 ? 1 : -0.5) + 0.4 * Math.log(v[3]) + 0.2 * rng.normal();
    let label = s < -0.4 ? 0 : s < 0.6 ? 1 : 2;
    if (rng.next() < 0.1) label = rng.int(N_CLASSES);
    y[i] = label;
  }
  return { X: { rows, features, names: features.map((_, f) => `f${f}`) }, y };
}

function writeCsv(file: string, d: Dataset): void {
  const fd = fs.openSync(file, "w");
  try {
    fs.writeSync(fd, d.X.names.join(",") + ",label\n");
    const chunk: string[] = [];
    for (let i = 0; i < d.X.rows; i++) {
      let line = "";
      for (let f = 0; f < N_FEATURES; f++) line += d.X.features[f][i] + ",";
      chunk.push(line + d.y[i]);
      if (chunk.length === 50_000 || i === d.X.rows - 1) {
        fs.writeSync(fd, chunk.join("\n") + "\n");
        chunk.length = 0;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

function slice(d: Dataset, start: number, end: number): Dataset {
  return { X: { rows: end - start, features: d.X.features.map((c) => c.subarray(start, end)), names: d.X.names }, y: d.y.subarray(start, end) };
}

function argmaxRows(proba: Float64Array, k: number): Int32Array {
  const out = new Int32Array(proba.length / k);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (proba[i * k + c] > proba[i * k + best]) best = c;
    out[i] = best;
  }
  return out;
}

function scores(pred: ArrayLike<number>, y: ArrayLike<number>, k: number): { accuracy: number; macroF1: number } {
  let ok = 0;
  const tp = new Float64Array(k);
  const fp = new Float64Array(k);
  const fn = new Float64Array(k);
  for (let i = 0; i < y.length; i++) {
    if (pred[i] === y[i]) {
      ok++;
      tp[y[i]]++;
    } else {
      fp[pred[i]]++;
      fn[y[i]]++;
    }
  }
  let f1 = 0;
  for (let c = 0; c < k; c++) f1 += tp[c] + fp[c] + fn[c] > 0 ? (2 * tp[c]) / (2 * tp[c] + fp[c] + fn[c]) : 0;
  return { accuracy: ok / y.length, macroF1: f1 / k };
}

interface SklearnResult {
  fit_seconds: number;
  test_accuracy: number;
  test_macro_f1: number;
  sklearn: string;
}

function runSklearn(python: string, args: string[]): SklearnResult {
  const r = spawnSync(python, [sklearnScript(), ...args], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`sklearn baseline failed (${python} ${args.join(" ")}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as SklearnResult;
}

const treeParams = { criterion: "gini" as const, max_depth: MAX_DEPTH, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none" as const, max_bins: 256 };

function benchOurs(d: Dataset, reps: number): { seconds: number; accuracy: number } {
  const nTrain = d.X.rows - Math.floor(d.X.rows / 5);
  const train = slice(d, 0, nTrain);
  const test = slice(d, nTrain, d.X.rows);
  let best = Number.POSITIVE_INFINITY;
  let tree = fitTree(train.X, train.y, N_CLASSES, treeParams);
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    tree = fitTree(train.X, train.y, N_CLASSES, treeParams);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  const pred = argmaxRows(predictProbaTrees([tree], test.X, N_CLASSES), N_CLASSES);
  return { seconds: best, accuracy: scores(pred, test.y, N_CLASSES).accuracy };
}

interface MlCartClassifier {
  train(x: number[][], y: number[]): void;
}

async function benchMlCart(d: Dataset): Promise<number> {
  const moduleName = "ml-cart";
  const { DecisionTreeClassifier } = (await import(moduleName)) as { DecisionTreeClassifier: new (o: object) => MlCartClassifier };
  const nTrain = d.X.rows - Math.floor(d.X.rows / 5);
  const x: number[][] = [];
  for (let i = 0; i < nTrain; i++) x.push(d.X.features.map((c) => c[i]));
  const y = Array.from(d.y.subarray(0, nTrain));
  const model = new DecisionTreeClassifier({ gainFunction: "gini", maxDepth: MAX_DEPTH });
  const t0 = performance.now();
  model.train(x, y);
  return (performance.now() - t0) / 1000;
}

const fmt = (v: number, d = 3) => v.toFixed(d);

async function benchTrees(args: Args): Promise<void> {
  console.log(`\nDecisionTree, ${N_FEATURES} features, 3 classes, max_depth ${MAX_DEPTH}, train = first 80%, test = last 20% (fit time; best of reps)`);
  console.log("rows      | ours s  | sklearn s | ours/sklearn | acc ours | acc sklearn | diff pp");
  for (const rows of args.sizes) {
    const d = generate(rows);
    const file = path.join(os.tmpdir(), `gitops-ml-tree-bench-${rows}.csv`);
    writeCsv(file, d);
    const reps = rows >= 500_000 ? 1 : 3;
    const ours = benchOurs(d, reps);
    const sk = runSklearn(args.python, ["tree", file, String(MAX_DEPTH), String(reps)]);
    console.log(
      `${String(rows).padEnd(9)} | ${fmt(ours.seconds).padStart(7)} | ${fmt(sk.fit_seconds).padStart(9)} | ${fmt(ours.seconds / sk.fit_seconds).padStart(11)}x | ${fmt(ours.accuracy, 4).padStart(8)} | ${fmt(sk.test_accuracy, 4).padStart(11)} | ${fmt((ours.accuracy - sk.test_accuracy) * 100, 2).padStart(7)}`,
    );
  }
  if (args.mlcart) {
    console.log("\nml-cart (reference implementation), same generator, fit time only");
    console.log("rows      | ours s  | ml-cart s | ml-cart/ours");
    for (const rows of [5_000, 20_000]) {
      const d = generate(rows);
      const ours = benchOurs(d, 3);
      const ml = await benchMlCart(d);
      console.log(`${String(rows).padEnd(9)} | ${fmt(ours.seconds).padStart(7)} | ${fmt(ml).padStart(9)} | ${fmt(ml / ours.seconds, 0).padStart(11)}x`);
    }
  }
}

async function benchForest(args: Args): Promise<void> {
  const { file, looked } = findAshrae(import.meta.url);
  if (!file) {
    console.log(`\nForest: ASHRAE DB II not found (looked at ${looked.join(", ")}); skipped`);
    return;
  }
  const { d, test } = loadAshrae(file);
  const csv = path.join(os.tmpdir(), "gitops-ml-forest-bench-ashrae.csv");
  const lines = [[...ASHRAE_FEATURES, "label", "test"].join(",")];
  for (let i = 0; i < d.X.rows; i++) lines.push([...d.X.features.map((c) => c[i]), d.y[i], test[i]].join(","));
  fs.writeFileSync(csv, lines.join("\n") + "\n");
  const train = subset(d, test, 0);
  const held = subset(d, test, 1);
  const maxDepth = 20;
  console.log(`\nRandomForest on ASHRAE DB II: ${d.X.rows} rows (train ${train.X.rows}, test ${held.X.rows}, grouped by building), ${args.trees} trees, max_features sqrt, max_depth ${maxDepth}, bootstrap`);
  console.log("side               | fit s   | vs sklearn n_jobs=2 | accuracy | macro-F1");
  const params = { ...treeParams, max_depth: maxDepth, n_trees: args.trees, max_features: "sqrt" as const, bootstrap: true, max_samples: 1 };
  const rowsOut: string[] = [];
  const none: SklearnResult = { fit_seconds: Number.NaN, test_accuracy: Number.NaN, test_macro_f1: Number.NaN, sklearn: "-" };
  const sk2 = args.sklearn ? runSklearn(args.python, ["forest", csv, String(maxDepth), String(args.trees), "2"]) : none;
  const row = (name: string, seconds: number, accuracy: number, macroF1: number) =>
    `${name.padEnd(18)} | ${fmt(seconds).padStart(7)} | ${fmt(seconds / sk2.fit_seconds).padStart(18)}x | ${fmt(accuracy, 4).padStart(8)} | ${fmt(macroF1, 4)}`;
  // Alternate the sides so that a change in machine load does not favour one of them.
  for (const nJobs of args.jobs) {
    const t0 = performance.now();
    const trees = await fitForest(train.X, train.y, N_CLASSES, { ...params, n_jobs: nJobs }, { seed: 42 });
    const seconds = (performance.now() - t0) / 1000;
    const s = scores(argmaxRows(predictProbaTrees(trees, held.X, N_CLASSES), N_CLASSES), held.y, N_CLASSES);
    rowsOut.push(row(`ours n_jobs=${nJobs}`, seconds, s.accuracy, s.macroF1));
    if (nJobs === 2) rowsOut.push(row("sklearn n_jobs=2", sk2.fit_seconds, sk2.test_accuracy, sk2.test_macro_f1));
  }
  if (args.sklearn) {
    const sk1 = runSklearn(args.python, ["forest", csv, String(maxDepth), String(args.trees), "1"]);
    rowsOut.push(row("sklearn n_jobs=1", sk1.fit_seconds, sk1.test_accuracy, sk1.test_macro_f1));
  }
  for (const r of rowsOut) console.log(r);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`node ${process.version}, ${os.availableParallelism()} cores; baseline ${args.python} (scikit-learn), files in ${os.tmpdir()}`);
  if (args.tree) await benchTrees(args);
  if (args.forest) await benchForest(args);
}

await main();
