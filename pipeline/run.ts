import { cp, mkdir, rm, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import type { LoadedConfig } from "./config/load.js";
import { writeFileAtomic } from "./core/atomic.js";
import type { Reporter } from "./core/reporter.js";
import { promote } from "./promote/index.js";
import { checkRegistry } from "./registry/check.js";
import { readRegistry } from "./registry/store.js";
import { train } from "./train/index.js";
import { validateDataStep } from "./validate-data/run.js";
import { validateModel, writeModelValidationOutputs, renderModelValidationMarkdown } from "./validate-model/index.js";

export interface RunLoopInput {
  loaded: LoadedConfig;
  /** Where every output of the run goes (reports, the trained model, the promotion workspace). */
  outDir: string;
  dataPath?: string;
  reporter: Reporter;
  gitSha?: string | null;
  now?: () => Date;
}

export type StageName = "validate-data" | "train" | "validate-model" | "promote";

export interface RunLoopResult {
  exitCode: number;
  stoppedAt: StageName | null;
  stages: { name: StageName; exitCode: number; seconds: number; output: string }[];
  modelDir: string | null;
  /** The workspace whose models/ shows what the promotion pull request would change. */
  promotionWorkspace: string | null;
  summaryPath: string;
}

/**
 * The whole loop on one machine: validate the data, train every candidate and keep the best, gate
 * it against the production model, and promote it. Promotion runs in a copy of the repository's
 * models/ under outDir, so a local run never edits tracked files: the copy shows exactly what the
 * promotion pull request would contain.
 */
export async function runLoop(input: RunLoopInput): Promise<RunLoopResult> {
  const { loaded, reporter } = input;
  const root = loaded.root;
  const out = resolve(root, input.outDir);
  await mkdir(out, { recursive: true });
  const stages: RunLoopResult["stages"] = [];
  const summaries: string[] = [];
  const time = async <T>(name: StageName, output: string, body: () => Promise<{ code: number; value: T }>) => {
    reporter.info(`\n▶ ${name}`);
    const started = performance.now();
    const { code, value } = await body();
    stages.push({ name, exitCode: code, seconds: (performance.now() - started) / 1000, output: relative(root, output) || "." });
    reporter.info(`${code === 0 ? "✔" : "✖"} ${name} (${((performance.now() - started) / 1000).toFixed(1)} s) → ${relative(root, output)}`);
    return { code, value };
  };
  const finish = async (stoppedAt: StageName | null, exitCode: number, modelDir: string | null, workspace: string | null): Promise<RunLoopResult> => {
    const summaryPath = join(out, "summary.md");
    const table = ["| stage | result | seconds | output |", "|---|---|---:|---|", ...stages.map((s) => `| ${s.name} | ${s.exitCode === 0 ? "passed" : `failed (exit ${s.exitCode})`} | ${s.seconds.toFixed(1)} | \`${s.output}\` |`)];
    await writeFileAtomic(summaryPath, [`# Pipeline run`, "", ...table, "", ...summaries].join("\n") + "\n");
    return { exitCode, stoppedAt, stages, modelDir, promotionWorkspace: workspace, summaryPath };
  };

  // 1. Data validation, with drift against the production model's reference profile when there is one.
  const dataReportPath = join(out, "data-validation.json");
  const data = await time("validate-data", dataReportPath, async () => {
    const r = await validateDataStep({ loaded, dataPath: input.dataPath, reference: "production", outPath: dataReportPath, summaryPath: join(out, "data-validation.md"), reporter });
    summaries.push(r.markdown);
    return { code: r.exitCode, value: r };
  });
  if (data.code !== 0) return finish("validate-data", data.code, null, null);

  // 2. Train every candidate; the step keeps the best by cross-validated selection metric.
  const modelDir = join(out, "model");
  const trained = await time("train", modelDir, async () => {
    const r = await train({ config: loaded.config, configSha256: loaded.sha256, root, dataPath: input.dataPath, outDir: modelDir, reporter, gitSha: input.gitSha ?? null, now: input.now });
    return { code: 0, value: r };
  });
  reporter.info(`  best candidate: ${trained.value.candidate}`);

  // 3. Gate the challenger against the production model on the same held-out rows.
  const modelReportPath = join(out, "model-validation.json");
  const gated = await time("validate-model", modelReportPath, async () => {
    const report = await validateModel({ config: loaded.config, root, modelPath: trained.value.paths.model, champion: "production", dataPath: input.dataPath, reporter, now: input.now });
    await writeModelValidationOutputs(report, { out: modelReportPath, summary: join(out, "model-validation.md") });
    summaries.push(renderModelValidationMarkdown(report));
    return { code: report.passed ? 0 : 1, value: report };
  });
  if (gated.code !== 0) return finish("validate-model", gated.code, modelDir, null);

  // 4. Promote into a copy of models/ (what the pull request would change).
  const workspace = join(out, "promotion");
  await rm(workspace, { recursive: true, force: true });
  await mkdir(workspace, { recursive: true });
  const models = join(root, "models");
  if (await stat(models).then((s) => s.isDirectory(), () => false)) await cp(models, join(workspace, "models"), { recursive: true });
  const promoted = await time("promote", join(workspace, "models"), async () => {
    const r = await promote({ root: workspace, config: loaded.config, modelPath: modelDir, validationReport: modelReportPath, dataReport: dataReportPath, reporter, openPr: false, clock: input.now });
    const check = await checkRegistry(workspace, await readRegistry(workspace));
    if (!check.ok) for (const p of check.problems) reporter.error(`registry check: ${p.message}`);
    reporter.info(`  ${r.name} v${r.version} registered as validated${r.replaced ? `; the pull request would archive v${r.replaced}` : ""}`);
    return { code: check.ok ? 0 : 1, value: r };
  });
  return finish(null, promoted.code, modelDir, workspace);
}
