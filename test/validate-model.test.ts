import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { parseConfig } from "../pipeline/config/load.js";
import type { PipelineConfig, PipelineConfigInput } from "../pipeline/config/schema.js";
import { ConfigError, InputError } from "../pipeline/core/errors.js";
import { sha256File } from "../pipeline/core/hash.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { train } from "../pipeline/train/index.js";
import { randomSplit } from "../pipeline/train/split.js";
import { ModelValidationReportSchema, validateModel } from "../pipeline/validate-model/index.js";
import { runCli } from "./helpers/cli.js";
import { fixtureModel, GOOD_TREE, INVERTED_TREE, seasonTree, taTree } from "./helpers/validate-model-fixtures.js";

/**
 * validate-model end to end on a small generated dataset: comfort votes that follow air
 * temperature (cool below 20 °C, warm above 26 °C, with noise), hand-built tree models, a real
 * registry file. Library calls for most cases; the CLI for exit codes and files.
 */

const ROWS = 600;
const SPLIT = { method: "random", test_share: 0.3, seed: 7 } as const;
let root: string;
let dataSha: string;

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function datasetCsv(): string {
  const rand = lcg(42);
  const lines = ["building,season,ta,tsv"];
  for (let i = 0; i < ROWS; i++) {
    const ta = 10 + 30 * rand();
    const season = rand() < 0.5 ? "winter" : "summer";
    const tsv = Math.max(-3, Math.min(3, (ta - 23) / 6 + (rand() - 0.5) * 0.6));
    lines.push(`b${i % 20},${season},${ta.toFixed(2)},${tsv.toFixed(2)}`);
  }
  return lines.join("\n") + "\n";
}

function rawConfig(overrides: { gates?: Record<string, unknown> } = {}): PipelineConfigInput {
  return {
    version: 1,
    model: { name: "thermal-comfort" },
    dataset: {
      path: "data/comfort.csv",
      columns: {
        building: { type: "category", required: true, normalize: false },
        season: { type: "category", categories: ["winter", "summer"] },
        ta: { type: "number", required: true, range: [10, 40] },
        tsv: { type: "number", required: true, range: [-3, 3] },
      },
      label: { column: "tsv", binning: { kind: "three_class", cool_below: -0.5, warm_above: 0.5, classes: ["cool", "neutral", "warm"] } },
      features: ["ta", "season"],
      group: "building",
      slices: ["season"],
    },
    split: { ...SPLIT },
    training: { candidates: [{ name: "tree", algorithm: "decision_tree", params: { max_depth: 4, min_samples_leaf: 5 } }], permutation_importance_repeats: 0 },
    promotion: {
      gates: {
        absolute: [{ metric: "macro_f1", threshold: 0.6 }],
        min_class_recall: 0.3,
        champion: [{ metric: "macro_f1", min_absolute_change: -0.01 }],
        slices: { columns: ["season"], metric: "macro_f1", max_drop: 0.05, min_rows: 20 },
        sanity: {
          cases: [{ name: "hot is never cool", input: { ta: 35, season: "summer" }, expect_not: ["cool"] }],
          monotonic: [{ feature: "ta", direction: "increasing", steps: 12 }],
          max_latency_ms_per_row: 5,
          max_artifact_bytes: 1_000_000,
        },
        ...overrides.gates,
      },
    },
  } as PipelineConfigInput;
}

const config = (overrides?: { gates?: Record<string, unknown> }): PipelineConfig => parseConfig(rawConfig(overrides));
/** As a file under config/: relative paths in a config file resolve from its directory (docs/readme-parts/real-data.md). */
const asConfigFile = (raw: PipelineConfigInput): PipelineConfigInput => ({ ...raw, dataset: { ...raw.dataset, path: `../${raw.dataset.path}` } });

async function writeModel(rel: string, model: ModelArtifact): Promise<string> {
  const file = join(root, rel);
  await mkdir(join(file, ".."), { recursive: true });
  await writeFile(file, JSON.stringify(model) + "\n");
  return rel;
}

/** A model.json as the trainer would have written it for this data and split. */
function lineageModel(trees = [GOOD_TREE], candidate = "fixture"): ModelArtifact {
  return fixtureModel({ trees, dataSha256: dataSha, testRows: randomSplit(ROWS, SPLIT.test_share, SPLIT.seed).test.length, split: SPLIT, candidate });
}

