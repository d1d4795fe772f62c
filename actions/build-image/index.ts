import * as core from "@actions/core";
import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { UsageError } from "../../pipeline/core/errors.js";
import { buildImage } from "../../pipeline/image/build.js";
import { buildLineage } from "../../pipeline/image/lineage.js";
import { dockerEngineAvailable, storageFromEnv } from "../../pipeline/image/tools.js";
import { googleRegistryHosts, loginToRegistry, pushTags } from "../../pipeline/image/registry-login.js";
import { googleCredentials } from "../../pipeline/deploy/auth.js";

await runAction(async (reporter) => {
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const { config } = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  const engine = optionalInput("engine") ?? "auto";
  if (engine !== "auto" && engine !== "docker" && engine !== "buildah") throw new UsageError(`engine: expected auto, docker or buildah, got "${engine}"`);
  const cacheInput = optionalInput("cache");
  if (cacheInput !== undefined && cacheInput !== "true" && cacheInput !== "false") throw new UsageError(`cache: expected true, false or empty, got "${cacheInput}"`);
  const push = core.getBooleanInput("push");
  const given = (optionalInput("tags") ?? "").split(/[\n,]/).map((t) => t.trim()).filter(Boolean);
  const tags = given.length || !push ? given : pushTags(config, process.env.GITHUB_SHA);
  const hosts = push ? googleRegistryHosts(tags) : [];
  if (hosts.length) {
    const credentials = googleCredentials({ env: process.env, workloadIdentityProvider: optionalInput("workload-identity-provider"), serviceAccount: optionalInput("service-account"), reporter });
    const password = await credentials.accessToken();
    const loginEngine = engine === "auto" ? ((await dockerEngineAvailable()) ? "docker" : "buildah") : engine;
    for (const host of hosts) await loginToRegistry({ host, engine: loginEngine, password, reporter, storage: storageFromEnv() });
  }
  // The step reports image, digest, tags and engine outputs and the summary itself.
  await buildImage({
    root,
    model: optionalInput("model") ?? "production",
    modelName: config.model.name,
    tags,
    push,
    baseImage: optionalInput("base-image"),
    builderImage: optionalInput("builder-image"),
    engine,
    cache: cacheInput === undefined ? undefined : cacheInput === "true",
    lineage: await buildLineage(root),
    storage: storageFromEnv(),
    reporter,
  });
  return 0;
});
