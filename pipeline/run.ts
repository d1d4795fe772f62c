import { cp, mkdir, readFile, rm, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import type { LoadedConfig } from "./config/load.js";
import { writeFileAtomic } from "./core/atomic.js";
import { PipelineError } from "./core/errors.js";
import { sha256Hex } from "./core/hash.js";
import type { Reporter } from "./core/reporter.js";
import { deploy, type DeployOutput } from "./deploy/index.js";
import { buildBaseImage, defaultBaseTag } from "./image/base-image.js";
import { buildImage, type BuildImageResult } from "./image/build.js";
import { buildLineage } from "./image/lineage.js";
import { buildah, dockerEngineAvailable, storageFromEnv, toolAvailable } from "./image/tools.js";
import { buildNotificationInput, notify } from "./notify/index.js";
import { promote, type PromoteResult } from "./promote/index.js";
import { checkRegistry } from "./registry/check.js";
import { readRegistry } from "./registry/store.js";
import { writeRunReport, type RunReportInput } from "./report/html.js";
import { train } from "./train/index.js";
import { MetricsReportSchema } from "./train/report.js";
import { validateDataStep } from "./validate-data/run.js";
import { validateModel, writeModelValidationOutputs, renderModelValidationMarkdown } from "./validate-model/index.js";

export interface RunLoopInput {
  loaded: LoadedConfig;
  /** Where every output of the run goes (reports, the trained model, the promotion workspace). */
  outDir: string;
  dataPath?: string;
  reporter: Reporter;
  gitSha?: string | null;
  now?: () => Date;
  /** Build the image when buildah or a Docker engine is present ("auto", the default), or never ("off"). */
  image?: "auto" | "off";
  /** Deploy to the `local` environment and smoke-test it (default true). */
  deploy?: boolean;
  /** Leave the local service running (returned in `service`); the caller stops it. */
  keepServing?: boolean;
  /** How to start `pipeline serve` when the local target runs the server as a process. */
  cliCommand?: string[];
  /** SLACK_WEBHOOK_URL and the GitHub variables for the notification; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export type StageName = "validate-data" | "train" | "validate-model" | "promote" | "build-image" | "deploy-local" | "notify";

export interface StageRecord {
  name: StageName;
  exitCode: number;
  seconds: number;
  output: string;
  /** Why the stage did not run (e.g. no buildah or docker). */
  skipped?: string;
}

export interface RunLoopResult {
  exitCode: number;
  stoppedAt: StageName | null;
  stages: StageRecord[];
  modelDir: string | null;
  /** The workspace whose models/ shows what the promotion pull request would change. */
  promotionWorkspace: string | null;
  promotion: PromoteResult | null;
  image: BuildImageResult | null;
  deploy: DeployOutput | null;
  /** The running local service when `keepServing` was asked and the deploy passed. */
  service: { url: string; stop(): Promise<void> } | null;
  summaryPath: string;
  reportPath: string;
}

/** Why the image cannot be built here, or null when an engine is present. */
async function imageEngineMissing(): Promise<string | null> {
  if (await dockerEngineAvailable()) return null;
  if (await toolAvailable("buildah")) return null;
  return "neither buildah nor a Docker engine is available (install buildah, or run with --no-image)";
}

/**
 * buildah has no base image to pull here, so the local loop builds one from this machine's own node
 * (pipeline base-image) the first time and reuses it after.
 */
async function localBaseImage(reporter: Reporter): Promise<string | undefined> {
  if (await dockerEngineAvailable()) return undefined;
  const tag = defaultBaseTag(process.version);
  const storage = storageFromEnv();
  const present = await buildah(["inspect", "--type", "image", tag], storage).then(() => true, () => false);
  if (!present) {
    reporter.info(`  building the base image ${tag} from the local node (once)`);
    await buildBaseImage({ tag, storage, reporter });
  }
  return tag;
}

/**
 * The promotion workspace persists between runs while models/ is unchanged, so a second run of the
 * same model finds the version the first one registered there and ends with "nothing to promote".
 * When models/ changed (a merge, a pull), the workspace is copied afresh.
 */
async function promotionWorkspace(root: string, out: string): Promise<string> {
  const workspace = join(out, "promotion");
  const models = join(root, "models");
  const registryText = await readFile(join(models, "registry.yaml")).catch(() => Buffer.from(""));
  const base = sha256Hex(registryText);
  const marker = join(workspace, ".models-base-sha256");
  const previous = await readFile(marker, "utf8").catch(() => null);
  if (previous?.trim() === base) return workspace;
  await rm(workspace, { recursive: true, force: true });
  await mkdir(workspace, { recursive: true });
  if (await stat(models).then((s) => s.isDirectory(), () => false)) await cp(models, join(workspace, "models"), { recursive: true });
  // The local service reads the serving section of the config from its working directory.
  if (await stat(join(root, "config")).then((s) => s.isDirectory(), () => false)) await cp(join(root, "config"), join(workspace, "config"), { recursive: true });
  await writeFileAtomic(marker, base + "\n");
  return workspace;
}

/**
 * The whole loop on one machine: validate the data, train every candidate and keep the best, gate
 * it against the production model, promote it into a copy of models/ (what the promotion pull
 * request would change; tracked files are never edited), build the image when an engine is here,
 * deploy it to the local target and smoke-test it, notify, and write the HTML run report.
 */
export async function runLoop(input: RunLoopInput): Promise<RunLoopResult> {
  const { loaded, reporter } = input;
  const env = input.env ?? process.env;
  const root = loaded.root;
  const config = loaded.config;
  const out = resolve(root, input.outDir);
  await mkdir(out, { recursive: true });
  const stages: StageRecord[] = [];
  const summaries: string[] = [];
  const report: RunReportInput = { title: `${config.model.name}: pipeline run`, generatedAt: (input.now?.() ?? new Date()).toISOString() };
  let promotion: PromoteResult | null = null;
  let image: BuildImageResult | null = null;
  let deployed: DeployOutput | null = null;
  let workspace: string | null = null;
  let modelDir: string | null = null;

  /**
   * Runs one stage with its timing. The delivery stages (image, deploy) `contain` their failures: a
   * bad image or a failed smoke test ends the loop with its exit code, a notification and a report,
   * instead of an exception that would skip both.
   */
  const timeStage = async <T>(name: StageName, output: string, body: () => Promise<{ code: number; value: T }>, contain: boolean): Promise<{ code: number; value: T | null }> => {
    reporter.info(`\n▶ ${name}`);
    const started = performance.now();
    let outcome: { code: number; value: T | null };
    try {
      outcome = await body();
    } catch (error) {
      if (!contain || !(error instanceof PipelineError)) throw error;
      reporter.progressEnd?.();
      reporter.error(`${name}: ${error.message}`);
      outcome = { code: error.exitCode, value: null };
    }
    const { code, value } = outcome;
    const seconds = (performance.now() - started) / 1000;
    stages.push({ name, exitCode: code, seconds, output: relative(root, output) || "." });
    reporter.info(`${code === 0 ? "✔" : "✖"} ${name} (${seconds.toFixed(1)} s) → ${relative(root, output)}`);
    return { code, value };
  };
  const time = <T>(name: StageName, output: string, body: () => Promise<{ code: number; value: T }>) => timeStage(name, output, body, false) as Promise<{ code: number; value: T }>;
  const contained = <T>(name: StageName, output: string, body: () => Promise<{ code: number; value: T }>) => timeStage(name, output, body, true);
  const skip = (name: StageName, why: string) => {
    stages.push({ name, exitCode: 0, seconds: 0, output: "-", skipped: why });
    reporter.info(`\n▷ ${name} skipped: ${why}`);
  };

  const finish = async (stoppedAt: StageName | null, exitCode: number): Promise<RunLoopResult> => {
    // Every run ends with a notification (console without a webhook) and a report, also a failed one.
    await time("notify", join(out, "notification.txt"), async () => {
      const status = exitCode !== 0 ? "failure" : promotion && !promotion.changed ? "nothing_to_promote" : "success";
      const reason =
        exitCode !== 0
          ? `stopped at ${stoppedAt ?? "?"}${deployed && deployed.result.reason ? `: ${deployed.result.reason}` : ""}`
          : promotion && !promotion.changed
            ? `the trained model is ${promotion.name}@v${promotion.sameAs}: nothing to promote`
            : undefined;
      const message = await buildNotificationInput({
        request: {
          status,
          stage: "run",
          version: promotion?.version,
          metricsPath: modelDir ? join(modelDir, "metrics.json") : undefined,
          environment: deployed ? "local" : undefined,
          revision: deployed?.result.revision,
          serviceUrl: deployed?.result.serviceUrl,
          reason,
        },
        config,
        root: workspace ?? root,
        env,
        reporter,
      });
      const lines: string[] = [];
      await notify({ input: message, config, reporter, webhookUrl: env[config.notifications.slack?.webhook_env ?? "SLACK_WEBHOOK_URL"], console: (t) => lines.push(t) });
      for (const l of lines) reporter.info(l.replace(/\n$/, ""));
      await writeFileAtomic(join(out, "notification.txt"), lines.join("\n") + (lines.length ? "\n" : ""));
      return { code: 0, value: null };
    });

    const summaryPath = join(out, "summary.md");
    const cell = (s: StageRecord) => (s.skipped ? `skipped: ${s.skipped}` : s.exitCode === 0 ? "passed" : `failed (exit ${s.exitCode})`);
    const table = ["| stage | result | seconds | output |", "|---|---|---:|---|", ...stages.map((s) => `| ${s.name} | ${cell(s)} | ${s.seconds.toFixed(1)} | \`${s.output}\` |`)];
    await writeFileAtomic(summaryPath, [`# Pipeline run`, "", ...table, "", ...summaries].join("\n") + "\n");
    const reportPath = join(out, "report.html");
    report.stages = stages.map((s) => ({ name: s.name, exitCode: s.exitCode, seconds: s.seconds, output: s.output, skipped: s.skipped }));
    report.stoppedAt = stoppedAt;
    await writeRunReport(reportPath, report);
    const service = input.keepServing && deployed?.local && deployed.result.outcome === "deployed" ? { url: deployed.result.serviceUrl, stop: deployed.local.stop } : null;
    if (!service && deployed?.local) await deployed.local.stop();
    return { exitCode, stoppedAt, stages, modelDir, promotionWorkspace: workspace, promotion, image, deploy: deployed, service, summaryPath, reportPath };
  };

  // 1. Data validation, with drift against the production model's reference profile when there is one.
  const dataReportPath = join(out, "data-validation.json");
  const data = await time("validate-data", dataReportPath, async () => {
    const r = await validateDataStep({ loaded, dataPath: input.dataPath, reference: "production", outPath: dataReportPath, summaryPath: join(out, "data-validation.md"), reporter });
    summaries.push(r.markdown);
    report.dataValidation = r.report;
    return { code: r.exitCode, value: r };
  });
  if (data.code !== 0) return finish("validate-data", data.code);

  // 2. Train every candidate; the step keeps the best by cross-validated selection metric.
  modelDir = join(out, "model");
  const trained = await time("train", modelDir, async () => {
    const r = await train({ config, configSha256: loaded.sha256, root, dataPath: input.dataPath, outDir: modelDir!, reporter, gitSha: input.gitSha ?? null, now: input.now });
    return { code: 0, value: r };
  });
  reporter.info(`  best candidate: ${trained.value.candidate}`);
  const metricsJson = MetricsReportSchema.safeParse(JSON.parse(await readFile(join(modelDir, "metrics.json"), "utf8")));
  if (metricsJson.success) report.training = metricsJson.data;
  report.lineage = JSON.parse(await readFile(trained.value.paths.model, "utf8")).lineage;

  // 3. Gate the challenger against the production model on the same held-out rows.
  const modelReportPath = join(out, "model-validation.json");
  const gated = await time("validate-model", modelReportPath, async () => {
    const r = await validateModel({ config, root, modelPath: trained.value.paths.model, champion: "production", dataPath: input.dataPath, reporter, now: input.now });
    await writeModelValidationOutputs(r, { out: modelReportPath, summary: join(out, "model-validation.md") });
    summaries.push(renderModelValidationMarkdown(r));
    report.modelValidation = r;
    return { code: r.passed ? 0 : 1, value: r };
  });
  if (gated.code !== 0) return finish("validate-model", gated.code);

  // 4. Promote into the workspace copy of models/ (what the pull request would change).
  workspace = await promotionWorkspace(root, out);
  const promoted = await time("promote", join(workspace, "models"), async () => {
    const r = await promote({ root: workspace!, config, modelPath: modelDir!, validationReport: modelReportPath, dataReport: dataReportPath, reporter, openPr: false, clock: input.now });
    const check = await checkRegistry(workspace!, await readRegistry(workspace!));
    if (!check.ok) for (const p of check.problems) reporter.error(`registry check: ${p.message}`);
    if (r.changed) reporter.info(`  ${r.name} v${r.version} registered${r.validated ? " as validated" : ""}${r.replaced ? `; the pull request would archive v${r.replaced}` : ""}`);
    else reporter.info(`  nothing to promote: the trained model is ${r.name}@v${r.sameAs}`);
    return { code: check.ok ? 0 : 1, value: r };
  });
  promotion = promoted.value;
  report.promotion = promotion;
  if (promoted.code !== 0) return finish("promote", promoted.code);
  const modelRef = `${promotion.name}@v${promotion.version}`;

  // 5. The image, with the promoted version baked in, when an engine is present.
  const missing = input.image === "off" ? "turned off (--no-image)" : await imageEngineMissing();
  if (missing) {
    skip("build-image", missing);
    report.image = { skipped: missing };
  } else {
    const built = await contained("build-image", join(root, "out/image"), async () => {
      const baseImage = await localBaseImage(reporter);
      const r = await buildImage({
        root,
        registryRoot: workspace!,
        model: modelRef,
        modelName: config.model.name,
        baseImage,
        lineage: await buildLineage(root),
        storage: storageFromEnv(),
        reporter,
        onLog: (line) => {
          const step = /^STEP (\d+)\/(\d+)/.exec(line);
          if (step) reporter.progress?.({ label: "  build image", done: Number(step[1]), total: Number(step[2]), unit: "steps" });
        },
      });
      reporter.progressEnd?.();
      reporter.info(`  ${r.reference} (${r.digest.slice(0, 19)}…, ${r.engine}, ${r.seconds.toFixed(0)} s)`);
      return { code: 0, value: r };
    });
    if (!built.value) return finish("build-image", built.code);
    image = built.value;
    report.image = { reference: image.reference, digest: image.digest, engine: image.engine, seconds: image.seconds, tags: image.tags };
  }

  // 6. Deploy to the local target (the image through buildah, else the server as a process) and smoke-test it.
  if (input.deploy === false) {
    skip("deploy-local", "turned off (--no-deploy)");
    report.deploy = { skipped: "turned off (--no-deploy)" };
  } else {
    const local = await contained("deploy-local", join(out, "deploy-local.json"), async () => {
      const r = await deploy({ config, root: workspace!, environment: "local", image: image?.reference, model: modelRef, gitSha: input.gitSha ?? null, resultPath: join(out, "deploy-local.json"), reporter, env, cliCommand: input.cliCommand });
      if (r.result.smoke) for (const c of r.result.smoke.checks) reporter.info(`  ${c.passed ? "✔" : "✖"} ${c.name}: ${c.detail}`);
      return { code: r.result.outcome === "deployed" ? 0 : 1, value: r };
    });
    deployed = local.value;
    if (deployed) report.deploy = deployed.result;
    if (local.code !== 0) return finish("deploy-local", local.code);
  }
  return finish(null, 0);
}