async function registerProduction(modelRel: string): Promise<void> {
  const sha = await sha256File(join(root, modelRel));
  const registry = {
    version: 1,
    models: {
      "thermal-comfort": {
        versions: [
          {
            version: 1,
            created_at: "2026-01-01T00:00:00Z",
            artifact: { path: modelRel, sha256: sha },
            data: { path: "data/comfort.csv", sha256: dataSha, rows: ROWS },
            config_sha256: "1".repeat(64),
            git_sha: null,
            trainer: { name: "fixture", version: "1", seed: 7, candidate: "fixture" },
            metrics: { macro_f1: 0.8 },
            tags: ["validated", "production"],
            deployments: [],
          },
        ],
      },
    },
  };
  await mkdir(join(root, "models"), { recursive: true });
  await writeFile(join(root, "models/registry.yaml"), stringify(registry));
}

async function clearRegistry(): Promise<void> {
  await rm(join(root, "models/registry.yaml"), { force: true });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "validate-model-"));
  await mkdir(join(root, "data"), { recursive: true });
  await mkdir(join(root, "config"), { recursive: true });
  await writeFile(join(root, "data/comfort.csv"), datasetCsv());
  dataSha = await sha256File(join(root, "data/comfort.csv"));
  await writeFile(join(root, "config/pipeline.yaml"), stringify(asConfigFile(rawConfig())));
  await writeModel("out/good/model.json", lineageModel());
  await writeModel("out/worse/model.json", lineageModel([taTree([16, 30], ["cool", "neutral", "warm"])], "worse"));
  await writeModel("out/winter-broken/model.json", lineageModel([seasonTree(INVERTED_TREE, GOOD_TREE)], "winter-broken"));
  await writeModel("out/inverted/model.json", lineageModel([INVERTED_TREE], "inverted"));
  await writeModel("models/thermal-comfort/v1/model.json", lineageModel([GOOD_TREE], "champion"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const run = (cfg: PipelineConfig, modelPath: string, champion?: string | null) => {
  const reporter = recordingReporter();
  return validateModel({ config: cfg, root, modelPath, champion, reporter, measureLatency: false }).then((report) => ({ report, reporter }));
};

const failedGates = (report: { gates: { name: string; passed: boolean; skipped?: boolean }[] }) => report.gates.filter((g) => !g.passed && !g.skipped).map((g) => g.name);

describe("validateModel", () => {
  it("without a production model skips the champion gates and passes", async () => {
    await clearRegistry();
    const { report, reporter } = await run(config(), "out/good/model.json");
    expect(failedGates(report)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.champion).toBeNull();
    expect(report.champion_note).toMatch(/no production model/);
    expect(report.gates.find((g) => g.name === "champion:macro_f1")).toMatchObject({ passed: true, skipped: true, message: expect.stringMatching(/^skipped: no production model/) });
    expect(report.gates.find((g) => g.name === "slices")).toMatchObject({ skipped: true });
    // Slices are still reported, with the challenger's figures only.
    expect(report.slices.map((s) => s.value)).toEqual(["summer", "winter"]);
    expect(report.slices.every((s) => s.champion === null && s.challenger !== null)).toBe(true);
    // The held-out set is the challenger's test split, and the data is the data it was trained on.
    expect(report.data.test_rows).toBe(randomSplit(ROWS, 0.3, 7).test.length);
    expect(report.data.matches_challenger_lineage).toBe(true);
    expect(report.data.sha256).toBe(dataSha);
    expect(report.warnings).toEqual([]);
    expect(report.metrics.challenger.n).toBe(report.data.test_rows);
    expect(report.metrics.challenger.macro_f1).toBeGreaterThan(0.8);
    expect(report.sanity.monotonic[0]!.passed).toBe(true);
    expect(ModelValidationReportSchema.parse(report)).toEqual(report);
    expect(reporter.outputs.passed).toBe("true");
    expect(reporter.summaries[0]).toMatch(/## Model validation: ✅ passed/);
  });

  it("fails a challenger worse than production beyond the tolerance, on the same rows", async () => {
    await registerProduction("models/thermal-comfort/v1/model.json");
    const { report } = await run(config(), "out/worse/model.json");
    expect(report.champion).toMatchObject({ source: "production", registry_version: 1, candidate: "champion" });
    expect(failedGates(report)).toContain("champion:macro_f1");
    const gate = report.gates.find((g) => g.name === "champion:macro_f1")!;
    expect(gate.baseline).toBe(report.metrics.champion!.macro_f1);
    expect(gate.value).toBe(report.metrics.challenger.macro_f1);
    expect(gate.value!).toBeLessThan(gate.baseline! - 0.01);
    expect(report.metrics.champion!.n).toBe(report.metrics.challenger.n);
    expect(report.passed).toBe(false);
  });

  it("passes a challenger equal to production and compares every slice", async () => {
    await registerProduction("models/thermal-comfort/v1/model.json");
    const { report } = await run(config(), "out/good/model.json");
    expect(failedGates(report)).toEqual([]);
    expect(report.gates.filter((g) => g.kind === "slice").map((g) => g.name)).toEqual(["slice:season=summer", "slice:season=winter"]);
    expect(report.slices.every((s) => s.drop === 0)).toBe(true);
  });

  it("fails a slice that drops beyond max_drop and names it", async () => {
    await registerProduction("models/thermal-comfort/v1/model.json");
    // Overall loss tolerated, so only the slice gate decides.
    const cfg = config({ gates: { champion: [{ metric: "macro_f1", min_absolute_change: -1 }], absolute: [], min_class_recall: undefined } });
    const { report, reporter } = await run(cfg, "out/winter-broken/model.json");
    expect(failedGates(report)).toEqual(["slice:season=winter"]);
    expect(reporter.errors.join("\n")).toMatch(/FAIL slice:season=winter: macro_f1 on season=winter/);
    const winter = report.slices.find((s) => s.value === "winter")!;
    expect(winter.drop!).toBeGreaterThan(0.05);
  });

  it("fails a sanity case violation and detects an inverted model's monotonic response", async () => {
    await clearRegistry();
    const cfg = config({ gates: { absolute: [], min_class_recall: undefined } });
    const { report } = await run(cfg, "out/inverted/model.json");
    expect(failedGates(report)).toEqual(["sanity:hot is never cool", "monotonic:ta"]);
  });

  it("takes a champion by path or by registry version, and none on request", async () => {
    await registerProduction("models/thermal-comfort/v1/model.json");
    const byPath = await run(config(), "out/worse/model.json", "out/good");
    expect(byPath.report.champion).toMatchObject({ source: "out/good/model.json", registry_version: null });
    const byRef = await run(config(), "out/worse/model.json", "thermal-comfort@v1");
    expect(byRef.report.champion?.registry_version).toBe(1);
    const none = await run(config(), "out/good/model.json", null);
    expect(none.report.champion).toBeNull();
    expect(none.report.champion_note).toBe("no champion requested");
  });

  it("warns when the data is not the challenger's training data", async () => {
    await clearRegistry();
    await writeModel("out/other-data/model.json", fixtureModel({ dataSha256: "f".repeat(64), split: SPLIT }));
    const { report, reporter } = await run(config(), "out/other-data/model.json");
    expect(report.data.matches_challenger_lineage).toBe(false);
    expect(reporter.warnings.join("\n")).toMatch(/not the data the challenger was trained on/);
  });

  it("recomputes the split the challenger's lineage records, even when the config changed since", async () => {
    await clearRegistry();
    const seed8 = { ...SPLIT, seed: 8 };
    await writeModel("out/seed8/model.json", fixtureModel({ dataSha256: dataSha, split: seed8, testRows: randomSplit(ROWS, 0.3, 8).test.length }));
    const { report, reporter } = await run(config(), "out/seed8/model.json");
    expect(report.data.split).toEqual({ method: "random", test_share: 0.3, seed: 8 });
    expect(reporter.warnings).toEqual([expect.stringMatching(/trained with split random\/0\.3\/seed 8, the config says random\/0\.3\/seed 7/)]);
    expect(report.warnings).toEqual(reporter.warnings);
  });

  it("refuses a bad gate config, a broken production artifact and classes that do not match", async () => {
    await clearRegistry();
    await expect(run(config({ gates: { absolute: [{ metric: "auc", threshold: 0.5 }] } }), "out/good/model.json")).rejects.toThrowError(ConfigError);
    await expect(run(config({ gates: { sanity: { cases: [{ name: "typo", input: { ta: 30 }, expect_not: ["hot"] }] } } }), "out/good/model.json")).rejects.toThrowError(/unknown class "hot"/);
    await expect(run(config({ gates: { sanity: { monotonic: [{ feature: "rh", direction: "increasing" }] } } }), "out/good/model.json")).rejects.toThrowError(/"rh" is not a feature of the model/);
    const typo = await run(config({ gates: { sanity: { cases: [{ name: "hot", input: { temp: 35 }, expect_not: ["cool"] }] } } }), "out/good/model.json");
    expect(typo.report.warnings).toEqual(['promotion.gates.sanity.cases[0] (hot): "temp" is not a feature of the model and is ignored']);
    await registerProduction("models/thermal-comfort/v1/model.json");
    await writeFile(join(root, "models/registry.yaml"), (await readFile(join(root, "models/registry.yaml"), "utf8")).replace(/sha256: [0-9a-f]{64}\n(\s+)data/, `sha256: ${"e".repeat(64)}\n$1data`));
    await expect(run(config(), "out/good/model.json")).rejects.toThrowError(/but the registry records e{64}/);
    await clearRegistry();
    const twoClasses: ModelArtifact = { ...lineageModel(), classes: ["cool", "warm"] };
    twoClasses.model = { ...twoClasses.model, trees: [{ feature: [0, -1, -1], threshold: [23, 0, 0], left: [1, -1, -1], right: [2, -1, -1], missing_left: [1, 1, 1], value: [null, [1, 0], [0, 1]], n: [2, 1, 1] }] };
    await writeModel("out/two-classes/model.json", twoClasses);
    await expect(run(config(), "out/two-classes/model.json")).rejects.toThrowError(InputError);
  });
});

describe("with the real trainer", () => {
  it("evaluates a trained model on exactly the rows it was tested on", async () => {
    await clearRegistry();
    const cfg = config();
    const trained = await train({ config: cfg, configSha256: "2".repeat(64), root, outDir: "out/trained", reporter: recordingReporter(), now: () => new Date("2026-01-01T00:00:00Z") });
    const { report } = await run(cfg, "out/trained/model.json");
    expect(report.warnings).toEqual([]);
    expect(report.data.test_rows).toBe(trained.model.lineage.split.test_rows);
    // Same rows, same model: the recomputed held-out metrics are the trainer's own.
    expect(report.metrics.challenger.accuracy).toBe(trained.metrics.test.accuracy);
    expect(report.metrics.challenger.macro_f1).toBe(trained.metrics.test.macro_f1);
    expect(report.metrics.challenger.confusion_matrix).toEqual(trained.metrics.test.confusion_matrix);
    expect(report.challenger.candidate).toBe("tree");
    // The trained tree learns that warmer rooms feel warmer.
    expect(report.gates.find((g) => g.name === "monotonic:ta")?.passed).toBe(true);
    expect(report.gates.find((g) => g.name === "sanity:hot is never cool")?.passed).toBe(true);
  }, 30_000);
});

describe("pipeline validate-model (CLI)", () => {
  it("exits 0 and writes the report and summary when the gates pass", async () => {
    await clearRegistry();
    const result = await runCli(["validate-model", "--model", "out/good/model.json", "--out", "reports/validation.json", "--summary", "reports/validation.md"], { cwd: root });
    expect(result.stderr).toMatch(/validate-model: passed/);
    expect(result.code).toBe(0);
    const report = ModelValidationReportSchema.parse(JSON.parse(await readFile(join(root, "reports/validation.json"), "utf8")));
    expect(report.passed).toBe(true);
    expect(report.latency?.rows).toBe(report.data.test_rows);
    expect(report.latency!.runs_ms).toHaveLength(3);
    const md = await readFile(join(root, "reports/validation.md"), "utf8");
    expect(md).toMatch(/\| ✅ \| absolute:macro_f1 \|/);
    expect(md).toContain("xychart-beta");
  }, 30_000);

  it("exits 1 naming the failed absolute gate", async () => {
    await clearRegistry();
    const strict = rawConfig({ gates: { absolute: [{ metric: "macro_f1", threshold: 0.99 }] } });
    await writeFile(join(root, "config/strict.yaml"), stringify(asConfigFile(strict)));
    const result = await runCli(["validate-model", "--model", "out/good", "--config", "config/strict.yaml", "--no-latency", "--out", "reports/strict.json"], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAIL absolute:macro_f1: macro_f1 = [0-9.]+ not >= 0\.99/);
    expect(result.stderr).toMatch(/failed 1 gate\(s\): absolute:macro_f1/);
    const report = JSON.parse(await readFile(join(root, "reports/strict.json"), "utf8"));
    expect(report.passed).toBe(false);
  }, 30_000);

  it("exits 2 on a missing model or a missing argument", async () => {
    const missing = await runCli(["validate-model", "--model", "out/nope/model.json"], { cwd: root });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/out\/nope\/model\.json: model not found/);
    const usage = await runCli(["validate-model"], { cwd: root });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--model/);
  }, 30_000);
});
