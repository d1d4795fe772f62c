import { ModelArtifactSchema, type ModelArtifact, type TreeJson } from "../../pipeline/model/artifact-schema.js";

/**
 * Hand-built model artifacts for the validate-model tests: a single small tree over `ta`
 * (and a `season` category the tree may split on), valid against ModelArtifactSchema, so the
 * gate tests do not depend on the trainer or its speed.
 */

export const CLASSES = ["cool", "neutral", "warm"] as const;
const ONE_HOT = { cool: [1, 0, 0], neutral: [0, 1, 0], warm: [0, 0, 1] } as const;
type ClassName = (typeof CLASSES)[number];

/** Leaf probabilities: a class name (certain) or explicit probabilities. */
export type Leaf = ClassName | [number, number, number];

const leafValue = (l: Leaf) => (typeof l === "string" ? [...ONE_HOT[l]] : [...l]);

/**
 * A tree over ta: ta <= cuts[0] → leaves[0], cuts[0] < ta <= cuts[1] → leaves[1], … (a chain of
 * right children). Missing ta goes left.
 */
export function taTree(cuts: number[], leaves: Leaf[]): TreeJson {
  if (leaves.length !== cuts.length + 1) throw new Error("need one more leaf than cuts");
  const t: TreeJson = { feature: [], threshold: [], left: [], right: [], missing_left: [], value: [], n: [] };
  const add = (feature: number, threshold: number, value: number[] | null) => {
    t.feature.push(feature);
    t.threshold.push(threshold);
    t.left.push(-1);
    t.right.push(-1);
    t.missing_left.push(1);
    t.value.push(value);
    t.n.push(1);
    return t.feature.length - 1;
  };
  // Node layout: split i at index 2i, its left leaf at 2i+1, the last leaf at the end.
  let parent = -1;
  cuts.forEach((cut, i) => {
    const node = add(0, cut, null);
    if (parent >= 0) t.right[parent] = node;
    const leaf = add(-1, 0, leafValue(leaves[i]!));
    t.left[node] = leaf;
    parent = node;
  });
  const last = add(-1, 0, leafValue(leaves[leaves.length - 1]!));
  if (parent >= 0) t.right[parent] = last;
  return t;
}

/** A tree that splits on season first (code 0 = winter, 1 = summer), then on ta per side. */
export function seasonTree(winter: TreeJson, summer: TreeJson): TreeJson {
  const shift = (t: TreeJson, by: number): TreeJson => ({
    ...t,
    left: t.left.map((x) => (x < 0 ? x : x + by)),
    right: t.right.map((x) => (x < 0 ? x : x + by)),
  });
  const w = shift(winter, 1);
  const s = shift(summer, 1 + winter.feature.length);
  return {
    feature: [1, ...w.feature, ...s.feature],
    threshold: [0.5, ...w.threshold, ...s.threshold],
    left: [1, ...w.left, ...s.left],
    right: [1 + winter.feature.length, ...w.right, ...s.right],
    missing_left: [1, ...w.missing_left, ...s.missing_left],
    value: [null, ...w.value, ...s.value],
    n: [2, ...w.n, ...s.n],
  };
}

const quantiles = (lo: number, hi: number) => Array.from({ length: 101 }, (_, i) => lo + ((hi - lo) * i) / 100);

export interface FixtureOptions {
  trees?: TreeJson[];
  dataSha256?: string;
  testRows?: number;
  split?: { method: string; test_share: number; seed?: number };
  candidate?: string;
  name?: string;
  taRange?: [number, number];
}

/** Cool below 20 °C, neutral to 26 °C, warm above: the "right" answer for the generated data. */
export const GOOD_TREE = taTree([20, 26], ["cool", "neutral", "warm"]);
/** The same cuts with the classes reversed: hot rooms predicted cool. */
export const INVERTED_TREE = taTree([20, 26], ["warm", "neutral", "cool"]);

export function fixtureModel(options: FixtureOptions = {}): ModelArtifact {
  const model = {
    schema_version: 1,
    name: options.name ?? "thermal-comfort",
    task: "classification",
    label: { column: "tsv", binning: { kind: "three_class", cool_below: -0.5, warm_above: 0.5 } },
    classes: [...CLASSES],
    features: [
      { name: "ta", type: "number", range: options.taRange ?? [10, 40] },
      { name: "season", type: "category", categories: ["winter", "summer"] },
    ],
    preprocessing: {
      imputation: { ta: { strategy: "median", value: 23 }, season: { strategy: "mode", value: "summer" } },
      outliers: {},
      encoding: "ordinal",
      categories: { season: ["winter", "summer"] },
      encoded_features: ["ta", "season"],
    },
    model: { algorithm: "decision_tree", params: { max_depth: 3 }, trees: options.trees ?? [GOOD_TREE] },
    metrics: {},
    reference_profile: {
      version: 1,
      rows: 1000,
      columns: {
        ta: {
          kind: "number",
          count: 1000,
          missing: 0,
          mean: 23,
          std: 5,
          min: 10,
          max: 40,
          quantiles: quantiles(10, 40),
          histogram: { edges: [null, 15, 20, 25, 30, 35], counts: [100, 200, 300, 200, 100, 100] },
        },
        season: { kind: "category", count: 1000, missing: 0, counts: { winter: 400, summer: 600 } },
      },
    },
    lineage: {
      data_sha256: options.dataSha256 ?? "0".repeat(64),
      data_rows: 1000,
      data_path: "data/comfort.csv",
      config_sha256: "1".repeat(64),
      git_sha: null,
      trainer: "hand-built fixture",
      seed: options.split?.seed ?? 7,
      candidate: options.candidate ?? "fixture",
      split: { method: options.split?.method ?? "random", test_share: options.split?.test_share ?? 0.3, test_rows: options.testRows ?? 0, train_rows: 0, ...(options.split?.seed !== undefined ? { seed: options.split.seed } : {}) },
      created_at: "2026-01-01T00:00:00.000Z",
    },
  };
  return ModelArtifactSchema.parse(model);
}
