import * as core from "@actions/core";
import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { validateModel, writeModelValidationOutputs } from "../../pipeline/validate-model/index.js";
import { resolve } from "node:path";

// The step reports passed / failed-gates and the job summary itself.
await runAction(async (reporter) => {
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const { config } = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  const champion = optionalInput("champion") ?? "production";
  const report = await validateModel({
    config,
    root,
    modelPath: core.getInput("model", { required: true }),
    champion: champion === "none" ? null : champion,
    dataPath: optionalInput("data"),
    reporter,
  });
  const out = resolve(root, optionalInput("report") ?? "reports/model-validation.json");
  await writeModelValidationOutputs(report, { out });
  reporter.output("report", out);
  return report.passed ? 0 : 1;
});
