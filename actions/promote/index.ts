import * as core from "@actions/core";
import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { gitHubFromEnvironment } from "../../pipeline/promote/github-setup.js";
import { actionTokenKind } from "../../pipeline/promote/github.js";
import { promote } from "../../pipeline/promote/index.js";

await runAction(async (reporter) => {
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const { config } = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  const openPr = core.getBooleanInput("open-pr");
  const token = optionalInput("token");
  // The token travels in this process's environment only, masked before anything can log it.
  if (token) core.setSecret(token);
  const env = { ...process.env, PROMOTION_TOKEN: token, PROMOTION_TOKEN_KIND: actionTokenKind(token, optionalInput("default-token"), optionalInput("token-kind")) };
  const { token: resolved, github } = await gitHubFromEnvironment(root, { openPr, tokenEnv: token ? "PROMOTION_TOKEN" : undefined, remote: "origin" }, reporter, env);
  // The step reports version, branch and pull-request outputs and the summary itself.
  await promote({
    root,
    config,
    modelPath: core.getInput("model", { required: true }),
    validationReport: optionalInput("validation-report"),
    dataReport: optionalInput("data-report"),
    reporter,
    openPr,
    unvalidated: optionalInput("unvalidated") === "true",
    github,
    token: resolved,
  });
  return 0;
});
