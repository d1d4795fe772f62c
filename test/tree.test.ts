import { describe, expect, it } from "vitest";
import type { TreeJson } from "../pipeline/model/artifact-schema.js";
import { TreeSchema } from "../pipeline/model/artifact-schema.js";
import { predictProbaTrees, predictRowTrees } from "../pipeline/model/tree-eval.js";
import { binColumn, fitBinEdges } from "../pipeline/train/binning.js";
import { Random } from "../pipeline/core/random.js";
import { fitTree, impurityImportance, type TrainMatrix, type TreeFitParams } from "../pipeline/train/tree.js";

const base: TreeFitParams = { criterion: "gini", max_depth: 6, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none", max_bins: 256 };

interface Data {
  X: TrainMatrix;
  y: Int32Array;
}

/** 4 features: x0, x1 informative (nonlinear rule), x2, x3 noise; 3 classes; `noise` share of labels flipped. */
function synthetic(rows: number, seed: number, noise = 0.05, decimals = 1): Data {
  const rng = new Random(seed);
  const f = Array.from({ length: 4 }, () => new Float64Array(rows));
  const y = new Int32Array(rows);
  const q = 10 ** decimals;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < 4; j++) f[j][i] = Math.round(rng.normal() * 2 * q) / q;
    const s = f[0][i] + 0.8 * Math.sin(f[1][i] * 1.5);
    let label = s < -0.7 ? 0 : s < 0.9 ? 1 : 2;
    if (rng.next() < noise) label = rng.int(3);
    y[i] = label;
  }
  return { X: { rows, features: f, names: ["x0", "x1", "x2", "x3"] }, y };
}

function slice(d: Data, start: number, end: number): Data {
  return { X: { rows: end - start, features: d.X.features.map((c) => c.slice(start, end)), names: d.X.names }, y: d.y.slice(start, end) };
}

function predict(trees: TreeJson[], X: { rows: number; features: Float64Array[] }, k: number): Int32Array {
  const p = predictProbaTrees(trees, X, k);
  const out = new Int32Array(X.rows);
  for (let i = 0; i < X.rows; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + best]) best = c;
    out[i] = best;
  }
  return out;
}

function accuracy(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) ok++;
  return ok / y.length;
}

function depths(tree: TreeJson): number[] {
  const d = new Array<number>(tree.feature.length).fill(0);
  for (let i = 0; i < tree.feature.length; i++) {
    if (tree.feature[i] >= 0) {
      d[tree.left[i]] = d[i] + 1;
      d[tree.right[i]] = d[i] + 1;
    }
  }
  return d;
}

function leaves(tree: TreeJson): number[] {
  return tree.feature.flatMap((f, i) => (f < 0 ? [i] : []));
}

