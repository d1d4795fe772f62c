import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseModel } from "../pipeline/model/load.js";
import { packForest, predictorFromForest, predictorFromPacked } from "../pipeline/model/predictor.js";
import { predictRowTrees, treeCombine } from "../pipeline/model/tree-eval.js";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";

const MODEL = "models/thermal-comfort/v1/model.json";

/** Rows the trees read: values drawn around each feature's split points, a share of them missing. */
function rowsFor(model: ModelArtifact, width: number, n: number): Float64Array[] {
  const thresholds: number[][] = Array.from({ length: width }, () => []);
  for (const t of model.model.trees) t.feature.forEach((f, i) => f >= 0 && thresholds[f]!.push(t.threshold[i]!));
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () =>
    Float64Array.from({ length: width }, (_, f) => {
      const ts = thresholds[f]!;
      if (rand() < 0.1 || ts.length === 0) return Number.NaN;
      const t = ts[Math.floor(rand() * ts.length)]!;
      // exactly on a threshold (goes left), just above it (goes right), or near it
      const pick = rand();
      return pick < 0.3 ? t : pick < 0.6 ? t + Math.abs(t) * 1e-12 + 1e-12 : t + (rand() - 0.5);
    }),
  );
}

describe("the packed forest", () => {
  const model = parseModel(readFileSync(MODEL, "utf8"), MODEL);
  const k = model.classes.length;
  const width = model.model.trees.reduce((m, t) => Math.max(m, ...t.feature), 0) + 1;
  const combine = treeCombine(model.model.algorithm, model.model.combine);

  it("predicts exactly what the artifact's trees predict, one row or many, missing values and ties included", () => {
    const packed = packForest(model);
    const predictor = predictorFromPacked(model, packed);
    const rows = rowsFor(model, predictor.contract.width, 400);
    const out = new Float64Array(k);
    for (const row of rows) {
      predictor.predictRow(row, out);
      expect(Array.from(out)).toEqual(Array.from(predictRowTrees(model.model.trees, row, k, undefined, combine)));
    }
    expect(width).toBeLessThanOrEqual(predictor.contract.width);
    // Many rows at once (four walked side by side, and a remainder of three): the same bits per row.
    const n = rows.length - 1;
    const w = predictor.contract.width;
    const matrix = new Float64Array(n * w);
    rows.slice(0, n).forEach((row, i) => matrix.set(row, i * w));
    const many = new Float64Array(n * k);
    predictor.predictRows(matrix, n, w, many);
    for (let i = 0; i < n; i++) expect(Array.from(many.subarray(i * k, (i + 1) * k))).toEqual(Array.from(predictRowTrees(model.model.trees, rows[i]!, k, undefined, combine)));
  });

  it("holds every node once, children side by side, and walks the same from a posted forest memory", () => {
    const packed = packForest(model);
    const nodes = model.model.trees.reduce((s, t) => s + t.feature.length, 0);
    const leaves = model.model.trees.reduce((s, t) => s + t.feature.filter((f) => f < 0).length, 0);
    expect(packed.nodes.byteLength).toBe(nodes * 16);
    // Each distinct leaf vector once, every leaf pointing at its own values.
    const distinct = new Set(model.model.trees.flatMap((t) => t.value.filter((_, i) => t.feature[i]! < 0).map((v) => JSON.stringify(v))));
    expect(packed.leafValues.length).toBe(distinct.size * k);
    expect(distinct.size).toBeLessThan(leaves / 10);
    const i32 = new Int32Array(packed.nodes);
    let leafNodes = 0;
    for (let node = 0; node < nodes; node++) {
      if (i32[4 * node + 2]! >= 0) continue;
      leafNodes++;
      expect(i32[4 * node + 3]! % k).toBe(0);
      expect(i32[4 * node + 3]! + k).toBeLessThanOrEqual(packed.leafValues.length);
    }
    expect(leafNodes).toBe(leaves);
    // What a loader thread hands over: the forest memory, posted (a structured clone shares it), walked by a predictor there.
    const here = predictorFromPacked(model, packed);
    const moved = predictorFromForest(model, structuredClone(here.forest));
    const row = rowsFor(model, moved.contract.width, 1)[0]!;
    const a = new Float64Array(k);
    const b = new Float64Array(k);
    moved.predictRow(row, a);
    here.predictRow(row, b);
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it("refuses a tree with nodes no path reaches", () => {
    const t = model.model.trees[0]!;
    const broken = { ...model, model: { ...model.model, trees: [{ ...t, feature: [...t.feature, -1], threshold: [...t.threshold, 0], left: [...t.left, -1], right: [...t.right, -1], missing_left: [...t.missing_left, 0], value: [...t.value, [1, 0, 0]] }] } } as ModelArtifact;
    expect(() => packForest(broken)).toThrow(/unreachable/);
  });
});
