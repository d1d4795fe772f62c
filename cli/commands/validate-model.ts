import type { Command } from "commander";
import { resolve } from "node:path";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import { EXIT_FAILED, EXIT_OK } from "../../pipeline/core/errors.js";
import { validateModel, writeModelValidationOutputs } from "../../pipeline/validate-model/index.js";
import { action } from "../run-command.js";

interface Options {
  model: string;
  champion: string;
  config: string;
  data?: string;
  out?: string;
  summary?: string;
  latency: boolean;
}

/** `pipeline validate-model`: thin shell over validateModel. Exit 0 passed, 1 a gate failed, 2 usage or unreadable input. */
export function register(program: Command): void {
  program
    .command("validate-model")
    .description("Gate a trained model: absolute, champion/challenger, slice and sanity gates on the held-out set")
    .requiredOption("--model <path>", "the challenger: model.json or the training output directory")
    .option("--champion <ref>", 'baseline: "production", a registry version name@vN, a model.json path, or "none"', "production")
    .option("--config <file>", "pipeline configuration", DEFAULT_CONFIG_PATH)
    .option("--data <path>", "dataset (default: the config's dataset.path)")
    .option("--out <file>", "write the JSON report here")
    .option("--summary <file>", "write the Markdown summary here")
    .option("--no-latency", "do not time inference (the latency gate is skipped)")
    .action(
      action(async ({ reporter, root }, options: Options) => {
        const { config } = await loadConfig(options.config, root);
        const report = await validateModel({
          config,
          root,
          modelPath: options.model,
          champion: options.champion === "none" ? null : options.champion,
          dataPath: options.data,
          reporter,
          measureLatency: options.latency,
        });
        await writeModelValidationOutputs(report, { out: options.out && resolve(root, options.out), summary: options.summary && resolve(root, options.summary) });
        return report.passed ? EXIT_OK : EXIT_FAILED;
      }),
    );
}
