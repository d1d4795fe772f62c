import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { readDataset } from "../pipeline/data/csv.js";
import { loadModel } from "../pipeline/model/load.js";
import { predict, predictTable } from "../pipeline/model/predict.js";
import { compilePredictor } from "../pipeline/model/predictor.js";
import type { TrainResult } from "../pipeline/train/index.js";
import { trainOnGenerated } from "./helpers/train-fixture.js";

let dir: string;
let result: TrainResult;
let config: PipelineConfig;

beforeAll(async () => {
  ({ dir, config, result } = await trainOnGenerated({
    prefix: "boosting-artifact-",
    rows: 1500,
    seed: 8,
    training: {
      permutation_importance_repeats: 1,
      candidates: [{ name: "gbm", algorithm: "gradient_boosting", params: { max_iter: 25, max_leaf_nodes: 8, early_stopping: true, validation_fraction: 0.15 } }],
    },
  }));
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("gradient boosting in the artifact", () => {
  it("says how its trees combine and keeps iterations x classes trees", async () => {
    const model = await loadModel(join(dir, "out", "model.json"));
    expect(model.model.algorithm).toBe("gradient_boosting");
    expect(model.model.combine).toBe("sum_softmax");
    expect(model.model.trees.length).toBe(model.model.iterations! * model.classes.length);
  });

  it("predicts the same after loading as in memory, through predict, predictTable and the compiled predictor", async () => {
    const loaded = await loadModel(join(dir, "out", "model.json"));
    const read = await readDataset(join(dir, "data", "comfort.csv"), config.dataset);
    const tableMem = predictTable(result.model, read.table);
    const tableLoaded = predictTable(loaded, read.table);
    expect(Array.from(tableLoaded.proba)).toEqual(Array.from(tableMem.proba));
    const records = Array.from({ length: 50 }, (_, r) => Object.fromEntries(loaded.features.map((f) => {
      const c = read.table.columns.get(f.name)!;
      const value = c.kind === "number" ? (c.missing[r] ? null : c.values[r]) : c.kind === "category" ? (c.codes[r]! < 0 ? null : c.categories[c.codes[r]!]) : null;
      return [f.name, value];
    })));
    const a = predict(result.model, records);
    const b = predict(loaded, records);
    expect(b).toEqual(a);
    // Probabilities are a softmax: they sum to 1 and are not the mean of leaf vectors.
    for (const p of b) expect(Object.values(p.probabilities).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    const predictor = compilePredictor(loaded);
    for (let r = 0; r < 20; r++) {
      const checked = predictor.predictRecord(records[r]);
      expect(checked.probabilities).not.toBeNull();
      const expected = a[r]!.probabilities;
      loaded.classes.forEach((c, k) => expect(checked.probabilities![k]).toBeCloseTo(expected[c]!, 12));
    }
  });

  it("reports test metrics from the same trees that were written", async () => {
    const metrics = JSON.parse(await readFile(join(dir, "out", "metrics.json"), "utf8")) as { algorithm: string; test: { accuracy: number } };
    expect(metrics.algorithm).toBe("gradient_boosting");
    const loaded = await loadModel(join(dir, "out", "model.json"));
    expect(loaded.metrics.accuracy).toBe(metrics.test.accuracy);
    // Learnable data: well above guessing among the classes.
    expect(metrics.test.accuracy).toBeGreaterThan(1 / loaded.classes.length + 0.15);
  });
});
