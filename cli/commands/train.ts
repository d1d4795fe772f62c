import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import { train } from "../../pipeline/train/index.js";
import { action } from "../run-command.js";
import { commitTime, currentGitSha } from "../git-sha.js";
import { sourceDateEpoch } from "../../pipeline/core/source-date.js";

interface TrainFlags {
  config: string;
  data?: string;
  candidate?: string;
  out: string;
  exportSplit?: string;
}

/** `pipeline train`: thin shell over the library step. */
export function register(program: Command): void {
  program
    .command("train")
    .description("Train the configured candidates (or one), pick the best by cross-validation, write model.json, metrics.json and report.md.")
    .option("--config <file>", "pipeline configuration", DEFAULT_CONFIG_PATH)
    .option("--data <path>", "dataset to train on (default: dataset.path of the config)")
    .option("--candidate <n|name>", "train only this candidate (name or 1-based index), e.g. for a matrix job")
    .requiredOption("--out <dir>", "directory for model.json, metrics.json and report.md")
    .option("--export-split <file>", "also write the train and test row numbers (JSON) to this file")
    .action(
      action(async (ctx, flags: TrainFlags) => {
        const loaded = await loadConfig(flags.config, ctx.root);
        const gitSha = await currentGitSha(ctx.root);
        // lineage.created_at: SOURCE_DATE_EPOCH, else the trained commit's time, else now (docs/readme-parts/integrity.md).
        const pinned = sourceDateEpoch() ?? (await commitTime(ctx.root, gitSha));
        const result = await train({
          config: loaded.config,
          configSha256: loaded.sha256,
          root: ctx.root,
          dataPath: flags.data,
          candidate: flags.candidate,
          outDir: flags.out,
          exportSplitPath: flags.exportSplit,
          reporter: ctx.reporter,
          gitSha,
          ...(pinned ? { now: () => pinned } : {}),
        });
        const t = result.metrics.test;
        process.stdout.write(
          JSON.stringify({ candidate: result.candidate, accuracy: t.accuracy, macro_f1: t.macro_f1, model: result.paths.model, metrics: result.paths.metrics, report: result.paths.report }) + "\n",
        );
        return 0;
      }),
    );
}
