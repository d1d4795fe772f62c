import { copyFile, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../pipeline/config/load.js";
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
    metrics: {
      accuracy: options.accuracy ?? 0.55 + seed / 100,
      macro_f1: options.macroF1 ?? 0.48 + seed / 100,
      balanced_accuracy: 0.5,
      log_loss: 0.9,
      confusion_matrix: [
        [30, 8, 2],
        [10, 25, 5],
        [3, 7, 10],
      ],
      per_class: { cool: { precision: 0.7, recall: 0.75, f1: 0.72 }, neutral: { precision: 0.6, recall: 0.62, f1: 0.61 }, warm: { precision: 0.6, recall: 0.45, f1: 0.51 } },
      feature_importance: { impurity: { ta: 0.9, season: 0.1 } },
      slices: { season: { summer: { rows: 40, macro_f1: 0.5, accuracy: 0.6 }, winter: { rows: 60, macro_f1: 0.46, accuracy: 0.55 } } },
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

/** A training output directory: model.json, metrics.json and report.md. */
export async function writeModelDir(dir: string, options: Parameters<typeof modelArtifact>[0] = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const artifact = modelArtifact(options);
  await writeFile(join(dir, "model.json"), JSON.stringify(artifact) + "\n");
  await writeFile(join(dir, "metrics.json"), JSON.stringify({ test: artifact.metrics }, null, 2) + "\n");
  await writeFile(join(dir, "report.md"), `# Training report\n\nmacro_f1 ${String(artifact.metrics.macro_f1)}\n`);
  return dir;
}

export function validationReport(passed = true): object {
  return {
    passed,
    gates: [
      { name: "absolute: macro_f1 >= 0.45", passed: true, message: "0.49 >= 0.45" },
      { name: "champion: macro_f1", passed, message: passed ? "+0.01 vs production" : "-0.05 vs production (min -0.01)" },
    ],
    drift: { drifted: false, drifted_share: 0, columns: { ta: { method: "psi", psi: 0.03, drifted: false } } },
    extra_field_from_a_newer_validator: { anything: true },
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
