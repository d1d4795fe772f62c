/**
 * The presorted (WebAssembly) forest grower against the histogram grower as the number of features grows:
 * the presorted partition moves every feature's rows at each split, a histogram only the drawn features'.
 * This is what sets MAX_FEATURES in pipeline/train/forest-grower.ts.
 *   npm run build && node dist/bench/forest-grower-width.js [--features 7,16,32,64,128] [--rows 40000]
 * Random data (values with one decimal), sqrt features drawn, depth 20, bootstrap; ms per tree, mean of 5
 * after one warm-up tree, the two growers alternating twice.
 */
import { Random } from "../pipeline/core/random.js";
import { binMatrix } from "../pipeline/train/binning.js";
import { fitForestMember, type ForestJob } from "../pipeline/train/forest.js";
import { presortFeatures } from "../pipeline/train/forest-grower.js";
import { growParams } from "../pipeline/train/tree.js";

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1]! : fallback;
};
const widths = opt("--features", "7,16,32,64,128").split(",").map(Number);
const rows = Number(opt("--rows", "40000"));
if (!(rows > 0) || widths.some((f) => !(f >= 2))) throw new Error("--rows must be positive and every --features at least 2");

const msPerTree = (job: ForestJob): number => {
  fitForestMember(job, 0);
  const t0 = performance.now();
  for (let i = 1; i <= 5; i++) fitForestMember(job, i);
  return (performance.now() - t0) / 5;
};

console.log(`forest grower by width: ${rows} rows, sqrt features drawn, max_depth 20; ms per tree (two alternating measurements each)`);
console.log("features | drawn | presorted ms | histogram ms | ratio");
for (const F of widths) {
  const rng = new Random(F);
  const features = Array.from({ length: F }, () => Float64Array.from({ length: rows }, () => Math.round(rng.normal() * 100) / 10));
  const y = Int32Array.from({ length: rows }, (_, i) => (features[0]![i]! + features[1]![i]! + rng.normal() > 0.5 ? 2 : features[2 % F]![i]! > 0 ? 1 : 0));
  const data = binMatrix({ rows, features }, 256);
  const drawn = Math.floor(Math.sqrt(F));
  const params = { criterion: "gini" as const, max_depth: 20, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none" as const, max_bins: 256 };
  const job: ForestJob = { data, y, nClasses: 3, grow: growParams(params, F, drawn, 0), classWeight: Float64Array.from([1, 1, 1]), bootstrap: true, drawsPerTree: rows, seed: 1, presorted: presortFeatures(data) };
  const histogram: ForestJob = { ...job, presorted: null };
  const a = [msPerTree(job), 0];
  const b = [msPerTree(histogram), 0];
  a[1] = msPerTree(job);
  b[1] = msPerTree(histogram);
  const p = (a[0]! + a[1]!) / 2;
  const h = (b[0]! + b[1]!) / 2;
  console.log(`${String(F).padStart(8)} | ${String(drawn).padStart(5)} | ${p.toFixed(0).padStart(12)} | ${h.toFixed(0).padStart(12)} | ${(p / h).toFixed(2)}x`);
}
