import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { readDataset } from "../pipeline/data/csv.js";
import { binLabel } from "../pipeline/data/label.js";
import { ModelArtifactSchema } from "../pipeline/model/artifact-schema.js";
import { chooseClass, chooseClasses } from "../pipeline/model/decision.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { loadModel } from "../pipeline/model/load.js";
import { predict, predictTable } from "../pipeline/model/predict.js";
import { compilePredictor } from "../pipeline/model/predictor.js";
import { chooseDecisionRule, nestedDecisionScores, tuneDecisionWeights, type ScoredFold } from "../pipeline/train/decision-weights.js";
import type { TrainResult } from "../pipeline/train/index.js";
import { labelScores } from "../pipeline/train/metrics.js";
import { MetricsReportSchema } from "../pipeline/train/report.js";
import { createServer } from "../pipeline/serve/app.js";
import { validateModel } from "../pipeline/validate-model/index.js";
import { logCollector } from "./helpers/serve.js";
import { trainOnGenerated } from "./helpers/train-fixture.js";

/** A seeded 3-class case where argmax under-predicts class 2: its rows are often only nearly the most likely. */
function skewedFold(seed: number, n: number): ScoredFold {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const proba = new Float64Array(n * 3);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cls = next() < 0.5 ? 0 : next() < 0.6 ? 1 : 2;
    y[i] = cls;
    const p = [0.3 + 0.2 * next(), 0.25 + 0.2 * next(), 0.1 + 0.2 * next()];
    p[cls]! += 0.12; // the true class is favoured, the minority only barely
    const sum = p[0]! + p[1]! + p[2]!;
    for (let c = 0; c < 3; c++) proba[i * 3 + c] = p[c]! / sum;
  }
  return { proba, y };
}

describe("the decision rule", () => {
  it("is plain argmax without weights (the first class on ties) and probability x weight with them", () => {
    const p = [0.4, 0.4, 0.2];
    expect(chooseClass(p, 0, 3)).toBe(0);
    expect(chooseClass(p, 0, 3, [1, 1.01, 1])).toBe(1);
    expect(chooseClass(p, 0, 3, [1, 1, 2.5])).toBe(2);
    expect(Array.from(chooseClasses([0.1, 0.9, 0.7, 0.3], 2, null))).toEqual([1, 0]);
    expect(Array.from(chooseClasses([0.1, 0.9, 0.7, 0.3], 2, [10, 1]))).toEqual([0, 0]);
  });

  it("chooses the first class of largest probability x weight, and with unit weights exactly as argmax (any probabilities)", () => {
    const p4 = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 });
    const w4 = fc.array(fc.double({ min: 0.1, max: 10, noNaN: true }), { minLength: 4, maxLength: 4 });
    fc.assert(
      fc.property(p4, w4, (p, w) => {
        const c = chooseClass(p, 0, 4, w);
        for (let j = 0; j < 4; j++) {
          expect(p[c]! * w[c]!).toBeGreaterThanOrEqual(p[j]! * w[j]!);
          if (j < c) expect(p[j]! * w[j]!).toBeLessThan(p[c]! * w[c]!);
        }
        expect(chooseClass(p, 0, 4, [1, 1, 1, 1])).toBe(chooseClass(p, 0, 4));
      }),
    );
  });
});

