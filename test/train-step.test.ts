import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { UsageError } from "../pipeline/core/errors.js";
import { generateDataset } from "../pipeline/data/manifest.js";
import { loadModel } from "../pipeline/model/load.js";
import { predict } from "../pipeline/model/predict.js";
import { tableFromRecords } from "../pipeline/data/table.js";
import { compactTrees, dropDuplicateRows, selectCandidates } from "../pipeline/train/index.js";
import { MetricsReportSchema } from "../pipeline/train/report.js";
import { PROJECT_ROOT, runCli } from "./helpers/cli.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "train-step-"));
  await generateDataset({ out: join(dir, "data", "comfort.csv"), root: dir, options: { rows: 2000, seed: 3 } });
  await generateDataset({ out: join(dir, "data", "other.csv"), root: dir, options: { rows: 1500, seed: 4 } });
  const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
  const small = {
    ...config,
    dataset: { ...config.dataset, path: "data/comfort.csv" },
    training: {
      ...config.training,
      permutation_importance_repeats: 1,
      candidates: [
        { name: "tree-d5", algorithm: "decision_tree", params: { max_depth: 5 } },
        { name: "forest-tiny", algorithm: "random_forest", params: { n_trees: 8, max_depth: 8, n_jobs: 1 } },
      ],
    },
  };
  // JSON is YAML: the resolved config written as a config file.
  await writeFile(join(dir, "pipeline.yaml"), JSON.stringify(small, null, 2));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const exists = (p: string) => access(p).then(() => true, () => false);

