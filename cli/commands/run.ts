import type { Command } from "commander";
import { relative } from "node:path";
import { loadConfig } from "../../pipeline/config/load.js";
import { runLoop } from "../../pipeline/run.js";
import { action } from "../run-command.js";
import { currentGitSha } from "../git-sha.js";

/** `pipeline run`: the whole loop locally (what `npm start` calls). */
export function register(program: Command): void {
  program
    .command("run")
    .description("Run the whole loop locally: validate data, train candidates, gate against production, promote into out/run/promotion")
    .option("--config <file>", "pipeline config", "config/pipeline.yaml")
    .option("--data <path>", "dataset (defaults to dataset.path in the config)")
    .option("--out <dir>", "output directory", "out/run")
    .action(
      action(async (ctx, opts: { config: string; data?: string; out: string }) => {
        const loaded = await loadConfig(opts.config, ctx.root);
        const result = await runLoop({ loaded, outDir: opts.out, dataPath: opts.data, reporter: ctx.reporter, gitSha: await currentGitSha(ctx.root) });
        const rel = (p: string) => relative(ctx.root, p);
        ctx.reporter.info("");
        ctx.reporter.info(result.stoppedAt ? `✖ stopped at ${result.stoppedAt}` : "✔ the whole loop passed");
        ctx.reporter.info(`  summary: ${rel(result.summaryPath)}`);
        if (result.modelDir) ctx.reporter.info(`  model:   ${rel(result.modelDir)}/model.json (report.md, metrics.json beside it)`);
        if (result.promotionWorkspace) {
          ctx.reporter.info(`  promotion preview: ${rel(result.promotionWorkspace)}/models (what the pull request would change)`);
          ctx.reporter.info(`  to open it for real: pipeline promote --model ${rel(result.modelDir!)} --validation-report ${opts.out}/model-validation.json --open-pr`);
        }
        process.stdout.write(JSON.stringify({ exitCode: result.exitCode, stoppedAt: result.stoppedAt, stages: result.stages }) + "\n");
        return result.exitCode;
      }),
    );
}