describe("fitTree", () => {
  it("is deterministic: same data, params and seed give an identical tree", () => {
    const d = synthetic(1500, 1, 0.1, 3);
    const a = fitTree(d.X, d.y, 3, { ...base, max_depth: 8 }, { seed: 7 });
    const b = fitTree(d.X, d.y, 3, { ...base, max_depth: 8 }, { seed: 7 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    const c = fitTree(d.X, d.y, 3, { ...base, max_depth: 8, max_features: 2 }, { seed: 7 });
    const e = fitTree(d.X, d.y, 3, { ...base, max_depth: 8, max_features: 2 }, { seed: 7 });
    expect(JSON.stringify(c)).toBe(JSON.stringify(e));
    expect(() => TreeSchema.parse(a)).not.toThrow();
  });

  it("feature subsampling follows the seed", () => {
    const d = synthetic(1500, 2, 0.1, 3);
    const trees = [1, 2, 3, 4, 5].map((seed) => JSON.stringify(fitTree(d.X, d.y, 3, { ...base, max_features: 1 }, { seed })));
    expect(new Set(trees).size).toBeGreaterThan(1);
  });

  it("matches ml-cart's accuracy within 1 percentage point on the same training set", async () => {
    const moduleName = "ml-cart";
    const { DecisionTreeClassifier } = (await import(moduleName)) as {
      DecisionTreeClassifier: new (o: object) => { train(x: number[][], y: number[]): void; predict(x: number[][]): number[] };
    };
    const d = synthetic(1000, 3, 0.05, 1);
    const train = slice(d, 0, 800);
    const test = slice(d, 800, 1000);
    const rowsOf = (s: Data) => Array.from({ length: s.X.rows }, (_, i) => s.X.features.map((c) => c[i]));
    for (const depth of [3, 5]) {
      const reference = new DecisionTreeClassifier({ gainFunction: "gini", maxDepth: depth, minNumSamples: 3 });
      reference.train(rowsOf(train), Array.from(train.y));
      // ml-cart makes a leaf of any node with <= 3 rows, i.e. min_samples_split = 4.
      const ours = fitTree(train.X, train.y, 3, { ...base, max_depth: depth, min_samples_split: 4 });
      const refTrain = accuracy(reference.predict(rowsOf(train)), train.y);
      const refTest = accuracy(reference.predict(rowsOf(test)), test.y);
      const ourTrain = accuracy(predict([ours], train.X, 3), train.y);
      const ourTest = accuracy(predict([ours], test.X, 3), test.y);
      expect(Math.abs(ourTrain - refTrain)).toBeLessThanOrEqual(0.01);
      expect(Math.abs(ourTest - refTest)).toBeLessThanOrEqual(0.01);
      expect(ourTest).toBeGreaterThan(0.6);
    }
  });

  it("separates a trivially separable set perfectly, with pure leaves (gini and entropy)", () => {
    const rows = 300;
    const x = Float64Array.from({ length: rows }, (_, i) => i * 0.37);
    const noise = Float64Array.from({ length: rows }, (_, i) => (i * 7919) % 13);
    const y = Int32Array.from({ length: rows }, (_, i) => (x[i] < 30 ? 0 : x[i] < 70 ? 1 : 2));
    for (const criterion of ["gini", "entropy"] as const) {
      const tree = fitTree({ rows, features: [noise, x], names: ["noise", "x"] }, y, 3, { ...base, criterion });
      expect(accuracy(predict([tree], { rows, features: [noise, x] }, 3), y)).toBe(1);
      for (const leaf of leaves(tree)) expect(Math.max(...tree.value[leaf]!)).toBe(1);
      expect(tree.feature.filter((f) => f >= 0).every((f) => f === 1)).toBe(true);
      expect(tree.feature.filter((f) => f >= 0)).toHaveLength(2);
    }
  });

  it("respects max_depth and min_samples_leaf", () => {
    const d = synthetic(2000, 4, 0.2, 3);
    for (const [maxDepth, minLeaf] of [
      [3, 1],
      [12, 25],
    ]) {
      const tree = fitTree(d.X, d.y, 3, { ...base, max_depth: maxDepth, min_samples_leaf: minLeaf });
      expect(Math.max(...depths(tree))).toBeLessThanOrEqual(maxDepth);
      for (const leaf of leaves(tree)) expect(tree.n[leaf]).toBeGreaterThanOrEqual(minLeaf);
    }
    const deep = fitTree(d.X, d.y, 3, { ...base, max_depth: 12, min_samples_leaf: 1 });
    expect(Math.min(...leaves(deep).map((l) => deep.n[l]))).toBeLessThan(25);
    expect(Math.max(...depths(deep))).toBeGreaterThan(3);
  });

  it("learns where missing values go when missingness is predictive", () => {
    // Present values: class 1 iff x > 0.8 (most rows go left). Missing x: class 1, so the learned direction
    // (right) is the opposite of the heavier side.
    const rng = new Random(5);
    const rows = 1000;
    const x = new Float64Array(rows);
    const y = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      if (rng.next() < 0.15) {
        x[i] = Number.NaN;
        y[i] = 1;
      } else {
        x[i] = rng.next();
        y[i] = x[i] > 0.8 ? 1 : 0;
      }
    }
    const tree = fitTree({ rows, features: [x], names: ["x"] }, y, 2, { ...base, max_depth: 1 });
    expect(tree.feature[0]).toBe(0);
    expect(tree.threshold[0]).toBeGreaterThan(0.75);
    expect(tree.threshold[0]).toBeLessThan(0.85);
    expect(tree.missing_left[0]).toBe(0);
    expect(accuracy(predict([tree], { rows, features: [x] }, 2), y)).toBe(1);
    expect(Array.from(predictRowTrees([tree], Float64Array.of(Number.NaN), 2))).toEqual([0, 1]);

    // And the opposite case: missing values belong with the low values.
    const y2 = Int32Array.from(y, (v, i) => (Number.isNaN(x[i]) ? 0 : v));
    const tree2 = fitTree({ rows, features: [x], names: ["x"] }, y2, 2, { ...base, max_depth: 1 });
    expect(tree2.missing_left[0]).toBe(1);
    expect(accuracy(predict([tree2], { rows, features: [x] }, 2), y2)).toBe(1);
  });

  it("can split on missingness alone", () => {
    const rows = 400;
    const x = Float64Array.from({ length: rows }, (_, i) => (i % 4 === 0 ? Number.NaN : (i * 13) % 17));
    const y = Int32Array.from({ length: rows }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const tree = fitTree({ rows, features: [x], names: ["x"] }, y, 2, { ...base, max_depth: 1 });
    expect(accuracy(predict([tree], { rows, features: [x] }, 2), y)).toBe(1);
    expect(JSON.parse(JSON.stringify(tree)).threshold[0]).toBe(tree.threshold[0]);
  });

  it("class_weight balanced raises minority recall; a per-name record is applied", () => {
    const rng = new Random(6);
    const rows = 3000;
    const a = new Float64Array(rows);
    const b = new Float64Array(rows);
    const y = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const minority = rng.next() < 0.08;
      y[i] = minority ? 1 : 0;
      a[i] = rng.normal() + (minority ? 1.2 : 0);
      b[i] = rng.normal();
    }
    const X = { rows, features: [a, b], names: ["a", "b"] };
    const recall = (tree: TreeJson) => {
      const pred = predict([tree], X, 2);
      let tp = 0;
      let pos = 0;
      for (let i = 0; i < rows; i++) {
        if (y[i] === 1) {
          pos++;
          if (pred[i] === 1) tp++;
        }
      }
      return tp / pos;
    };
    const params = { ...base, max_depth: 3 };
    const plain = recall(fitTree(X, y, 2, params));
    const balanced = recall(fitTree(X, y, 2, { ...params, class_weight: "balanced" }));
    const record = recall(fitTree(X, y, 2, { ...params, class_weight: { rare: 11 } }, { classNames: ["common", "rare"] }));
    expect(balanced).toBeGreaterThan(plain + 0.3);
    expect(record).toBeGreaterThan(plain + 0.3);
    expect(() => fitTree(X, y, 2, { ...params, class_weight: { nope: 2 } }, { classNames: ["common", "rare"] })).toThrow(/nope/);
  });

  it("sample weights change the fit; zero-weight rows are ignored", () => {
    const d = synthetic(600, 8, 0.1, 1);
    const w = Float64Array.from({ length: 600 }, (_, i) => (i < 300 ? 1 : 0));
    const weighted = fitTree(d.X, d.y, 3, base, { sampleWeight: w });
    const firstHalf = fitTree(slice(d, 0, 300).X, d.y.slice(0, 300), 3, base);
    expect(weighted.n[0]).toBe(300);
    expect(predict([weighted], d.X, 3)).toEqual(predict([firstHalf], d.X, 3));
  });

  it("impurity importance ranks the informative feature first", () => {
    const rng = new Random(9);
    const rows = 2000;
    const f = Array.from({ length: 3 }, () => new Float64Array(rows));
    const y = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      for (const c of f) c[i] = rng.normal();
      y[i] = f[1][i] + 0.3 * rng.normal() > 0 ? 1 : 0;
    }
    const tree = fitTree({ rows, features: f, names: ["n0", "signal", "n2"] }, y, 2, { ...base, max_depth: 5 });
    const imp = impurityImportance([tree], 3);
    expect(imp[1]).toBeGreaterThan(imp[0]);
    expect(imp[1]).toBeGreaterThan(imp[2]);
    expect(imp[1]).toBeGreaterThan(0.5);
    expect(imp.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 10);
  });

  it("predictRowTrees agrees with predictProbaTrees", () => {
    const d = synthetic(500, 10, 0.1, 2);
    const tree = fitTree(d.X, d.y, 3, base);
    const all = predictProbaTrees([tree, tree], d.X, 3);
    const out = new Float64Array(3);
    for (let i = 0; i < 50; i++) {
      const row = Float64Array.from(d.X.features, (c) => c[i]);
      expect(Array.from(predictRowTrees([tree, tree], row, 3, out))).toEqual(Array.from(all.subarray(i * 3, i * 3 + 3)));
    }
  });

  it("rejects malformed input with a clear error", () => {
    const d = synthetic(50, 11);
    expect(() => fitTree(d.X, Int32Array.from(d.y, (v) => v + 1), 3, base)).toThrow(/outside 0..2/);
    expect(() => fitTree(d.X, d.y.slice(0, 10), 3, base)).toThrow(/labels have 10 rows/);
  });
});

describe("binning", () => {
  it("codes agree with the real-valued rule x <= edge", () => {
    const rng = new Random(12);
    for (const maxBins of [2, 16, 255]) {
      const col = Float64Array.from({ length: 3000 }, (_, i) => (i % 10 === 0 ? Number.NaN : Math.exp(rng.normal() * 2)));
      const edges = fitBinEdges(col, maxBins);
      expect(edges.length).toBeLessThanOrEqual(maxBins - 1);
      const codes = new Uint8Array(col.length);
      binColumn(col, edges, codes);
      for (let i = 0; i < col.length; i++) {
        if (Number.isNaN(col[i])) expect(codes[i]).toBe(edges.length + 1);
        else {
          const c = codes[i];
          expect(c === 0 || col[i] > edges[c - 1]).toBe(true);
          expect(c === edges.length || col[i] <= edges[c]).toBe(true);
        }
      }
    }
  });

  it("gives each distinct value its own bin when there are few", () => {
    const col = Float64Array.from({ length: 100 }, (_, i) => i % 5);
    expect(Array.from(fitBinEdges(col, 255))).toEqual([0.5, 1.5, 2.5, 3.5]);
  });
});
