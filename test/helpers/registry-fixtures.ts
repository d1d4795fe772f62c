import { copyFile, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configHash, loadConfig, parseConfig } from "../../pipeline/config/load.js";
import type { PipelineConfig } from "../../pipeline/config/schema.js";
import { sha256Hex } from "../../pipeline/core/hash.js";
import { ModelArtifactSchema, type ModelArtifact } from "../../pipeline/model/artifact-schema.js";
import type { ModelVersion, Registry } from "../../pipeline/registry/schema.js";
import { PROJECT_ROOT } from "./cli.js";

/** A small but schema-valid model.json: one stump on `ta`, three classes. `seed` varies the bytes. */
export function modelArtifact(options: { name?: string; seed?: number; macroF1?: number; accuracy?: number } = {}): ModelArtifact {
  const seed = options.seed ?? 1;
  const artifact = {
    schema_version: 1,
    name: options.name ?? "thermal-comfort",
    task: "classification",
    label: { column: "thermal_sensation", binning: { kind: "three_class", cool_below: -0.5, warm_above: 0.5 } },
    classes: ["cool", "neutral", "warm"],
    features: [
      { name: "ta", type: "number", range: [5, 45] },
      { name: "season", type: "category", categories: ["winter", "spring", "summer", "autumn"] },
    ],
    preprocessing: {
      imputation: { ta: { strategy: "median", value: 23.1 }, season: { strategy: "mode", value: "summer" } },
      outliers: {},
      encoding: "ordinal",
      categories: { season: ["winter", "spring", "summer", "autumn"] },
      encoded_features: ["ta", "season"],
    },
    model: {
      algorithm: "decision_tree",
      params: { max_depth: 1 },
      trees: [
        {
          feature: [0, -1, -1],
          threshold: [20 + seed / 10, 0, 0],
          left: [1, -1, -1],
          right: [2, -1, -1],
          missing_left: [1, 0, 0],
          value: [null, [0.7, 0.2, 0.1], [0.1, 0.3, 0.6]],
          n: [100, 40, 60],
        },
      ],
    },
    // The shape pipeline/train writes into model.json.
    metrics: {
      accuracy: options.accuracy ?? 0.55 + seed / 100,
      balanced_accuracy: 0.5,
      macro_f1: options.macroF1 ?? 0.48 + seed / 100,
      log_loss: 0.9,
      ece: 0.05,
      n: 100,
      per_class: { cool: { precision: 0.7, recall: 0.75, f1: 0.72, support: 40 }, neutral: { precision: 0.6, recall: 0.62, f1: 0.61, support: 40 }, warm: { precision: 0.6, recall: 0.45, f1: 0.51, support: 20 } },
      confusion_matrix: [
        [30, 8, 2],
        [10, 25, 5],
        [3, 7, 10],
      ],
      cv_macro_f1: 0.47,
      cv_std: 0.02,
      slices: { season: { summer: { n: 40, accuracy: 0.6, macro_f1: 0.5 }, winter: { n: 60, accuracy: 0.45, macro_f1: 0.35 } } },
    },
    reference_profile: {
      version: 1,
      rows: 100,
      columns: {
        ta: { kind: "number", count: 100, missing: 0, mean: 23, std: 3, min: 15, max: 31, quantiles: [15, 23, 31], histogram: { edges: [null, 20, 25, 30], counts: [30, 50, 20] } },
        season: { kind: "category", count: 100, missing: 0, counts: { summer: 50, winter: 50 } },
      },
      label: { cool: 30, neutral: 40, warm: 30 },
    },
    lineage: {
      data_sha256: sha256Hex(`data-${seed}`),
      data_rows: 100,
      data_path: "data/thermal-comfort.csv",
      config_sha256: sha256Hex("config"),
      git_sha: "0123456789abcdef0123456789abcdef01234567",
      trainer: "gitops-ml-pipeline-cart@0.1.0",
      seed,
      candidate: "tree-d10",
      split: { method: "group", test_share: 0.2, test_rows: 20, train_rows: 80 },
      created_at: "2026-11-01T00:00:00.000Z",
    },
  };
  return ModelArtifactSchema.parse(artifact);
}

