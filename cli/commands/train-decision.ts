import { appendFile, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { loadConfig } from "../../pipeline/config/load.js";
import { InputError, UsageError } from "../../pipeline/core/errors.js";
import { productionVersion } from "../../pipeline/registry/query.js";
import { readRegistry } from "../../pipeline/registry/store.js";
import { decideTraining } from "../../pipeline/train/decision.js";
import { DataValidationReportSchema } from "../../pipeline/validate-data/report.js";
import { action } from "../run-command.js";

const TriggerSchema = z.enum(["schedule", "workflow_dispatch", "repository_dispatch", "push", "local"]);

/** `pipeline train-decision`: should this training run train? (the weekly skip rule). */
export function register(program: Command): void {
  program
    .command("train-decision")
    .description("Decide whether a training run trains: a scheduled run skips unchanged data without drift (prints train=true|false and reason=… lines)")
    .requiredOption("--data-report <file>", "the validate-data JSON report of this run")
    .option("--config <file>", "pipeline config", "config/pipeline.yaml")
    .option("--event <name>", "what started the run: schedule, workflow_dispatch, repository_dispatch, push or local", "local")
    .option("--force", "train whatever the data")
    .option("--summary <file>", "append a Markdown line saying what was decided (e.g. $GITHUB_STEP_SUMMARY)")
    .action(
      action(async (ctx, opts: { dataReport: string; config: string; event: string; force?: boolean; summary?: string }) => {
        const trigger = TriggerSchema.safeParse(opts.event);
        if (!trigger.success) throw new UsageError(`--event: expected one of ${TriggerSchema.options.join(", ")}, got "${opts.event}"`);
        const loaded = await loadConfig(opts.config, ctx.root);
        const path = resolve(ctx.root, opts.dataReport);
        let raw: unknown;
        try {
          raw = JSON.parse(await readFile(path, "utf8"));
        } catch (error) {
          throw new InputError(`${opts.dataReport}: cannot read the data validation report (${(error as Error).message})`);
        }
        const report = DataValidationReportSchema.safeParse(raw);
        if (!report.success) throw new InputError(`${opts.dataReport}: not a validate-data report (${report.error.issues[0]!.path.join(".")}: ${report.error.issues[0]!.message})`);
        const registry = await readRegistry(ctx.root);
        const decision = decideTraining({ report: report.data, production: productionVersion(registry, loaded.config.model.name), trigger: trigger.data, force: opts.force === true });
        ctx.reporter.info(`${decision.train ? "train" : "skip training"}: ${decision.reason}`);
        process.stdout.write(`train=${decision.train}\nreason=${decision.reason.replace(/\n/g, " ")}\n`);
        if (opts.summary) {
          // The runner's summary file is appended to, as every step does; it is not ours to replace.
          await appendFile(resolve(ctx.root, opts.summary), `\n**${decision.train ? "Training" : "Training skipped"}:** ${decision.reason}\n`);
        }
        return 0;
      }),
    );
}
