import type { Command } from "commander";
import { relative } from "node:path";
import { loadConfig } from "../../pipeline/config/load.js";
import { runLoop, type RunLoopResult } from "../../pipeline/run.js";
import { action } from "../run-command.js";
import { currentGitSha } from "../git-sha.js";

interface RunFlags {
  config: string;
  data?: string;
  out: string;
  image: boolean;
  deploy: boolean;
  serve?: boolean;
  json?: boolean;
}

/** The closing lines people read: one row per stage, what came of it, and where the files are. */
function finalSummary(result: RunLoopResult, root: string, out: string): string[] {
  const rel = (p: string) => relative(root, p) || ".";
  const width = Math.max(...result.stages.map((s) => s.name.length));
  const lines = ["", "Summary"];
  for (const s of result.stages) {
    const mark = s.skipped ? "–" : s.exitCode === 0 ? "✔" : "✖";
    lines.push(`  ${mark} ${s.name.padEnd(width)}  ${s.skipped ? `skipped: ${s.skipped}` : `${s.seconds.toFixed(1).padStart(5)} s${s.exitCode ? `  (exit ${s.exitCode})` : ""}`}`);
  }
  const total = result.stages.reduce((t, s) => t + s.seconds, 0);
  lines.push("");
  const p = result.promotion;
  if (result.stoppedAt) lines.push(`✖ stopped at ${result.stoppedAt} (exit ${result.exitCode}) after ${total.toFixed(1)} s`);
  else if (p && !p.changed) lines.push(`✔ the whole loop passed in ${total.toFixed(1)} s: nothing to promote, the trained model is ${p.name}@v${p.sameAs}`);
  else lines.push(`✔ the whole loop passed in ${total.toFixed(1)} s`);
  lines.push(`  report:  ${rel(result.reportPath)} (open it in a browser)`);
  lines.push(`  summary: ${rel(result.summaryPath)}`);
  if (result.modelDir) lines.push(`  model:   ${rel(result.modelDir)}/model.json (report.md, metrics.json beside it)`);
  if (p && result.promotionWorkspace) {
    if (p.changed) {
      lines.push(`  promotion preview: ${rel(result.promotionWorkspace)}/models (${p.name} v${p.version}: what the pull request would change)`);
      lines.push(`  to open it for real: pipeline promote --model ${rel(result.modelDir!)} --validation-report ${out}/model-validation.json --data-report ${out}/data-validation.json --open-pr`);
    }
  }
  if (result.image) lines.push(`  image:   ${result.image.reference} (${result.image.digest.slice(0, 19)}…)`);
  if (result.deploy) lines.push(`  local service: ${result.deploy.result.outcome}${result.deploy.result.smoke ? `, smoke ${result.deploy.result.smoke.checks.filter((c) => c.passed).length}/${result.deploy.result.smoke.checks.length} checks passed` : ""}${result.service ? ` at ${result.service.url}` : ""}`);
  return lines;
}

/** Waits for Ctrl-C or SIGTERM, then stops the local service. */
function serveUntilSignal(service: { url: string; stop(): Promise<void> }, info: (m: string) => void): Promise<void> {
  info(`\nThe service keeps running: ${service.url}/dashboard (API ${service.url}/predict). Ctrl-C stops it.`);
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void service.stop().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** `pipeline run`: the whole loop locally (what `npm start` calls). */
export function register(program: Command): void {
  program
    .command("run")
    .description("Run the whole loop locally: validate, train, gate, promote into out/run/promotion, build the image, deploy it locally, smoke-test, notify, report")
    .option("--config <file>", "pipeline config", "config/pipeline.yaml")
    .option("--data <path>", "dataset (defaults to dataset.path in the config)")
    .option("--out <dir>", "output directory", "out/run")
    .option("--no-image", "do not build the image (the local target then runs the server as a process)")
    .option("--no-deploy", "stop after the promotion (and the image)")
    .option("--serve", "leave the local service running with its dashboard")
    .option("--json", "print the result as JSON on stdout")
    .action(
      action(async (ctx, opts: RunFlags) => {
        const loaded = await loadConfig(opts.config, ctx.root);
        const result = await runLoop({
          loaded,
          outDir: opts.out,
          dataPath: opts.data,
          reporter: ctx.reporter,
          gitSha: await currentGitSha(ctx.root),
          image: opts.image ? "auto" : "off",
          deploy: opts.deploy,
          keepServing: opts.serve === true,
          // The local service runs on the very CLI running this loop (compiled, or the sources under tsx).
          cliCommand: [process.execPath, ...process.execArgv, process.argv[1]!],
        });
        for (const line of finalSummary(result, ctx.root, opts.out)) ctx.reporter.info(line);
        if (opts.json) {
          const p = result.promotion;
          process.stdout.write(
            JSON.stringify({
              exitCode: result.exitCode,
              stoppedAt: result.stoppedAt,
              stages: result.stages,
              promotion: p ? { name: p.name, version: p.version, changed: p.changed, sameAs: p.sameAs } : null,
              image: result.image ? { reference: result.image.reference, digest: result.image.digest } : null,
              deploy: result.deploy ? { outcome: result.deploy.result.outcome, url: result.deploy.result.serviceUrl } : null,
              report: relative(ctx.root, result.reportPath),
            }) + "\n",
          );
        }
        if (result.service) await serveUntilSignal(result.service, (m) => ctx.reporter.info(m));
        return result.exitCode;
      }),
    );
}
