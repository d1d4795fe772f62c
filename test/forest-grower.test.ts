import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TreeJson } from "../pipeline/model/artifact-schema.js";
import { Random } from "../pipeline/core/random.js";
import { binMatrix } from "../pipeline/train/binning.js";
import { fitForest, fitForestMember, unpackTree, type ForestFitParams, type ForestJob } from "../pipeline/train/forest.js";
import { PresortedForestGrower, presortFeatures, usePresorted } from "../pipeline/train/forest-grower.js";
import { growParams, growTree, type TreeFitParams } from "../pipeline/train/tree.js";
import { callWasm } from "../pipeline/core/wasm.js";

/** A source whose every draw is 0: features are then tried in index order, as the JavaScript grower's full search does. */
class FirstDraw extends Random {
  override int(): number {
    return 0;
  }
}

interface Case {
  rows: number;
  features: Float64Array[];
  y: Int32Array;
  nClasses: number;
  count: Float64Array | null;
  classWeight: Float64Array;
  params: TreeFitParams;
}

/**
 * Few distinct values per feature (so the JavaScript grower's bins are exact and both are exact CART),
 * missing values, repeated rows (bootstrap counts) and integer class weights (sums are exact in any order).
 */
const cases: fc.Arbitrary<Case> = fc
  .record({
    rows: fc.integer({ min: 2, max: 160 }),
    nFeatures: fc.integer({ min: 1, max: 5 }),
    nClasses: fc.integer({ min: 2, max: 4 }),
    levels: fc.integer({ min: 2, max: 12 }),
    missing: fc.constantFrom(0, 0.1, 0.4),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    counts: fc.boolean(),
    weights: fc.boolean(),
    criterion: fc.constant<"gini" | "entropy">("gini"),
    max_depth: fc.integer({ min: 0, max: 8 }),
    min_samples_split: fc.integer({ min: 2, max: 6 }),
    min_samples_leaf: fc.integer({ min: 1, max: 4 }),
  })
  .map((c) => {
    const rng = new Random(c.seed);
    const features = Array.from({ length: c.nFeatures }, () => new Float64Array(c.rows));
    const y = new Int32Array(c.rows);
    for (let i = 0; i < c.rows; i++) {
      for (const col of features) col[i] = rng.next() < c.missing ? Number.NaN : (rng.int(c.levels) - c.levels / 2) * 0.37;
      y[i] = rng.int(c.nClasses);
    }
    const count = c.counts ? Float64Array.from({ length: c.rows }, () => 1 + rng.int(3)) : null;
    const classWeight = Float64Array.from({ length: c.nClasses }, () => (c.weights ? 1 + rng.int(3) : 1));
    const params: TreeFitParams = { criterion: c.criterion, max_depth: c.max_depth, min_samples_split: c.min_samples_split, min_samples_leaf: c.min_samples_leaf, class_weight: "none", max_bins: 255 };
    return { rows: c.rows, features, y, nClasses: c.nClasses, count, classWeight, params };
  });

/** Entropy score of a split (the growers' criterion: higher is better), from class weights left and right. */
function entropyScore(L: number[], R: number[]): number {
  let s = 0;
  let wL = 0;
  let wR = 0;
  for (let k = 0; k < L.length; k++) {
    wL += L[k]!;
    wR += R[k]!;
    if (L[k]! > 0) s += L[k]! * Math.log(L[k]!);
    if (R[k]! > 0) s += R[k]! * Math.log(R[k]!);
  }
  return s - (wL * Math.log(wL) + wR * Math.log(wR));
}