describe("pipeline train", () => {
  it("cross-validates all candidates, picks the best and writes model.json, metrics.json and report.md", async () => {
    const r = await runCli(["train", "--config", "pipeline.yaml", "--out", "out/all"], { cwd: dir, env: { PIPELINE_QUIET: "1" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    const metrics = MetricsReportSchema.parse(JSON.parse(await readFile(join(dir, "out/all/metrics.json"), "utf8")));
    expect(metrics.cv.map((c) => c.candidate)).toEqual(["tree-d5", "forest-tiny"]);
    const best = metrics.cv.reduce((a, b) => (b.mean > a.mean ? b : a));
    expect(metrics.candidate).toBe(best.candidate);
    expect(summary.candidate).toBe(best.candidate);
    expect(metrics.cv[0]!.folds).toHaveLength(3);
    expect(metrics.test.n).toBe(metrics.split.test_rows);
    expect(metrics.split.train_rows + metrics.split.test_rows).toBe(2000);
    expect(Object.keys(metrics.slices)).toEqual(["season", "building_type"]);
    expect(Object.keys(metrics.importance.permutation).sort()).toEqual([...["ta", "tr", "rh", "vel", "clo", "met", "t_out", "season", "building_type", "cooling_type"]].sort());
    // A generated comfort dataset is learnable: well above the 1/3 of guessing.
    expect(metrics.test.accuracy).toBeGreaterThan(0.45);
    const report = await readFile(join(dir, "out/all/report.md"), "utf8");
    expect(report).toContain("## Confusion matrix");
    expect(report.match(/```mermaid/g)?.length).toBeGreaterThanOrEqual(3);
    const model = JSON.parse(await readFile(join(dir, "out/all/model.json"), "utf8"));
    expect(model.lineage.candidate).toBe(best.candidate);
    expect(model.lineage.data_path).toBe("data/comfort.csv");
  });

  it("pipeline predict goes through the input contract: imputed and unknown values are warned about, answers match the model", async () => {
    const records = [
      { ta: 35, tr: 35, rh: 80, vel: 0.1, clo: 0.5, met: 1.2, t_out: 33, season: "summer", building_type: "office", cooling_type: "naturally ventilated" },
      // A numeric string, a differently cased category, an unknown category, optional features left out, an alias.
      { temperatura_ar: "14", rh: 40, clo: 1, met: 1.2, season: "Winter", building_type: "unknown type", cooling_type: "air conditioned", thermal_sensation: -2 },
    ];
    await writeFile(join(dir, "records.json"), JSON.stringify(records));
    const r = await runCli(["predict", "--model", "out/all/model.json", "--input", "records.json"], { cwd: dir, env: { PIPELINE_QUIET: "1" } });
    expect(r.code).toBe(0);
    // The unknown category is no longer silent: it is named on stderr and in the answer.
    expect(r.stderr).toMatch(/record 2: building_type: unknown category "unknown type" \(known: .*"office".*\); treated as missing and imputed with "/);
    expect(r.stderr).toMatch(/record 2: temperatura_ar \(ta\): a number given as text \("14"\); read as 14/);
    expect(r.stderr).not.toMatch(/record 1:/);
    const answers = JSON.parse(r.stdout) as { label: string; probabilities: Record<string, number>; warnings: { field: string; kind: string }[] }[];
    expect(answers[0]!.warnings).toEqual([]);
    expect(answers[1]!.warnings.map((w) => `${w.field}:${w.kind}`)).toEqual(expect.arrayContaining(["building_type:unknown_category", "temperatura_ar:numeric_text"]));
    // Imputing means the fitted fill value: the same answer as the raw transform gives with the canonical names.
    const model = await loadModel(join(dir, "out/all/model.json"));
    const canonical = [records[0]!, { ta: 14, rh: 40, clo: 1, met: 1.2, season: "winter", building_type: null, cooling_type: "air conditioned" }];
    expect(answers.map((a) => ({ label: a.label, probabilities: a.probabilities }))).toEqual(predict(model, canonical));

    const bad = await runCli(["predict", "--model", "records.json", "--input", "records.json"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/records\.json: expected a JSON object \(a model artifact\)/);
  });

  it("pipeline predict refuses a record without a required feature or with text in a number field (exit 2, field named, nothing written)", async () => {
    await writeFile(join(dir, "empty.json"), JSON.stringify([{}]));
    await writeFile(join(dir, "hot.json"), JSON.stringify([{ ta: "hot", rh: 40, clo: 1, met: 1.2, season: "winter", building_type: "office", cooling_type: "air conditioned" }]));
    const [empty, hot] = await Promise.all([
      runCli(["predict", "--model", "out/all/model.json", "--input", "empty.json", "--out", "empty-out.json"], { cwd: dir }),
      runCli(["predict", "--model", "out/all/model.json", "--input", "hot.json", "--out", "hot-out.json"], { cwd: dir }),
    ]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/record 1: ta: required feature missing/);
    expect(hot.code).toBe(2);
    expect(hot.stderr).toMatch(/record 1: ta: expected a number, got the text "hot"/);
    expect(await exists(join(dir, "empty-out.json"))).toBe(false);
    expect(await exists(join(dir, "hot-out.json"))).toBe(false);
  });

  it("pipeline predict on a CSV needs no label column, applies aliases and writes per-row problems", async () => {
    const text = await readFile(join(dir, "data/other.csv"), "utf8");
    const lines = text.trimEnd().split("\n");
    const header = lines[0]!.split(",");
    const drop = header.indexOf("thermal_sensation");
    const keep = (cells: string[]) => cells.filter((_, i) => i !== drop);
    const renamed = keep(header).map((h) => (h === "ta" ? "air_temperature" : h));
    const rows = lines.slice(1).map((l) => keep(l.split(",")));
    const taAt = renamed.indexOf("air_temperature");
    rows[2]![taAt] = "warm-ish";
    await writeFile(join(dir, "nolabel.csv"), [renamed.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n");
    const csv = await runCli(["predict", "--model", "out/all/model.json", "--input", "nolabel.csv", "--out", "pred.json"], { cwd: dir, env: { PIPELINE_QUIET: "1" } });
    expect(csv.code).toBe(0);
    expect(csv.stderr).toMatch(/air_temperature: wrong_type in 1 row \(first: row 3: air_temperature \(ta\): expected a number, got the text "warm-ish"\)/);
    const out = JSON.parse(await readFile(join(dir, "pred.json"), "utf8")) as { row: number; label: string | null; errors?: { field: string; kind: string }[] }[];
    expect(out).toHaveLength(1500);
    expect(out[2]).toMatchObject({ row: 3, label: null, errors: [{ field: "air_temperature", kind: "wrong_type" }] });
    // Every other row is predicted, as the table path predicts the original file.
    const model = await loadModel(join(dir, "out/all/model.json"));
    const reference = predict(model, rows.map((r) => Object.fromEntries(renamed.map((h, i) => [h === "air_temperature" ? "ta" : h, r[i] === "" ? null : r[i]!]))));
    out.forEach((o, i) => {
      if (i !== 2) expect(o.label).toBe(reference[i]!.label);
    });
  });

  it("trains only the named candidate (by index or name), on --data when given", async () => {
    const r = await runCli(["train", "--config", "pipeline.yaml", "--candidate", "1", "--data", "data/other.csv", "--out", "out/one"], { cwd: dir, env: { PIPELINE_QUIET: "1" } });
    expect(r.code).toBe(0);
    const metrics = JSON.parse(await readFile(join(dir, "out/one/metrics.json"), "utf8"));
    expect(metrics.cv.map((c: { candidate: string }) => c.candidate)).toEqual(["tree-d5"]);
    const model = JSON.parse(await readFile(join(dir, "out/one/model.json"), "utf8"));
    expect(model.lineage.data_path).toBe("data/other.csv");
    expect(model.lineage.data_rows).toBe(1500);
    expect(model.model.algorithm).toBe("decision_tree");
  });

  it("a bad candidate exits 2, lists the available ones and writes nothing", async () => {
    const [r, n] = await Promise.all([
      runCli(["train", "--config", "pipeline.yaml", "--candidate", "boosted", "--out", "out/bad"], { cwd: dir }),
      runCli(["train", "--config", "pipeline.yaml", "--candidate", "3", "--out", "out/bad"], { cwd: dir }),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--candidate "boosted": no such candidate; available: 1 tree-d5, 2 forest-tiny/);
    expect(n.code).toBe(2);
    expect(await exists(join(dir, "out/bad"))).toBe(false);
  });

  it("a missing --out or an unreadable dataset exits 2", async () => {
    const [noOut, r] = await Promise.all([
      runCli(["train", "--config", "pipeline.yaml"], { cwd: dir }),
      runCli(["train", "--config", "pipeline.yaml", "--data", "data/missing.csv", "--out", "out/x"], { cwd: dir }),
    ]);
    expect(noOut.code).toBe(2);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.csv/);
  });
});

describe("train step pieces", () => {
  it("drop_duplicates keeps the first of rows equal in every feature and the label", () => {
    const table = tableFromRecords({ a: "number", c: "category" }, [
      { a: 1, c: "x" },
      { a: 1, c: "x" },
      { a: 1, c: "y" },
      { a: null, c: "x" },
      { a: null, c: "x" },
      { a: 1, c: "x" },
    ]);
    const labels = Int32Array.from([0, 0, 0, 1, 1, 1]);
    expect(Array.from(dropDuplicateRows(table, ["a", "c"], labels, Int32Array.from([0, 1, 2, 3, 4, 5])))).toEqual([0, 2, 3, 5]);
  });

  it("selects candidates by name or 1-based index", () => {
    const candidates = [
      { name: "a", algorithm: "decision_tree" as const, params: { criterion: "gini" as const, max_depth: 3, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none" as const, max_bins: 256 } },
      { name: "b", algorithm: "decision_tree" as const, params: { criterion: "gini" as const, max_depth: 5, min_samples_split: 2, min_samples_leaf: 1, class_weight: "none" as const, max_bins: 256 } },
    ];
    expect(selectCandidates(candidates, undefined)).toHaveLength(2);
    expect(selectCandidates(candidates, "2")[0]!.name).toBe("b");
    expect(selectCandidates(candidates, "a")[0]!.name).toBe("a");
    expect(() => selectCandidates(candidates, "0")).toThrowError(UsageError);
  });

  it("compacting trees rounds leaf probabilities and counts but keeps thresholds exact", () => {
    const tree = { feature: [0, -1, -1], threshold: [0.123456789123, 0, 0], left: [1, -1, -1], right: [2, -1, -1], missing_left: [1, 0, 0] as (0 | 1)[], value: [null, [1 / 3, 2 / 3], [1, 0]], n: [12.3456789, 4.11111, 8.2345678] };
    const [c] = compactTrees([tree]);
    expect(c!.threshold).toEqual(tree.threshold);
    expect(c!.value).toEqual([null, [0.3333, 0.6667], [1, 0]]);
    expect(c!.n).toEqual([12.35, 4.111, 8.235]);
  });
});
