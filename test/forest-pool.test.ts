import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Random } from "../pipeline/core/random.js";
import { fitForest, type ForestFitParams } from "../pipeline/train/forest.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

function data(rows: number, seed: number) {
  const rng = new Random(seed);
  const features = [0, 1, 2, 3].map(() => new Float64Array(rows));
  const y = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    for (const f of features) f[i] = rng.normal();
    y[i] = features[0]![i]! + features[1]![i]! * features[2]![i]! + 0.4 * rng.normal() > 0.3 ? 1 : features[3]![i]! > 0.5 ? 2 : 0;
  }
  return { X: { rows, features, names: ["a", "b", "c", "d"] }, y };
}

const params: ForestFitParams = { criterion: "gini", max_depth: 10, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none", max_bins: 64, n_trees: 12, max_features: "sqrt", bootstrap: true, max_samples: 1, n_jobs: 2 };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "forest-pool-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("forest worker pool", () => {
  it("reuses its workers across fits of different data and still gives each fit's one-thread trees", async () => {
    const a = data(1500, 1);
    const b = data(900, 2);
    const a2 = await fitForest(a.X, a.y, 3, params, { seed: 5 });
    const b2 = await fitForest(b.X, b.y, 3, params, { seed: 6 });
    const a2again = await fitForest(a.X, a.y, 3, params, { seed: 5 });
    const a1 = await fitForest(a.X, a.y, 3, { ...params, n_jobs: 1 }, { seed: 5 });
    const b1 = await fitForest(b.X, b.y, 3, { ...params, n_jobs: 1 }, { seed: 6 });
    expect(JSON.stringify(a2)).toBe(JSON.stringify(a1));
    expect(JSON.stringify(b2)).toBe(JSON.stringify(b1));
    expect(JSON.stringify(a2again)).toBe(JSON.stringify(a1));
  });

  it("never keeps the process alive: a script that fits on workers exits by itself", async () => {
    const script = join(dir, "fit.mts");
    const forest = pathToFileURL(join(PROJECT_ROOT, "pipeline", "train", "forest.ts")).href;
    await writeFile(
      script,
      `import { fitForest } from ${JSON.stringify(forest)};
const rows = 400;
const features = [0, 1].map((f) => Float64Array.from({ length: rows }, (_, i) => ((i * (f + 3)) % 17) / 17));
const y = Int32Array.from({ length: rows }, (_, i) => (features[0][i] + features[1][i] > 1 ? 1 : 0));
const trees = await fitForest({ rows, features, names: ["a", "b"] }, y, 2, ${JSON.stringify({ ...params, n_trees: 6 })}, { seed: 1 });
console.log("trees", trees.length);
`,
    );
    const tsx = join(PROJECT_ROOT, "node_modules", ".bin", "tsx");
    const r = spawnSync(tsx, [script], { encoding: "utf8", timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("trees 6");
  }, 90_000);

  it("boosting's pool, started before the data is binned, never keeps the process alive either, also after a refused fit", async () => {
    const script = join(dir, "boost.mts");
    const boosting = pathToFileURL(join(PROJECT_ROOT, "pipeline", "train", "boosting.ts")).href;
    await writeFile(
      script,
      `import { BOOSTING_DEFAULTS, fitBoosting } from ${JSON.stringify(boosting)};
const rows = 600;
const features = [0, 1].map((f) => Float64Array.from({ length: rows }, (_, i) => ((i * (f + 3)) % 17) / 17));
const y = Int32Array.from({ length: rows }, (_, i) => (features[0][i] + features[1][i] > 1 ? 1 : i % 3 === 0 ? 2 : 0));
const X = { rows, features, names: ["a", "b"] };
const fit = await fitBoosting(X, y, 3, { ...BOOSTING_DEFAULTS, max_iter: 5, n_jobs: 2 });
// Refused after the pool has grown to two workers (class weights are resolved once the data is binned).
await fitBoosting(X, y, 3, { ...BOOSTING_DEFAULTS, class_weight: { hot: 2 }, n_jobs: 3 }).catch((e) => console.log("refused:", e.message));
console.log("trees", fit.trees.length);
`,
    );
    const tsx = join(PROJECT_ROOT, "node_modules", ".bin", "tsx");
    const r = spawnSync(tsx, [script], { encoding: "utf8", timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("refused: class_weight given per class name needs options.classNames with 3 names\ntrees 15");
  }, 90_000);
});