/** A training output directory as `pipeline train --out` writes it: model.json, metrics.json, report.md. */
export async function writeModelDir(dir: string, options: Parameters<typeof modelArtifact>[0] = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const artifact = modelArtifact(options);
  const m = artifact.metrics as Record<string, unknown>;
  const metricsReport = {
    version: 1,
    model: artifact.name,
    candidate: artifact.lineage.candidate,
    algorithm: artifact.model.algorithm,
    selection_metric: "macro_f1",
    classes: artifact.classes,
    split: { method: "group", test_share: 0.2, train_rows: 80, test_rows: 20, fitted_rows: 80, cv_folds: 3, grouped_by: "building_id" },
    test: { n: m.n, accuracy: m.accuracy, balanced_accuracy: m.balanced_accuracy, macro_f1: m.macro_f1, log_loss: m.log_loss, ece: m.ece, per_class: m.per_class, confusion_matrix: m.confusion_matrix },
    cv: [{ candidate: artifact.lineage.candidate, algorithm: artifact.model.algorithm, metric: "macro_f1", folds: [0.45, 0.47, 0.49], mean: 0.47, std: 0.02, fit_seconds: 0.1 }],
    importance: { impurity: { ta: 0.9, season: 0.1 }, permutation: { ta: { mean: 0.2, std: 0.01 }, season: { mean: 0.01, std: 0.005 } } },
    slices: m.slices,
  };
  await writeFile(join(dir, "model.json"), JSON.stringify(artifact) + "\n");
  await writeFile(join(dir, "metrics.json"), JSON.stringify(metricsReport, null, 2) + "\n");
  await writeFile(join(dir, "report.md"), `# Training report\n\nmacro_f1 ${String(m.macro_f1)}\n`);
  return dir;
}

const classMetrics = (n: number) => ({
  n,
  accuracy: 0.6,
  balanced_accuracy: 0.55,
  macro_f1: 0.5,
  log_loss: 0.9,
  ece: 0.05,
  per_class: { cool: { precision: 0.7, recall: 0.75, f1: 0.72, support: 40 }, neutral: { precision: 0.6, recall: 0.62, f1: 0.61, support: 40 }, warm: { precision: 0.6, recall: 0.45, f1: 0.51, support: 20 } },
  confusion_matrix: [
    [30, 8, 2],
    [10, 25, 5],
    [3, 7, 10],
  ],
});

/** A report in the shape `pipeline validate-model --out` writes (see its schema in pipeline/validate-model/report.ts). */
export function validationReport(passed = true): Record<string, unknown> {
  const ref = { path: "out/model.json", sha256: "e".repeat(64), bytes: 1000, name: "thermal-comfort", candidate: "tree-d10", algorithm: "decision_tree", data_sha256: "f".repeat(64) };
  return {
    version: 1,
    created_at: "2026-11-21T12:00:00.000Z",
    passed,
    gates: [
      { name: "absolute:macro_f1", kind: "absolute", passed: true, message: "macro_f1 0.50 >= 0.45", value: 0.5, threshold: 0.45 },
      { name: "champion:macro_f1", kind: "champion", passed, message: passed ? "+0.01 vs production" : "-0.05 vs production (min -0.01)", value: 0.5, baseline: 0.49 },
      { name: "latency", kind: "latency", passed: false, skipped: true, message: "latency not measured" },
    ],
    challenger: ref,
    champion: { ...ref, source: "production", registry_version: 1 },
    champion_note: null,
    data: { path: "data/thermal-comfort.csv", sha256: "f".repeat(64), rows: 100, test_rows: 20, split: { method: "group", test_share: 0.2, seed: 42 }, matches_challenger_lineage: true, matches_champion_lineage: true },
    metrics: { challenger: classMetrics(20), champion: classMetrics(20) },
    slices: [
      { column: "season", value: "summer", rows: 40, metric: "macro_f1", challenger: 0.5, champion: 0.49, drop: -0.01, gated: true, passed: true },
      { column: "season", value: "winter", rows: 60, metric: "macro_f1", challenger: 0.46, champion: 0.47, drop: 0.01, gated: true, passed: true },
    ],
    sanity: { cases: [], monotonic: [] },
    latency: null,
    artifact: { bytes: 1000, budget_bytes: 30000000 },
    warnings: [],
  };
}

