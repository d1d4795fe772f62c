import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../pipeline/config/load.js";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { InputError } from "../pipeline/core/errors.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { readDataset } from "../pipeline/data/csv.js";
import { binLabel } from "../pipeline/data/label.js";
import { generateDataset } from "../pipeline/data/manifest.js";
import { ModelArtifactSchema } from "../pipeline/model/artifact-schema.js";
import { loadModel, parseModel } from "../pipeline/model/load.js";
import { predict, predictTable } from "../pipeline/model/predict.js";
import { train, type TrainResult } from "../pipeline/train/index.js";
import { splitRows } from "../pipeline/train/split.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

const NOW = () => new Date("2026-01-02T03:04:05.000Z");
let dir: string;
let config: PipelineConfig;
let sha: string;
let result: TrainResult;

/** The committed config with small candidates, so the test trains in seconds. */
async function smallConfig(): Promise<PipelineConfig> {
  const { config: base } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
  return parseConfig({
    ...base,
    dataset: { ...base.dataset, path: "data.csv" },
    split: { ...base.split, cv_folds: 3 },
    training: {
      ...base.training,
      permutation_importance_repeats: 2,
      candidates: [
        { name: "tree-d6", algorithm: "decision_tree", params: { max_depth: 6, min_samples_leaf: 5 } },
        { name: "forest-small", algorithm: "random_forest", params: { n_trees: 12, max_depth: 8, min_samples_leaf: 3, n_jobs: 2 } },
      ],
    },
  });
}

/** The CSV as records of strings (the generated file has no quoted fields). */
async function csvRecords(path: string): Promise<Record<string, string | null>[]> {
  const [header, ...lines] = (await readFile(path, "utf8")).trimEnd().split("\n");
  const names = header!.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [names[i]!, v === "" ? null : v])));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "artifact-"));
  await generateDataset({ out: join(dir, "data.csv"), root: dir, options: { rows: 2000, seed: 11 } });
  config = await smallConfig();
  sha = "a".repeat(64);
  result = await train({ config, configSha256: sha, root: dir, outDir: "out-a", reporter: recordingReporter(), gitSha: "b".repeat(40), now: NOW });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("model.json", () => {
  it("validates against the artifact schema and loads back to the same model", async () => {
    const text = await readFile(join(dir, "out-a", "model.json"), "utf8");
    expect(ModelArtifactSchema.safeParse(JSON.parse(text)).success).toBe(true);
    const loaded = await loadModel(join(dir, "out-a", "model.json"));
    expect(loaded).toEqual(result.model);
    expect(loaded.lineage).toMatchObject({ config_sha256: sha, git_sha: "b".repeat(40), data_path: "data.csv", data_rows: 2000, created_at: NOW().toISOString(), seed: 42 });
    expect(loaded.lineage.trainer).toMatch(/^gitops-ml-trees@\d+\.\d+\.\d+/);
    expect(loaded.lineage.data_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(loaded.reference_profile.label).toBeDefined();
    expect(Object.keys(loaded.reference_profile.columns).sort()).toEqual([...config.dataset.features].sort());
  });

  it("standalone predict on raw records reproduces the held-out evaluation exactly", async () => {
    const loaded = await loadModel(join(dir, "out-a", "model.json"));
    const records = await csvRecords(join(dir, "data.csv"));
    const served = predict(loaded, records);
    // Same probabilities as the batch path over the table.
    const read = await readDataset(join(dir, "data.csv"), config.dataset);
    const batch = predictTable(result.model, read.table);
    const k = loaded.classes.length;
    served.forEach((p, i) => {
      expect(p.label).toBe(batch.labels[i]);
      loaded.classes.forEach((c, j) => expect(p.probabilities[c]).toBe(batch.proba[i * k + j]));
    });
    // On the test split, the served labels give the accuracy the train step reported.
    const labels = binLabel(read.table, config.dataset);
    expect(Math.min(...labels.codes)).toBeGreaterThanOrEqual(0);
    const { test } = splitRows(read.table, labels.codes, config.split, config.dataset);
    let correct = 0;
    for (const r of test) if (served[r]!.label === labels.classes[labels.codes[r]!]) correct++;
    expect(correct / test.length).toBe(result.metrics.test.accuracy);
  });

  it("is byte-identical for the same data, config, seed and clock", async () => {
    await train({ config, configSha256: sha, root: dir, outDir: "out-b", reporter: recordingReporter(), gitSha: "b".repeat(40), now: NOW });
    const a = await readFile(join(dir, "out-a", "model.json"));
    const b = await readFile(join(dir, "out-b", "model.json"));
    expect(a.equals(b)).toBe(true);
    // The clock is the only outside input: another time changes created_at and nothing else.
    const later = await train({ config, configSha256: sha, root: dir, candidate: result.candidate, outDir: "out-c", reporter: recordingReporter(), gitSha: "b".repeat(40), now: () => new Date("2027-01-01T00:00:00.000Z") });
    expect(later.model.lineage.created_at).toBe("2027-01-01T00:00:00.000Z");
    expect({ ...later.model, lineage: { ...later.model.lineage, created_at: "" } }).toEqual({ ...result.model, lineage: { ...result.model.lineage, created_at: "" } });
  });

  it("loadModel names the file and the field on bad input", async () => {
    const path = join(dir, "bad.json");
    await writeFile(path, "{ not json");
    await expect(loadModel(path)).rejects.toThrowError(InputError);
    await expect(loadModel(path)).rejects.toThrowError(/bad\.json: not valid JSON/);
    await expect(loadModel(join(dir, "nope.json"))).rejects.toThrowError(/nope\.json: cannot read the model \(file not found\)/);
    const good = JSON.parse(await readFile(join(dir, "out-a", "model.json"), "utf8"));
    expect(() => parseModel(JSON.stringify({ ...good, schema_version: 3 }), "m.json")).toThrowError(/m\.json: schema_version: expected 1 or 2, got 3/);
    const { classes: _classes, ...noClasses } = good;
    expect(() => parseModel(JSON.stringify(noClasses), "m.json")).toThrowError(/m\.json: not a valid model artifact\n {2}classes:/);
    const renamed = structuredClone(good);
    renamed.preprocessing.encoded_features[0] = "nope";
    expect(() => parseModel(JSON.stringify(renamed), "m.json")).toThrowError(/m\.json: preprocessing\.encoded_features: expected \[ta, /);
    // model.json packs its trees (schema_version 2); the plain arrays are allowed too and checked the same way.
    const broken = { ...structuredClone(good), model: structuredClone(ModelArtifactSchema.parse(good).model) };
    broken.model.trees[0]!.left[0] = 10_000_000;
    expect(() => parseModel(JSON.stringify(broken), "m.json")).toThrowError(/model\.trees\.0: node 0/);
  });
});

describe("serving path", () => {
  it("predict and load import nothing from pipeline/train (transitively)", async () => {
    const seen = new Set<string>();
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await readFile(file, "utf8");
      for (const m of text.matchAll(/^\s*(?:import|export)[^"']*["'](\.[^"']+)\.js["']/gm)) await visit(resolve(dirname(file), `${m[1]}.ts`));
    };
    await visit(join(PROJECT_ROOT, "pipeline/model/predict.ts"));
    await visit(join(PROJECT_ROOT, "pipeline/model/load.ts"));
    const files = [...seen].map((f) => relative(PROJECT_ROOT, f));
    expect(files).toContain("pipeline/model/transform.ts");
    expect(files).toContain("pipeline/model/tree-eval.ts");
    expect(files.filter((f) => f.startsWith("pipeline/train/"))).toEqual([]);
  });
});
