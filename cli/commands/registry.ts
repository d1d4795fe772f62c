import type { Command } from "commander";
import { GitClient } from "../../pipeline/promote/git.js";
import { checkRegistry } from "../../pipeline/registry/check.js";
import { formatMetric, formatTable, listModels, modelHistory, parseVersionRef, productionVersion, showVersion } from "../../pipeline/registry/query.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { GateFailure } from "../../pipeline/core/errors.js";
import { emptyRegistry, parseRegistry, readRegistry, REGISTRY_FILE } from "../../pipeline/registry/store.js";
import { recordDeploymentResults } from "../../pipeline/deploy/record.js";
import { action } from "../run-command.js";

const json = (value: unknown) => process.stdout.write(JSON.stringify(value, null, 2) + "\n");

/** `pipeline registry check|list|show|history`: thin shell over pipeline/registry. */
export function register(program: Command): void {
  const registry = program.command("registry").description("Inspect and check the model registry (models/registry.yaml).");

  registry
    .command("check")
    .description("Check the registry's invariants; exit 1 naming the rule a change breaks (CI runs this on every PR).")
    .option("--base <ref>", "git ref of the base branch: versions may only be added, existing ones change only tags and deployments")
    .option("--json", "print the result as JSON")
    .action(
      action(async (ctx, flags: { base?: string; json?: boolean }) => {
        const current = await readRegistry(ctx.root);
        let previous;
        if (flags.base !== undefined) {
          // Resolved to a commit first: an empty value is an error, and "--output=FILE" is a revision, never an option.
          const git = new GitClient(ctx.root);
          const commit = await git.resolveCommit(flags.base, "--base");
          const text = await git.show(commit, REGISTRY_FILE);
          previous = text === null ? emptyRegistry() : parseRegistry(text, `${flags.base}:${REGISTRY_FILE}`);
        }
        const result = await checkRegistry(ctx.root, current, { previous });
        if (flags.json) json(result);
        if (result.ok) {
          const versions = Object.values(current.models).reduce((n, m) => n + m.versions.length, 0);
          if (!flags.json) process.stdout.write(`${REGISTRY_FILE}: ok (${Object.keys(current.models).length} models, ${versions} versions${flags.base !== undefined ? `, only grows from ${flags.base}` : ""})\n`);
          return 0;
        }
        for (const p of result.problems) ctx.reporter.error(`[${p.rule}] ${p.message}`, { file: REGISTRY_FILE, title: `registry: ${p.rule}` });
        process.stderr.write(`${REGISTRY_FILE}: ${result.problems.length} invariant${result.problems.length === 1 ? "" : "s"} broken\n`);
        return 1;
      }),
    );

  registry
    .command("list")
    .description("List the registered models")
    .option("--json", "machine-readable output")
    .action(
      action(async (ctx, flags: { json?: boolean }) => {
        const rows = listModels(await readRegistry(ctx.root));
        if (flags.json) return void json(rows);
        if (!rows.length) return void process.stdout.write("no models registered yet\n");
        process.stdout.write(
          formatTable(
            ["model", "versions", "latest", "production", "macro_f1", "accuracy", "last deployed"],
            rows.map((r) => [r.name, r.versions, r.latest === null ? null : `v${r.latest}`, r.production === null ? null : `v${r.production}`, formatMetric(r.metrics.macro_f1), formatMetric(r.metrics.accuracy), r.last_deployed]),
          ),
        );
      }),
    );

  registry
    .command("show")
    .argument("<model>", "name or name@vN (without @vN: the production version, else the latest)")
    .description("Show one model version: lineage, metrics, tags, deployments")
    .option("--json", "machine-readable output")
    .action(
      action(async (ctx, spec: string, flags: { json?: boolean }) => {
        const { name, version: v } = showVersion(await readRegistry(ctx.root), parseVersionRef(spec));
        if (flags.json) return void json({ name, ...v });
        const lines = [
          `${name}@v${v.version}  [${v.tags.join(", ")}]`,
          "",
          formatTable(
            ["field", "value"],
            [
              ["created", v.created_at],
              ["artifact", `${v.artifact.path} (sha256 ${v.artifact.sha256.slice(0, 12)}…)`],
              ["data", `${v.data.path} (${v.data.rows} rows, sha256 ${v.data.sha256.slice(0, 12)}…)`],
              ["config sha256", `${v.config_sha256.slice(0, 12)}…`],
              ["git sha", v.git_sha],
              ["trainer", `${v.trainer.name} ${v.trainer.version}, candidate ${v.trainer.candidate}, seed ${v.trainer.seed}`],
            ],
          ),
          formatTable(["metric", "value"], Object.entries(v.metrics).map(([k, x]) => [k, formatMetric(x)])),
          v.deployments.length
            ? formatTable(["environment", "status", "revision", "time", "git sha"], v.deployments.map((d) => [d.environment, d.status, d.revision, d.time, d.git_sha.slice(0, 7)]))
            : "not deployed\n",
        ];
        process.stdout.write(lines.join("\n"));
      }),
    );

  registry
    .command("production")
    .description("The production version of the config's model (--github-output: model=… and version=… lines for $GITHUB_OUTPUT)")
    .option("--config <file>", "pipeline config", "config/pipeline.yaml")
    .option("--github-output", "print name=value lines")
    .action(
      action(async (ctx, flags: { config: string; githubOutput?: boolean }) => {
        const { config } = await loadConfig(flags.config, ctx.root);
        const name = config.model.name;
        const prod = productionVersion(await readRegistry(ctx.root), name);
        if (!prod) throw new GateFailure(`${REGISTRY_FILE}: ${name} has no production version: nothing to deploy`);
        process.stdout.write(flags.githubOutput ? `model=${name}\nversion=${prod.version}\nsha256=${prod.artifact.sha256}\n` : `${name}@v${prod.version}\n`);
      }),
    );

  registry
    .command("record-deployment")
    .description("Record deploy results (pipeline deploy --result, the deploy action's result) in models/registry.yaml, under the registry lock")
    .argument("<files...>", "deploy result JSON files")
    .action(
      action(async (ctx, files: string[]) => {
        const n = await recordDeploymentResults(ctx.root, files, ctx.reporter);
        process.stdout.write(`${n} deployment${n === 1 ? "" : "s"} recorded\n`);
      }),
    );

  registry
    .command("history")
    .argument("<model>", "model name")
    .description("Registrations and deployments of a model, oldest first")
    .option("--json", "machine-readable output")
    .action(
      action(async (ctx, name: string, flags: { json?: boolean }) => {
        const events = modelHistory(await readRegistry(ctx.root), parseVersionRef(name).name);
        if (flags.json) return void json(events);
        process.stdout.write(formatTable(["time", "version", "event", "detail"], events.map((e) => [e.time, `v${e.version}`, e.event, e.detail])));
      }),
    );
}
