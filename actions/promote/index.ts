import * as core from "@actions/core";
import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { gitHubFromEnvironment } from "../../pipeline/promote/github-setup.js";
import { promote } from "../../pipeline/promote/index.js";

await runAction(async (reporter) => {
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const { config } = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  const openPr = core.getBooleanInput("open-pr");
  const token = optionalInput("token");
  // The token travels in this process's environment only, masked before anything can log it.
  if (token) core.setSecret(token);
  const env = { ...process.env, PROMOTION_TOKEN: token, PROMOTION_TOKEN_KIND: optionalInput("token-kind") };
  const { token: resolved, github } = await gitHubFromEnvironment(root, { openPr, tokenEnv: token ? "PROMOTION_TOKEN" : undefined, remote: "origin" }, reporter, env);
  const result = await promote({
    root,
    config,
    modelPath: core.getInput("model", { required: true }),
    validationReport: optionalInput("validation-report"),
    dataReport: optionalInput("data-report"),
    reporter,
    openPr,
    github,
    token: resolved,
  });
  reporter.output("version", String(result.version));
  if (result.branch) reporter.output("branch", result.branch);
  if (result.pullRequest) {
    reporter.output("pull-request-url", result.pullRequest.url);
    reporter.output("pull-request-number", String(result.pullRequest.number));
  }
  return 0;
});
