import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { validateDataStep } from "../../pipeline/validate-data/run.js";

await runAction(async (reporter) => {
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const loaded = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  const result = await validateDataStep({
    loaded,
    dataPath: optionalInput("data"),
    reference: optionalInput("reference") ?? "production",
    outPath: optionalInput("report") ?? "reports/data-validation.json",
    reporter,
  });
  return result.exitCode;
});