/**
 * A passing (or failing) report bound to the model in `modelDir` (a training output folder or its
 * model.json) and to `config`, as `validate-model --out` writes it for that model: promote accepts
 * only a report that names the artifact's sha256 and the configuration's hash.
 */
export async function boundValidationReport(modelDir: string, config: PipelineConfig | { file: string; root: string }, passed = true): Promise<Record<string, unknown>> {
  const file = modelDir.endsWith(".json") ? modelDir : join(modelDir, "model.json");
  const report = validationReport(passed);
  const challenger = report.challenger as Record<string, unknown>;
  report.challenger = { ...challenger, sha256: sha256Hex(await readFile(file)) };
  report.config_sha256 = "file" in config ? (await loadConfig(config.file, config.root)).sha256 : configHash(config);
  return report;
}

/** The drift section of a validate-data report (pipeline/validate-data/report.ts). */
export function dataReport(): Record<string, unknown> {
  return {
    version: 1,
    passed: true,
    drift: {
      reference: "production",
      skipped: null,
      numeric_method: "psi",
      categorical_method: "psi",
      psi_threshold: 0.2,
      alpha: 0.01,
      ks_min_effect: 0.1,
      chi2_min_effect: 0.1,
      reference_rows: 100,
      columns: [
        { column: "ta", kind: "number", method: "psi", reference_count: 100, current_count: 100, psi: 0.31, statistic: null, p_value: null, effect: null, drifted: true },
        { column: "season", kind: "category", method: "psi", reference_count: 100, current_count: 100, psi: 0.02, statistic: null, p_value: null, effect: null, drifted: false },
      ],
      compared: 2,
      drifted: 1,
      drifted_share: 0.5,
      max_drifted_share: 0.3,
      notes: [],
      passed: false,
    },
  };
}

export function testConfig(): PipelineConfig {
  return parseConfig({
    version: 1,
    model: { name: "thermal-comfort", description: "Predicts thermal sensation." },
    dataset: {
      path: "data/thermal-comfort.csv",
      columns: { ta: { type: "number" }, season: { type: "category" }, thermal_sensation: { type: "number" } },
      label: { column: "thermal_sensation", binning: { kind: "three_class" } },
      features: ["ta", "season"],
    },
    training: { candidates: [{ name: "tree-d10", algorithm: "decision_tree" }] },
    promotion: { github: { base_branch: "main", labels: ["model-promotion"] } },
  });
}

/** A scratch repository root with the project's config (for CLI runs). */
export async function scratchRoot(prefix = "registry-"): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await mkdir(join(root, "config"), { recursive: true });
  await copyFile(join(PROJECT_ROOT, "config/pipeline.yaml"), join(root, "config/pipeline.yaml"));
  return root;
}

/** A registry version entry whose artifact file is written under root (so sha256 checks pass). */
export async function registeredVersion(root: string, version: number, tags: ModelVersion["tags"], name = "thermal-comfort"): Promise<ModelVersion> {
  const path = `models/${name}/v${version}/model.json`;
  const bytes = JSON.stringify(modelArtifact({ name, seed: version })) + "\n";
  await mkdir(join(root, `models/${name}/v${version}`), { recursive: true });
  await writeFile(join(root, path), bytes);
  return {
    version,
    created_at: `2026-11-0${version}T00:00:00.000Z`,
    artifact: { path, sha256: sha256Hex(bytes) },
    data: { path: "data/thermal-comfort.csv", sha256: sha256Hex("data"), rows: 100 },
    config_sha256: sha256Hex("config"),
    git_sha: null,
    trainer: { name: "cart", version: "0.1.0", seed: version, candidate: "tree-d10" },
    metrics: { macro_f1: 0.4 + version / 100, accuracy: 0.5 },
    tags,
    deployments: [],
  };
}

export function registryOf(versions: ModelVersion[], name = "thermal-comfort"): Registry {
  return { version: 1, models: { [name]: { versions } } };
}

export async function readText(path: string): Promise<string> {
  return readFile(path, "utf8");
}
