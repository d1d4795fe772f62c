import * as core from "@actions/core";
import { resolve } from "node:path";
import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { UsageError } from "../../pipeline/core/errors.js";
import { deploy, removePreview } from "../../pipeline/deploy/index.js";
import { succeeded } from "../../pipeline/deploy/result.js";

// Inputs → pipeline/deploy → outputs; the step writes the job summary and its outputs itself.
await runAction(async (reporter) => {
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const { config } = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  const environment = core.getInput("environment", { required: true });
  const auth = { workloadIdentityProvider: optionalInput("workload-identity-provider"), serviceAccount: optionalInput("service-account") };
  const tagToRemove = optionalInput("remove-preview");
  if (tagToRemove) {
    await removePreview({ config, environment, tag: tagToRemove, reporter, ...auth });
    return 0;
  }
  const image = optionalInput("image");
  if (!image) throw new UsageError("input image is required (REPO@sha256:..., the build-image output)");
  const sha = process.env.GITHUB_SHA;
  const result = optionalInput("result");
  const out = await deploy({
    config,
    root,
    environment,
    image,
    model: optionalInput("model") ?? "production",
    previewTag: optionalInput("preview"),
    gitSha: sha && /^[0-9a-f]{40}$/.test(sha) ? sha : null,
    record: optionalInput("record") === "true",
    resultPath: result ? resolve(root, result) : undefined,
    reporter,
    ...auth,
  });
  return succeeded(out.result) ? 0 : 1;
});
