import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { train } from "../../pipeline/train/index.js";

// The step itself reports its outputs (model, metrics, candidate, macro-f1, cv-score) and summary.
await runAction(async (reporter) => {
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const loaded = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  await train({
    config: loaded.config,
    configSha256: loaded.sha256,
    root,
    dataPath: optionalInput("data"),
    candidate: optionalInput("candidate"),
    outDir: optionalInput("out") ?? "out/model",
    reporter,
    gitSha: process.env.GITHUB_SHA ?? null,
  });
  return 0;
});
