import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../pipeline/config/load.js";
import { PipelineConfigSchema, type PipelineConfig } from "../../pipeline/config/schema.js";
import { recordingReporter } from "../../pipeline/core/reporter.js";
import { generateDataset } from "../../pipeline/data/manifest.js";
import { train, type TrainResult } from "../../pipeline/train/index.js";
import { PROJECT_ROOT } from "./cli.js";

/**
 * The train step on a freshly generated dataset in a temporary folder (data/comfort.csv, output in
 * out/), with the committed config's sections and the given training section merged over its own.
 */
export async function trainOnGenerated(options: {
  prefix: string;
  rows: number;
  seed: number;
  training: Record<string, unknown>;
  exportSplitPath?: string;
}): Promise<{ dir: string; config: PipelineConfig; result: TrainResult }> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix));
  await generateDataset({ out: join(dir, "data", "comfort.csv"), root: dir, options: { rows: options.rows, seed: options.seed } });
  const base = (await loadConfig("config/pipeline.yaml", PROJECT_ROOT)).config;
  const config = PipelineConfigSchema.parse({ ...base, dataset: { ...base.dataset, path: "data/comfort.csv" }, training: { ...base.training, ...options.training } });
  const result = await train({
    config,
    configSha256: "0".repeat(64),
    root: dir,
    outDir: "out",
    reporter: recordingReporter(),
    gitSha: null,
    now: () => new Date("2026-01-01T00:00:00Z"),
    ...(options.exportSplitPath ? { exportSplitPath: options.exportSplitPath } : {}),
  });
  return { dir, config, result };
}