/** Every split of `tree` against every cut of every feature (missing left or right) among the rows reaching its node. */
function checkSplitsAreBest(c: Case, tree: TreeJson): number {
  let checked = 0;
  const weightOf = (r: number) => c.classWeight[c.y[r]]! * (c.count ? c.count[r]! : 1);
  const countOf = (r: number) => (c.count ? c.count[r]! : 1);
  const reach: number[][] = tree.feature.map(() => []);
  for (let r = 0; r < c.rows; r++) {
    let node = 0;
    reach[0]!.push(r);
    while (tree.feature[node]! >= 0) {
      const x = c.features[tree.feature[node]!]![r]!;
      node = x !== x ? (tree.missing_left[node] ? tree.left[node]! : tree.right[node]!) : x <= tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
      reach[node]!.push(r);
    }
  }
  const score = (rows: number[], goesLeft: (r: number) => boolean): number => {
    const L = new Array<number>(c.nClasses).fill(0);
    const R = new Array<number>(c.nClasses).fill(0);
    let cL = 0;
    let cR = 0;
    for (const r of rows) {
      if (goesLeft(r)) {
        L[c.y[r]!]! += weightOf(r);
        cL += countOf(r);
      } else {
        R[c.y[r]!]! += weightOf(r);
        cR += countOf(r);
      }
    }
    if (cL < c.params.min_samples_leaf || cR < c.params.min_samples_leaf || cL === 0 || cR === 0) return Number.NEGATIVE_INFINITY;
    return entropyScore(L, R);
  };
  tree.feature.forEach((f, node) => {
    if (f < 0) return;
    const rows = reach[node]!;
    let best = Number.NEGATIVE_INFINITY;
    c.features.forEach((col) => {
      const values = [...new Set(rows.map((r) => col[r]!).filter((v) => v === v))].sort((a, b) => a - b);
      for (let i = 0; i < values.length; i++) {
        const cut = values[i]!;
        for (const missingLeft of [false, true]) best = Math.max(best, score(rows, (r) => (col[r]! !== col[r]! ? missingLeft : col[r]! <= cut)));
      }
    });
    const chosen = score(rows, (r) => {
      const x = c.features[f]![r]!;
      return x !== x ? tree.missing_left[node] === 1 : x <= tree.threshold[node]!;
    });
    expect(Math.abs(chosen - best)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(best)));
    checked++;
  });
  return checked;
}

function jsTree(c: Case): TreeJson {
  const data = binMatrix({ rows: c.rows, features: c.features }, 255);
  const rows = Int32Array.from({ length: c.rows }, (_, i) => i);
  const weight = Float64Array.from({ length: c.rows }, (_, i) => c.classWeight[c.y[i]] * (c.count ? c.count[i] : 1));
  return growTree(data, c.y, c.nClasses, growParams(c.params, c.features.length, c.features.length), { rows, weight, count: c.count }, new FirstDraw(1));
}

function wasmTree(c: Case, rng: Random = new FirstDraw(1)): TreeJson {
  const data = binMatrix({ rows: c.rows, features: c.features }, 255);
  const grower = new PresortedForestGrower(presortFeatures(data), c.y, c.nClasses, c.classWeight);
  const rows = Int32Array.from({ length: c.rows }, (_, i) => i);
  return unpackTree(grower.grow(growParams(c.params, c.features.length, c.features.length), rows, c.count, rng), c.nClasses);
}

