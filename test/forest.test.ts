import { describe, expect, it } from "vitest";
import type { TreeJson } from "../pipeline/model/artifact-schema.js";
import { predictProbaTrees } from "../pipeline/model/tree-eval.js";
import { fitForest, impurityImportance, resolveMaxFeatures, type ForestFitParams } from "../pipeline/train/forest.js";
import { Random } from "../pipeline/core/random.js";
import { fitTree } from "../pipeline/train/tree.js";

const params: ForestFitParams = {
  criterion: "gini",
  max_depth: 8,
  min_samples_split: 2,
  min_samples_leaf: 1,
  class_weight: "none",
  max_bins: 64,
  n_trees: 12,
  max_features: "sqrt",
  bootstrap: true,
  max_samples: 1,
  n_jobs: 1,
};

/** 5 features: x0, x1 informative, x2..x4 noise; 10% missing in x2; 15% label noise. */
function data(rows: number, seed: number) {
  const rng = new Random(seed);
  const features = Array.from({ length: 5 }, () => new Float64Array(rows));
  const y = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    for (const c of features) c[i] = rng.normal();
    if (rng.next() < 0.1) features[2][i] = Number.NaN;
    const s = features[0][i] * features[1][i] + 0.5 * features[0][i];
    y[i] = rng.next() < 0.15 ? rng.int(3) : s < -0.3 ? 0 : s < 0.5 ? 1 : 2;
  }
  return { X: { rows, features, names: ["x0", "x1", "x2", "x3", "x4"] }, y };
}

function accuracy(trees: TreeJson[], X: { rows: number; features: Float64Array[] }, y: Int32Array): number {
  const p = predictProbaTrees(trees, X, 3);
  let ok = 0;
  for (let i = 0; i < X.rows; i++) {
    let best = 0;
    for (let c = 1; c < 3; c++) if (p[i * 3 + c] > p[i * 3 + best]) best = c;
    if (best === y[i]) ok++;
  }
  return ok / X.rows;
}

describe("fitForest", () => {
  const d = data(3000, 1);

  it("is deterministic and the same on one thread and on worker threads", async () => {
    const one = await fitForest(d.X, d.y, 3, params, { seed: 42 });
    const again = await fitForest(d.X, d.y, 3, params, { seed: 42 });
    const two = await fitForest(d.X, d.y, 3, { ...params, n_jobs: 2 }, { seed: 42 });
    const auto = await fitForest(d.X, d.y, 3, { ...params, n_jobs: 0 }, { seed: 42 });
    expect(one).toHaveLength(params.n_trees);
    expect(JSON.stringify(again)).toBe(JSON.stringify(one));
    expect(JSON.stringify(two)).toBe(JSON.stringify(one));
    expect(JSON.stringify(auto)).toBe(JSON.stringify(one));
    const other = await fitForest(d.X, d.y, 3, params, { seed: 43 });
    expect(JSON.stringify(other)).not.toBe(JSON.stringify(one));
  });

  it("grows different trees (bootstrap, feature subsets) and beats a single tree on held-out data", async () => {
    const train = { rows: 2000, features: d.X.features.map((c) => c.slice(0, 2000)), names: d.X.names };
    const test = { rows: 1000, features: d.X.features.map((c) => c.slice(2000)) };
    const yTrain = d.y.slice(0, 2000);
    const yTest = d.y.slice(2000);
    const forest = await fitForest(train, yTrain, 3, { ...params, n_trees: 30, max_depth: 12 }, { seed: 1 });
    expect(new Set(forest.map((t) => JSON.stringify(t))).size).toBe(30);
    // Bootstrap: the root holds as many draws as rows, but fewer distinct rows reach deep leaves.
    for (const t of forest) expect(t.n[0]).toBe(2000);
    const single = fitTree(train, yTrain, 3, { ...params, max_depth: 12, max_features: 5 });
    expect(accuracy(forest, test, yTest)).toBeGreaterThan(accuracy([single], test, yTest));
  });

  it("max_samples shrinks each tree's sample; bootstrap false uses every row once", async () => {
    const half = await fitForest(d.X, d.y, 3, { ...params, n_trees: 3, max_samples: 0.5 }, { seed: 3 });
    for (const t of half) expect(t.n[0]).toBe(1500);
    const all = await fitForest(d.X, d.y, 3, { ...params, n_trees: 3, bootstrap: false, max_features: "all" }, { seed: 3 });
    // Without bootstrap or feature sampling every tree is the same single tree.
    expect(JSON.stringify(all[1])).toBe(JSON.stringify(all[0]));
    expect(all[0].n[0]).toBe(3000);
  });

  it("ranks informative features first by impurity importance", async () => {
    const forest = await fitForest(d.X, d.y, 3, { ...params, n_trees: 20 }, { seed: 5 });
    const imp = impurityImportance(forest, 5);
    const noise = Math.max(imp[2], imp[3], imp[4]);
    expect(imp[0]).toBeGreaterThan(noise);
    expect(imp[1]).toBeGreaterThan(noise);
    expect(imp.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 10);
  });

  it("applies class weights given by class name", async () => {
    const heavy = await fitForest(d.X, d.y, 3, { ...params, class_weight: { c2: 20 } }, { seed: 6, classNames: ["c0", "c1", "c2"] });
    const plain = await fitForest(d.X, d.y, 3, params, { seed: 6 });
    const share = (trees: TreeJson[]) => {
      const p = predictProbaTrees(trees, d.X, 3);
      let n = 0;
      for (let i = 0; i < d.X.rows; i++) if (p[i * 3 + 2] > p[i * 3] && p[i * 3 + 2] > p[i * 3 + 1]) n++;
      return n / d.X.rows;
    };
    // Weight 20 on c2 raises its predicted share (by 0.07-0.12 over seeds 1-3 of this data).
    expect(share(heavy)).toBeGreaterThan(share(plain) + 0.05);
  });

  it("resolves max_features like scikit-learn", () => {
    expect(resolveMaxFeatures("sqrt", 7)).toBe(2);
    expect(resolveMaxFeatures("log2", 8)).toBe(3);
    expect(resolveMaxFeatures("all", 8)).toBe(8);
    expect(resolveMaxFeatures(0.5, 7)).toBe(3);
    expect(resolveMaxFeatures(3, 7)).toBe(3);
    expect(resolveMaxFeatures(0.01, 7)).toBe(1);
  });

  it("rejects bad parameters", async () => {
    await expect(fitForest(d.X, d.y, 3, { ...params, n_trees: 0 }, { seed: 1 })).rejects.toThrow(/n_trees/);
    await expect(fitForest(d.X, d.y, 3, { ...params, max_samples: 1.5 }, { seed: 1 })).rejects.toThrow(/max_samples/);
  });
});
