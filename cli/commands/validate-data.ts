import type { Command } from "commander";
import { loadConfig, DEFAULT_CONFIG_PATH } from "../../pipeline/config/load.js";
import { validateDataStep } from "../../pipeline/validate-data/run.js";
import { action } from "../run-command.js";

interface ValidateDataFlags {
  config: string;
  data?: string;
  reference?: string;
  out?: string;
  summary?: string;
  profileOut?: string;
}

/** `pipeline validate-data`: thin shell over pipeline/validate-data. Exit 0 passed, 1 failed, 2 bad input. */
export function register(program: Command): void {
  program
    .command("validate-data")
    .description("Validate a dataset: schema, quality (missing, duplicates, outliers, imbalance, constants) and drift against a reference.")
    .option("--config <file>", "pipeline configuration", DEFAULT_CONFIG_PATH)
    .option("--data <path>", "CSV or CSV.gz to validate (default: the config's dataset.path)")
    .option("--reference <ref>", "drift reference: a profile JSON, a model.json, or 'production' (the registry's production model)")
    .option("--out <file>", "write the JSON report here")
    .option("--summary <file>", "write the Markdown summary here instead of stdout")
    .option("--profile-out <file>", "write the profile of this data (usable later as --reference)")
    .action(
      action(async (ctx, flags: ValidateDataFlags) => {
        const loaded = await loadConfig(flags.config, ctx.root);
        const result = await validateDataStep({
          loaded,
          dataPath: flags.data,
          reference: flags.reference,
          outPath: flags.out,
          summaryPath: flags.summary,
          profileOutPath: flags.profileOut,
          reporter: ctx.reporter,
        });
        if (!flags.summary) process.stdout.write(result.markdown + "\n");
        return result.exitCode;
      }),
    );
}
