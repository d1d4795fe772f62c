import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { train } from "../../pipeline/train/index.js";
import { renderTrainReport } from "../../pipeline/train/report.js";

await runAction(async (reporter) => {
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const loaded = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  const result = await train({
    config: loaded.config,
    configSha256: loaded.sha256,
    root,
    dataPath: optionalInput("data"),
    candidate: optionalInput("candidate"),
    outDir: optionalInput("out") ?? "out/model",
    reporter,
    gitSha: process.env.GITHUB_SHA ?? null,
  });
  const own = result.metrics.cv.find((c) => c.candidate === result.candidate);
  reporter.output("model", result.paths.model);
  reporter.output("candidate", result.candidate);
  reporter.output("cv-score", String(own?.mean ?? ""));
  reporter.output("macro-f1", String(result.metrics.test.macro_f1));
  reporter.summary(renderTrainReport(result.metrics, result.paths.model));
  return 0;
});