describe("the presorted forest grower (WebAssembly)", () => {
  it("grows exactly the JavaScript grower's tree when both are exact CART: same splits, thresholds, leaves and weights", () => {
    fc.assert(
      fc.property(cases, (c) => {
        expect(wasmTree(c)).toEqual(jsTree(c));
      }),
      { numRuns: 300, seed: 20261201 },
    );
  });

  it("chooses at every node of an entropy tree a split no other cut beats (scores differ from JavaScript's only in the last bits of log)", () => {
    let splits = 0;
    fc.assert(
      fc.property(cases, (c) => {
        splits += checkSplitsAreBest(c, wasmTree({ ...c, params: { ...c.params, criterion: "entropy" } }));
      }),
      { numRuns: 150, seed: 7 },
    );
    expect(splits).toBeGreaterThan(500);
  });

  it("sends missing values the way the split was scored and follows the heavier side when a node had none", () => {
    // x0 separates the classes among present values; its missing rows are all class 1, which is also the
    // class of x0 > 0, so the best split sends them right. x1 has no missing value at all.
    const x0 = Float64Array.from([-2, -1, -1.5, 1, 2, 1.5, Number.NaN, Number.NaN]);
    const x1 = Float64Array.from([0, 0, 0, 0, 0, 0, 0, 0]);
    const y = Int32Array.from([0, 0, 0, 1, 1, 1, 1, 1]);
    const c: Case = { rows: 8, features: [x0, x1], y, nClasses: 2, count: null, classWeight: Float64Array.from([1, 1]), params: { criterion: "gini", max_depth: 1, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none", max_bins: 255 } };
    const tree = wasmTree(c);
    expect(tree.feature[0]).toBe(0);
    expect(tree.threshold[0]).toBe(0);
    expect(tree.missing_left[0]).toBe(0);
    expect(tree.value[tree.right[0]]).toEqual([0, 1]);
    expect(tree.value[tree.left[0]]).toEqual([1, 0]);
  });

  it("draws features through the caller's random source: another seed, another tree; the same seed, the same tree", () => {
    const rng = new Random(5);
    const features = Array.from({ length: 6 }, () => Float64Array.from({ length: 400 }, () => rng.normal()));
    const y = Int32Array.from({ length: 400 }, (_, i) => (features[0][i] + features[3][i] > 0 ? 1 : 0));
    const c: Case = { rows: 400, features, y, nClasses: 2, count: null, classWeight: Float64Array.from([1, 1]), params: { criterion: "gini", max_depth: 6, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none", max_bins: 255 } };
    const data = binMatrix({ rows: 400, features }, 255);
    const grower = new PresortedForestGrower(presortFeatures(data), y, 2, c.classWeight);
    const rows = Int32Array.from({ length: 400 }, (_, i) => i);
    const p = growParams(c.params, 6, 2);
    const a = unpackTree(grower.grow(p, rows, null, new Random(11)), 2);
    const again = unpackTree(grower.grow(p, rows, null, new Random(11)), 2);
    const other = unpackTree(grower.grow(p, rows, null, new Random(12)), 2);
    expect(again).toEqual(a);
    expect(other).not.toEqual(a);
  });

  it("grows the JavaScript grower's forest members when its bins are exact, and is what fitForest uses for few features", async () => {
    expect(usePresorted(7, 2, 85_000, 3)).toBe(true);
    expect(usePresorted(7, 7, 85_000, 3)).toBe(false);
    expect(usePresorted(40, 6, 10_000, 3)).toBe(true);
    expect(usePresorted(200, 14, 10_000, 3)).toBe(false);
    expect(usePresorted(8, 2, 2_000_000, 3)).toBe(false);
    const rng = new Random(9);
    // 40 levels per feature: one bin each, so the JavaScript grower's splits are exact too.
    const features = Array.from({ length: 5 }, () => Float64Array.from({ length: 3000 }, () => rng.int(40) / 8 - 2.5));
    for (let i = 0; i < 3000; i += 7) features[2][i] = Number.NaN;
    const y = Int32Array.from({ length: 3000 }, (_, i) => (features[1][i] + 0.3 * features[2][i] > 0.3 ? 2 : features[0][i] > 0 ? 1 : rng.int(2)));
    const params: ForestFitParams = { criterion: "gini", max_depth: 0, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none", max_bins: 255, n_trees: 6, max_features: "sqrt", bootstrap: true, max_samples: 1, n_jobs: 1 };
    const data = binMatrix({ rows: 3000, features }, 255);
    const job: ForestJob = { data, y, nClasses: 3, grow: growParams(params, 5, 2, 0), classWeight: Float64Array.from([1, 1, 1]), bootstrap: true, drawsPerTree: 3000, seed: 3, presorted: presortFeatures(data) };
    const presorted = Array.from({ length: 6 }, (_, i) => fitForestMember(job, i));
    const js = Array.from({ length: 6 }, (_, i) => fitForestMember({ ...job, presorted: null }, i));
    expect(presorted).toEqual(js);
    expect(presorted[0]!.feature.length).toBeGreaterThan(200);
    const forest = await fitForest({ rows: 3000, features, names: ["a", "b", "c", "d", "e"] }, y, 3, params, { seed: 3 });
    expect(forest).toEqual(presorted);
  });

  it("turns a module's trap (its memory cannot grow) into an error that says so, and lets other errors through", () => {
    const RuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (m: string) => Error } }).WebAssembly.RuntimeError;
    expect(() =>
      callWasm("the forest grower (9 rows, 2 features)", () => {
        throw new RuntimeError("unreachable");
      }),
    ).toThrow("the forest grower (9 rows, 2 features): out of WebAssembly memory (unreachable)");
    expect(() =>
      callWasm("x", () => {
        throw new TypeError("not a trap");
      }),
    ).toThrow(TypeError);
    expect(callWasm("x", () => 7)).toBe(7);
  });

  it("is built from wasm/*.ts as committed (node scripts/build-wasm.mjs --check)", () => {
    const out = execFileSync(process.execPath, ["scripts/build-wasm.mjs", "--check"], { encoding: "utf8" });
    expect(out).toContain("up to date");
  }, 60_000);
});
