#!/usr/bin/env node
import { Command } from "commander";

type Register = (program: Command) => void;
type Loader = () => Promise<{ register: Register }>;

/**
 * Each command's module, loaded only when it runs: `pipeline serve` (what an image runs) then never
 * loads the trainer, the deploy client or Octokit, which kept several MB resident for nothing.
 * Help and unknown commands load them all.
 */
const COMMANDS: Record<string, Loader> = {
  generate: () => import("./commands/generate.js"),
  init: () => import("./commands/init.js"),
  "validate-data": () => import("./commands/validate-data.js"),
  train: () => import("./commands/train.js"),
  predict: () => import("./commands/predict.js"),
  "validate-model": () => import("./commands/validate-model.js"),
  promote: () => import("./commands/promote.js"),
  registry: () => import("./commands/registry.js"),
  rollback: () => import("./commands/rollback.js"),
  run: () => import("./commands/run.js"),
  candidates: () => import("./commands/candidates.js"),
  notify: () => import("./commands/notify.js"),
  "train-decision": () => import("./commands/train-decision.js"),
  "build-image": () => import("./commands/build-image.js"),
  "base-image": () => import("./commands/base-image.js"),
  serve: () => import("./commands/serve.js"),
  deploy: () => import("./commands/deploy.js"),
};
// candidates.ts also defines select-best.
COMMANDS["select-best"] = COMMANDS.candidates!;

const program = new Command("pipeline")
  .description("GitOps pipeline for machine learning: validate data, train, gate, promote, deploy.")
  .showHelpAfterError()
  .option("--debug", "print the stack trace of an internal error (also PIPELINE_DEBUG=1)")
  .hook("preAction", (cmd) => {
    if (cmd.opts().debug) process.env.PIPELINE_DEBUG = "1";
  })
  // Usage errors exit 2, like every other bad-input error of the pipeline.
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

const named = process.argv.slice(2).find((a) => !a.startsWith("-"));
const loaders = named !== undefined && Object.hasOwn(COMMANDS, named) ? [COMMANDS[named]!] : [...new Set(Object.values(COMMANDS))];
for (const load of loaders) (await load()).register(program);

await program.parseAsync(process.argv);
