/**
 * Benchmark: our histogram gradient boosting vs scikit-learn's HistGradientBoostingClassifier on ASHRAE DB II
 * (same rows, same parameters, same run; missing values left missing on both sides). Prints fit time ratios,
 * accuracy and macro-F1; nothing here is asserted. Each side is fitted --reps times, alternating; medians.
 *
 *   npm run build && node dist/bench/boosting.js [--reps 3] [--max-iter 100] [--class-weight balanced] [--jobs 2] [--omp-threads 1] [--python /usr/bin/python3]
 * (scikit-learn's HistGradientBoosting uses every core through OpenMP; ours grows the class trees of an iteration on --jobs threads.)
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { predictProbaTrees } from "../pipeline/model/tree-eval.js";
import { BOOSTING_DEFAULTS, fitBoosting, type BoostingFitParams } from "../pipeline/train/boosting.js";
import { ASHRAE_FEATURES, findAshrae, loadAshrae, subset } from "./ashrae-data.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const reps = Number(option("--reps", "3"));
/** OpenMP threads for scikit-learn (unset = all cores); on a crowded machine OpenMP's spinning threads collapse, so 1 against --jobs 1 is the steadier comparison. */
const ompThreads = option("--omp-threads", "");
const python = option("--python", "/usr/bin/python3");
const classWeight = option("--class-weight", "none") as "none" | "balanced";
const params: BoostingFitParams = { ...BOOSTING_DEFAULTS, max_iter: Number(option("--max-iter", "100")), class_weight: classWeight, n_jobs: Number(option("--jobs", "2")) };

function sklearnScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const p of [path.join(here, "boosting_sklearn.py"), path.join(here, "..", "..", "bench", "boosting_sklearn.py"), path.join(process.cwd(), "bench", "boosting_sklearn.py")]) if (fs.existsSync(p)) return p;
  throw new Error(`bench/boosting_sklearn.py not found near ${here}`);
}

function scores(proba: Float64Array, y: Int32Array, k: number): { accuracy: number; macroF1: number } {
  const tp = new Float64Array(k);
  const fp = new Float64Array(k);
  const fn = new Float64Array(k);
  let ok = 0;
  for (let i = 0; i < y.length; i++) {
    let b = 0;
    for (let c = 1; c < k; c++) if (proba[i * k + c]! > proba[i * k + b]!) b = c;
    if (b === y[i]) {
      ok++;
      tp[b]++;
    } else {
      fp[b]++;
      fn[y[i]!]++;
    }
  }
  let f1 = 0;
  for (let c = 0; c < k; c++) f1 += tp[c]! + fp[c]! + fn[c]! > 0 ? (2 * tp[c]!) / (2 * tp[c]! + fp[c]! + fn[c]!) : 0;
  return { accuracy: ok / y.length, macroF1: f1 / k };
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const { file, looked } = findAshrae(import.meta.url);
if (!file) {
  console.log(`ASHRAE DB II not found (looked at ${looked.join(", ")}); nothing to benchmark`);
  process.exit(0);
}
const { d, test } = loadAshrae(file, { impute: false });
const csv = path.join(os.tmpdir(), "gitops-ml-boosting-bench-ashrae.csv");
const lines = [[...ASHRAE_FEATURES, "label", "test"].join(",")];
for (let i = 0; i < d.X.rows; i++) lines.push([...d.X.features.map((c) => (Number.isNaN(c[i]!) ? "" : c[i])), d.y[i], test[i]].join(","));
fs.writeFileSync(csv, lines.join("\n") + "\n");
const train = subset(d, test, 0);
const held = subset(d, test, 1);
const skParams = {
  learning_rate: params.learning_rate,
  max_iter: params.max_iter,
  max_leaf_nodes: params.max_leaf_nodes,
  min_samples_leaf: params.min_samples_leaf,
  l2_regularization: params.l2_regularization,
  max_bins: params.max_bins,
  early_stopping: params.early_stopping,
  validation_fraction: params.validation_fraction,
  n_iter_no_change: params.n_iter_no_change,
  tol: params.tol,
  ...(classWeight === "balanced" ? { class_weight: "balanced" } : {}),
};
console.log(`node ${process.version}, ${os.availableParallelism()} cores; baseline ${python}; ours on ${params.n_jobs} thread(s), scikit-learn OMP_NUM_THREADS=${ompThreads || "(unset)"}`);
console.log(`HistGradientBoosting on ASHRAE DB II: train ${train.X.rows}, test ${held.X.rows} rows (grouped by building), params ${JSON.stringify(skParams)}; ${reps} reps, medians`);

const ours: number[] = [];
const theirs: number[] = [];
let oursScore = { accuracy: 0, macroF1: 0 };
let oursIter = 0;
interface SklearnResult {
  fit_seconds: number;
  n_iter: number;
  test_accuracy: number;
  test_macro_f1: number;
  sklearn: string;
}
let sk = { fit_seconds: 0, n_iter: 0, test_accuracy: 0, test_macro_f1: 0, sklearn: "" } as SklearnResult;
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const fit = await fitBoosting(train.X, train.y, 3, params, { seed: 42 });
  ours.push((performance.now() - t0) / 1000);
  oursIter = fit.iterations;
  oursScore = scores(predictProbaTrees(fit.trees, held.X, 3, "sum_softmax"), held.y, 3);
  const env = ompThreads ? { ...process.env, OMP_NUM_THREADS: ompThreads } : process.env;
  const run = spawnSync(python, [sklearnScript(), csv, JSON.stringify(skParams)], { encoding: "utf8", maxBuffer: 1 << 24, env });
  if (run.status !== 0) throw new Error(`sklearn baseline failed:\n${run.stderr}`);
  sk = JSON.parse(run.stdout.trim().split("\n").pop()!) as SklearnResult;
  theirs.push(sk.fit_seconds);
}
const fmt = (v: number, dgt = 3) => v.toFixed(dgt);
console.log("side     | fit s (median) | ratio  | iterations | accuracy | macro-F1");
console.log(`ours     | ${fmt(median(ours)).padStart(14)} | ${fmt(median(ours) / median(theirs), 2).padStart(5)}x | ${String(oursIter).padStart(10)} | ${fmt(oursScore.accuracy, 4).padStart(8)} | ${fmt(oursScore.macroF1, 4)}`);
console.log(`sklearn  | ${fmt(median(theirs)).padStart(14)} |  1.00x | ${String(sk.n_iter).padStart(10)} | ${fmt(sk.test_accuracy, 4).padStart(8)} | ${fmt(sk.test_macro_f1, 4)}   (scikit-learn ${sk.sklearn})`);
console.log(`fit times ours: ${ours.map((s) => fmt(s, 2)).join(", ")}; sklearn: ${theirs.map((s) => fmt(s, 2)).join(", ")}`);
