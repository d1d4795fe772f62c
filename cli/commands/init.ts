import type { Command } from "commander";
import { UsageError } from "../../pipeline/core/errors.js";
import { initConfig } from "../../pipeline/init/index.js";
import { action } from "../run-command.js";

interface InitFlags {
  data: string;
  label: string;
  group?: string;
  keepFeature: string[];
  out?: string;
}

/** `pipeline init`: a commented config for a new dataset, inferred from the file. */
export function register(program: Command): void {
  program
    .command("init")
    .description("Write a complete, commented config for a new dataset, inferred from the file.")
    .requiredOption("--data <path>", "CSV or CSV.gz to infer the config from")
    .requiredOption("--label <column>", "the column to predict")
    .option("--group <columns>", "column(s) whose rows stay together, comma-separated (several make a composite key)")
    .option("--keep-feature <column>", "keep a column as a feature although it looks like label leakage (repeatable)", (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option("--out <path>", "config file to write (default: print it)")
    .action(
      action(async (ctx, flags: InitFlags) => {
        const group = flags.group === undefined ? undefined : flags.group.split(",").map((s) => s.trim());
        if (group && group.some((g) => g === "")) throw new UsageError(`--group: expected column names separated by commas, got ${JSON.stringify(flags.group)}`);
        const result = await initConfig({ dataPath: flags.data, label: flags.label, group, keepFeatures: flags.keepFeature, outPath: flags.out ?? null, root: ctx.root });
        for (const w of result.warnings) ctx.reporter.warning(w);
        if (flags.out) ctx.reporter.info(`wrote ${flags.out}: ${Object.keys(result.config.dataset.columns).length} columns, ${result.config.dataset.features.length} features, label ${result.config.dataset.label.column}`);
        else process.stdout.write(result.text);
      }),
    );
}
