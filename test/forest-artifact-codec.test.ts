import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../pipeline/core/errors.js";
import { Random } from "../pipeline/core/random.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { parseModel } from "../pipeline/model/load.js";
import { predictProbaTrees } from "../pipeline/model/tree-eval.js";
import { decodeTrees, encodeTrees, serializeModel } from "../pipeline/model/tree-codec.js";
import { fitForest } from "../pipeline/train/forest.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

const committed = join(PROJECT_ROOT, "models", "thermal-comfort", "v1", "model.json");

describe("packed tree encoding (schema_version 2)", () => {
  it("reads the committed schema_version 1 model, and its packed form decodes to exactly the same trees", async () => {
    const text = await readFile(committed, "utf8");
    const v1 = parseModel(text, committed);
    expect(v1.schema_version).toBe(1);
    const packedText = serializeModel(v1);
    const raw = JSON.parse(packedText) as { schema_version: number; model: Record<string, unknown> };
    expect(raw.schema_version).toBe(2);
    expect(raw.model.trees).toBeUndefined();
    expect(raw.model.packed_trees).toBeDefined();
    // Much smaller than the plain arrays.
    expect(packedText.length).toBeLessThan(text.length / 2.5);
    const v2 = parseModel(packedText, "packed.json");
    expect(JSON.stringify(v2.model.trees)).toBe(JSON.stringify(v1.model.trees));
    // Same model whatever the encoding: the content hash is over the decoded trees.
    expect(modelContentHash(v2)).toBe(modelContentHash(v1));
  });

  it("gives identical predictions for a freshly fitted forest with missing values and weighted counts", async () => {
    const rng = new Random(12);
    const rows = 3000;
    const features = [0, 1, 2].map(() => new Float64Array(rows));
    const y = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const a = rng.normal();
      const b = Math.round(rng.next() * 40) / 4;
      features[0]![i] = a;
      features[1]![i] = b;
      features[2]![i] = rng.next() < 0.2 ? Number.NaN : rng.normal();
      y[i] = a + b / 10 + 0.5 * rng.normal() > 1 ? (rng.next() < 0.5 ? 2 : 1) : 0;
    }
    const X = { rows, features, names: ["a", "b", "c"] };
    const trees = await fitForest(X, y, 3, { criterion: "gini", max_depth: 12, min_samples_split: 2, min_samples_leaf: 1, class_weight: "balanced", max_bins: 64, n_trees: 6, max_features: "sqrt", bootstrap: true, max_samples: 1, n_jobs: 1 }, { seed: 4 });
    const decoded = decodeTrees(encodeTrees(trees));
    expect(JSON.stringify(decoded)).toBe(JSON.stringify(trees));
    expect(Array.from(predictProbaTrees(decoded, X, 3))).toEqual(Array.from(predictProbaTrees(trees, X, 3)));
  });

  it("falls back to plain arrays when a tree is not in the shape the packing assumes, still losslessly", () => {
    // A leaf with a non-zero threshold cannot be packed (leaves decode with threshold 0).
    const odd = { feature: [0, -1, -1], threshold: [0.5, 7, 0], left: [1, -1, -1], right: [2, -1, -1], missing_left: [0, 0, 0] as (0 | 1)[], value: [null, [1, 0], [0, 1]], n: [2, 1, 1] };
    const text = serializeModel({ schema_version: 1, model: { algorithm: "decision_tree", trees: [odd] } });
    const raw = JSON.parse(text) as { model: { trees?: unknown; packed_trees?: unknown } };
    expect(raw.model.packed_trees).toBeUndefined();
    expect(raw.model.trees).toEqual([odd]);
  });

  it("checks plain tree arrays as strictly as before (types, 0/1 flags, no unknown keys), naming the node", async () => {
    const v1 = JSON.parse(await readFile(committed, "utf8")) as { model: { trees: Record<string, unknown[]>[] } };
    const cases: [(t: Record<string, unknown[]>) => void, RegExp][] = [
      [(t) => (t.threshold![3] = "1.5"), /model\.trees\.2\.threshold\.3: expected a number/],
      [(t) => (t.feature![1] = 0.5), /model\.trees\.2\.feature\.1: expected an integer/],
      [(t) => (t.missing_left![0] = 2), /model\.trees\.2\.missing_left\.0: expected 0 or 1/],
      [(t) => (t.extra = []), /model\.trees\.2\.extra: unrecognized key "extra"/],
      [(t) => (t.value = t.value!.map((v) => (v ? ["x"] : v))), /model\.trees\.2\.value\.\d+\.0: expected a number/],
    ];
    for (const [breakIt, message] of cases) {
      const bad = structuredClone(v1);
      breakIt(bad.model.trees[2]!);
      expect(() => parseModel(JSON.stringify(bad), "m.json")).toThrowError(InputError);
      expect(() => parseModel(JSON.stringify(bad), "m.json")).toThrowError(message);
    }
  });

  it("refuses a corrupt packed stream with an InputError naming the field", async () => {
    const v1 = parseModel(await readFile(committed, "utf8"), committed);
    const raw = JSON.parse(serializeModel(v1)) as { model: { packed_trees: { data: string; nodes: number[] } } };
    const truncated = structuredClone(raw);
    truncated.model.packed_trees.data = truncated.model.packed_trees.data.slice(0, 400);
    expect(() => parseModel(JSON.stringify(truncated), "m.json")).toThrowError(InputError);
    expect(() => parseModel(JSON.stringify(truncated), "m.json")).toThrowError(/m\.json: model\.packed_trees: packed_trees\.data ends in the middle of a tree/);
    const both = structuredClone(raw) as unknown as { model: Record<string, unknown> };
    both.model.trees = [];
    expect(() => parseModel(JSON.stringify(both), "m.json")).toThrowError(/has both "trees" and "packed_trees"/);
  });
});
