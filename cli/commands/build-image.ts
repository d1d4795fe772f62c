import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import { UsageError } from "../../pipeline/core/errors.js";
import { buildImage, type Engine } from "../../pipeline/image/build.js";
import { buildLineage } from "../../pipeline/image/lineage.js";
import { storageFromEnv } from "../../pipeline/image/tools.js";
import { action } from "../run-command.js";

interface Options {
  model: string;
  config: string;
  tag: string[];
  baseImage?: string;
  builderImage?: string;
  push: boolean;
  engine: string;
  cache?: boolean;
  json: boolean;
}

/** `pipeline build-image`: thin shell over buildImage. Prints the reference and digest (JSON with --json) on stdout. */
export function register(program: Command): void {
  program
    .command("build-image")
    .description("Build the prediction service image with the model baked in (docker buildx when a Docker engine answers, else buildah); --push to a registry")
    .option("--model <ref>", 'model to bake in: "production", name@vN, or a model.json path', "production")
    .option("--tag <name>", "image name, repeatable (default localhost/<model>:v<N>)", (v: string, all: string[]) => [...all, v], [] as string[])
    .option("--base-image <image>", "runtime base image (BASE_IMAGE; default node:24-slim; offline: localhost/pipeline-node-base:<major> from `pipeline base-image`; env PIPELINE_BASE_IMAGE)")
    .option("--builder-image <image>", "image the build stage compiles in (BUILDER_IMAGE; default the base image)")
    .option("--push", "push every tag (registries on 127.0.0.1/localhost are plain HTTP)", false)
    .option("--engine <engine>", "auto, docker or buildah", "auto")
    .option("--cache", "use the layer cache (default with docker; with buildah on vfs it is slower, see the README)")
    .option("--no-cache", "build without the layer cache (default with buildah)")
    .option("--config <file>", "pipeline configuration (for the model name)", DEFAULT_CONFIG_PATH)
    .option("--json", "print the result as JSON", false)
    .action(
      action(async ({ reporter, root }, options: Options) => {
        if (!["auto", "docker", "buildah"].includes(options.engine)) throw new UsageError(`--engine: expected auto, docker or buildah, got "${options.engine}"`);
        const { config } = await loadConfig(options.config, root);
        const result = await buildImage({
          root,
          model: options.model,
          modelName: config.model.name,
          tags: options.tag,
          baseImage: options.baseImage ?? (process.env.PIPELINE_BASE_IMAGE || undefined),
          builderImage: options.builderImage,
          push: options.push,
          engine: options.engine as Engine | "auto",
          cache: options.cache,
          lineage: await buildLineage(root),
          storage: storageFromEnv(),
          reporter,
        });
        process.stdout.write(options.json ? JSON.stringify(result, null, 2) + "\n" : `${result.reference}\n${result.digest}\n`);
        return 0;
      }),
    );
}