describe("tuning decision weights", () => {
  const folds = [skewedFold(1, 3000), skewedFold(2, 3000), skewedFold(3, 3000)];
  const argmaxF1 = (f: ScoredFold) => labelScores(f.y, chooseClasses(f.proba, 3), 3).macro_f1;

  it("raises macro-F1 over argmax on the folds it was tuned on, keeping class 0 at 1, and is deterministic", () => {
    const w = tuneDecisionWeights(folds, 3, "macro_f1");
    expect(w[0]).toBe(1);
    expect(w[2]).toBeGreaterThan(1); // the under-predicted minority gains
    const tuned = folds.map((f) => labelScores(f.y, chooseClasses(f.proba, 3, w), 3).macro_f1);
    expect(tuned.reduce((a, b) => a + b) / 3).toBeGreaterThan(folds.map(argmaxF1).reduce((a, b) => a + b) / 3 + 0.01);
    expect(Array.from(tuneDecisionWeights(folds, 3, "macro_f1"))).toEqual(Array.from(w));
  });

  it("leaves the weights at 1 when argmax is already right on every row", () => {
    const y = Int32Array.from({ length: 300 }, (_, i) => i % 3);
    const proba = Float64Array.from({ length: 900 }, (_, j) => (j % 3 === y[Math.floor(j / 3)] ? 0.8 : 0.1));
    expect(Array.from(tuneDecisionWeights([{ proba, y }], 3, "macro_f1"))).toEqual([1, 1, 1]);
  });

  it("keeps tuned weights only when they beat argmax out of sample", () => {
    const skewed = chooseDecisionRule(folds, 3, "macro_f1");
    expect(skewed.rule).toBe("tuned");
    expect(skewed.scores).toEqual(skewed.tuned);
    expect(skewed.argmax).toEqual(folds.map(argmaxF1));
    // Well-placed probabilities: tuning cannot gain, so argmax is kept.
    const y = Int32Array.from({ length: 300 }, (_, i) => i % 3);
    const proba = Float64Array.from({ length: 900 }, (_, j) => (j % 3 === y[Math.floor(j / 3)] ? 0.8 : 0.1));
    const placed = chooseDecisionRule([{ proba, y }, { proba, y }], 3, "macro_f1");
    expect(placed.rule).toBe("argmax");
    expect(placed.scores).toEqual(placed.argmax);
  });

  it("the nested CV score of a fold never uses that fold's labels", () => {
    const base = nestedDecisionScores(folds, 3, "macro_f1");
    // Scrambling fold 0's labels changes fold 0's score only through scoring, not the weights used on it:
    // the weights for fold 0 come from folds 1 and 2 alone.
    const scrambled = { proba: folds[0]!.proba, y: Int32Array.from(folds[0]!.y, (c) => (c + 1) % 3) };
    const again = nestedDecisionScores([scrambled, folds[1]!, folds[2]!], 3, "macro_f1");
    const w12 = tuneDecisionWeights([folds[1]!, folds[2]!], 3, "macro_f1");
    expect(again[0]).toBeCloseTo(labelScores(scrambled.y, chooseClasses(scrambled.proba, 3, w12), 3).macro_f1, 12);
    expect(base[0]).toBeCloseTo(labelScores(folds[0]!.y, chooseClasses(folds[0]!.proba, 3, w12), 3).macro_f1, 12);
    // and it is an out-of-sample figure: below the in-sample tuned score of the same fold
    const own = tuneDecisionWeights([folds[0]!], 3, "macro_f1");
    expect(base[0]).toBeLessThanOrEqual(labelScores(folds[0]!.y, chooseClasses(folds[0]!.proba, 3, own), 3).macro_f1 + 1e-12);
  });
});

