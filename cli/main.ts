#!/usr/bin/env node
import { Command } from "commander";
import { register as registerGenerate } from "./commands/generate.js";
import { register as registerInit } from "./commands/init.js";
import { register as registerValidateData } from "./commands/validate-data.js";
import { register as registerTrain } from "./commands/train.js";
import { register as registerPredict } from "./commands/predict.js";
import { register as registerValidateModel } from "./commands/validate-model.js";
import { register as registerPromote } from "./commands/promote.js";
import { register as registerRegistry } from "./commands/registry.js";
import { register as registerRollback } from "./commands/rollback.js";
import { register as registerRun } from "./commands/run.js";
import { register as registerCandidates } from "./commands/candidates.js";
import { register as registerNotify } from "./commands/notify.js";
import { register as registerTrainDecision } from "./commands/train-decision.js";
import { register as registerBuildImage } from "./commands/build-image.js";
import { register as registerBaseImage } from "./commands/base-image.js";
import { register as registerServe } from "./commands/serve.js";
import { register as registerDeploy } from "./commands/deploy.js";

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

for (const register of [registerGenerate, registerInit, registerValidateData, registerTrain, registerPredict, registerValidateModel, registerPromote, registerRegistry, registerRollback, registerRun, registerCandidates, registerNotify, registerTrainDecision, registerBuildImage, registerBaseImage, registerServe, registerDeploy]) {
  register(program);
}

await program.parseAsync(process.argv);
