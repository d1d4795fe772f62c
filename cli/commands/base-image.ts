import type { Command } from "commander";
import { buildBaseImage } from "../../pipeline/image/base-image.js";
import { storageFromEnv } from "../../pipeline/image/tools.js";
import { action } from "../run-command.js";

interface Options {
  tag?: string;
  node?: string;
  tzdata: boolean;
}

/** `pipeline base-image`: a Node base image from the local installation, for machines that cannot pull one. */
export function register(program: Command): void {
  program
    .command("base-image")
    .description("Build a Node base image from the local node binary and the libraries it links (buildah, scratch image), for offline image builds")
    .option("--tag <name>", "image name (default localhost/pipeline-node-base:<node major>)")
    .option("--node <path>", "node binary (default the one running this command)")
    .option("--tzdata", "also copy /usr/share/zoneinfo", false)
    .action(
      action(async ({ reporter }, options: Options) => {
        const result = await buildBaseImage({ tag: options.tag, node: options.node, tzdata: options.tzdata, storage: storageFromEnv(), reporter });
        reporter.output("image", result.reference);
        reporter.output("image-id", result.imageId);
        process.stdout.write(`${result.reference}\n`);
        return 0;
      }),
    );
}