describe("training with tune_decision_weights", () => {
  let dir: string;
  let result: TrainResult;
  let config: PipelineConfig;

  beforeAll(async () => {
    ({ dir, config, result } = await trainOnGenerated({
      prefix: "decision-weights-",
      // A seed whose selected forest keeps tuned weights (on most generated datasets argmax wins out of sample).
      rows: 2000,
      seed: 7,
      exportSplitPath: "split.json",
      training: {
        tune_decision_weights: true,
        permutation_importance_repeats: 1,
        candidates: [
          { name: "tree", algorithm: "decision_tree", params: { max_depth: 6, min_samples_leaf: 5 } },
          { name: "forest", algorithm: "random_forest", params: { n_trees: 15, max_depth: 8, min_samples_leaf: 5, n_jobs: 1 } },
        ],
      },
    }));
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("stores one positive weight per class in the artifact and metrics.json, and the nested and argmax CV figures", async () => {
    const model = await loadModel(join(dir, "out", "model.json"));
    const weights = model.model.decision_weights!;
    expect(weights).toHaveLength(model.classes.length);
    expect(weights[0]).toBe(1);
    for (const w of weights) expect(w).toBeGreaterThan(0);
    const metrics = MetricsReportSchema.parse(JSON.parse(await readFile(join(dir, "out", "metrics.json"), "utf8")));
    expect(metrics.decision_weights).toEqual(weights);
    for (const c of metrics.cv) {
      expect(c.argmax!.folds).toHaveLength(config.split.cv_folds);
      expect(c.tuned!.folds).toHaveLength(config.split.cv_folds);
      // Each candidate keeps the rule with the better CV figure, and its folds are that rule's.
      expect(c.decision_rule).toBe(c.tuned!.mean > c.argmax!.mean ? "tuned" : "argmax");
      expect(c.folds).toEqual(c.decision_rule === "tuned" ? c.tuned!.folds : c.argmax!.folds);
      expect(c.mean).toBeCloseTo(c.folds.reduce((a, b) => a + b) / c.folds.length, 12);
    }
    expect(metrics.cv.find((c) => c.candidate === metrics.candidate)!.decision_rule).toBe("tuned");
    expect(await readFile(join(dir, "out", "report.md"), "utf8")).toMatch(/## Decision weights/);
  });

  it("the held-out metrics are what the standalone predict path gives on the test rows (train and serving agree)", async () => {
    const model = await loadModel(join(dir, "out", "model.json"));
    const read = await readDataset(join(dir, "data", "comfort.csv"), config.dataset);
    const labels = binLabel(read.table, config.dataset);
    const split = JSON.parse(await readFile(join(dir, "split.json"), "utf8")) as { test: number[] };
    const onTest = predictTable(model, read.table, split.test);
    const truth = Int32Array.from(split.test, (r) => labels.codes[r]!);
    expect(labelScores(truth, onTest.codes, 3).macro_f1).toBeCloseTo(result.metrics.test.macro_f1, 12);
    expect(labelScores(truth, onTest.codes, 3).accuracy).toBeCloseTo(result.metrics.test.accuracy, 12);
    const all = predictTable(model, read.table);
    // The compiled predictor (serving) and predict() choose the same classes as predictTable.
    const predictor = compilePredictor(model);
    const records = Array.from({ length: 200 }, (_, r) => Object.fromEntries(model.features.map((f) => {
      const c = read.table.columns.get(f.name)!;
      return [f.name, c.kind === "number" ? (c.missing[r] ? null : c.values[r]) : c.kind === "category" ? (c.codes[r]! < 0 ? null : c.categories[c.codes[r]!]) : null];
    })));
    const served = records.map((rec) => predictor.predictRecord(rec, {}).classIndex);
    expect(served).toEqual(Array.from(all.codes.subarray(0, 200)));
    expect(predict(model, records).map((p) => p.label)).toEqual(all.labels.slice(0, 200));
    expect(predictor.predictRecords(records, {}).map((p) => p.classIndex)).toEqual(served);
    // Without the weights some rows change class, so the weights are really applied.
    const plain = predictTable({ ...model, model: { ...model.model, decision_weights: undefined } }, read.table);
    const differs = all.codes.some((c, i) => c !== plain.codes[i]);
    expect(model.model.decision_weights!.some((w) => w !== 1)).toBe(true);
    expect(differs).toBe(true);
  });

  it("validate-model scores the held-out rows with the same rule: its metrics equal the train step's", async () => {
    const report = await validateModel({ config, root: dir, modelPath: join(dir, "out", "model.json"), champion: "none", reporter: recordingReporter(), measureLatency: false });
    expect(report.metrics.challenger.macro_f1).toBeCloseTo(result.metrics.test.macro_f1, 12);
    expect(report.metrics.challenger.accuracy).toBeCloseTo(result.metrics.test.accuracy, 12);
  });

  it("the service answers the weighted class on /predict and /predict/batch and shows the weights on /model", async () => {
    const model = await loadModel(join(dir, "out", "model.json"));
    const read = await readDataset(join(dir, "data", "comfort.csv"), config.dataset);
    const records = Array.from({ length: 300 }, (_, r) => Object.fromEntries(model.features.map((f) => {
      const c = read.table.columns.get(f.name)!;
      return [f.name, c.kind === "number" ? (c.missing[r] ? null : c.values[r]) : c.kind === "category" ? (c.codes[r]! < 0 ? null : c.categories[c.codes[r]!]) : null];
    })));
    const expected = predict(model, records);
    const plain = predict({ ...model, model: { ...model.model, decision_weights: undefined } }, records);
    expect(expected.some((p, i) => p.label !== plain[i]!.label)).toBe(true); // the rows below tell the rules apart
    const app = await createServer({ model: join(dir, "out", "model.json"), root: dir, allowUnverified: true, logDestination: logCollector(), processMetrics: false, env: {}, serving: { max_batch: 1000, rate_limit: { enabled: false } } });
    try {
      expect((await app.inject("/model")).json().decision_weights).toEqual(model.model.decision_weights);
      const headers = { "content-type": "application/json" };
      const batch = (await app.inject({ method: "POST", url: "/predict/batch", payload: JSON.stringify({ records }), headers })).json() as { predictions: { class: string }[] };
      expect(batch.predictions.map((p) => p.class)).toEqual(expected.map((p) => p.label));
      for (const i of [0, 1, 2, ...expected.flatMap((p, j) => (p.label !== plain[j]!.label ? [j] : [])).slice(0, 5)]) {
        const one = (await app.inject({ method: "POST", url: "/predict", payload: JSON.stringify(records[i]), headers })).json() as { class: string };
        expect(one.class).toBe(expected[i]!.label);
      }
    } finally {
      await app.close();
    }
  });

  it("the weights are part of the model's identity, and the artifact refuses a wrong count or a non-positive weight", async () => {
    const model = await loadModel(join(dir, "out", "model.json"));
    const other = { ...model, model: { ...model.model, decision_weights: model.classes.map((_, i) => (i === 0 ? 1 : 1.5)) } };
    expect(modelContentHash(other)).not.toBe(modelContentHash(model));
    const plain = { ...model, model: { ...model.model, decision_weights: undefined } };
    expect(modelContentHash(plain)).not.toBe(modelContentHash(model));
    const raw = JSON.parse(await readFile(join(dir, "out", "model.json"), "utf8"));
    raw.model.decision_weights = [1, 1];
    expect(ModelArtifactSchema.safeParse(raw).error?.issues[0]).toMatchObject({ path: ["model", "decision_weights"], message: expect.stringMatching(/one weight per class \(3\), got 2/) });
    raw.model.decision_weights = [1, 0, 1];
    expect(ModelArtifactSchema.safeParse(raw).success).toBe(false);
  });
});
