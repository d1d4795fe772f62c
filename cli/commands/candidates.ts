import type { Command } from "commander";
import { relative } from "node:path";
import { loadConfig } from "../../pipeline/config/load.js";
import { UsageError } from "../../pipeline/core/errors.js";
import { selectBestCandidate } from "../../pipeline/train/select-best.js";
import { action } from "../run-command.js";

/** `pipeline candidates` and `pipeline select-best`: glue for the per-candidate training matrix. */
export function register(program: Command): void {
  program
    .command("candidates")
    .description("List the training candidates of the config (--json: a JSON array for a workflow matrix)")
    .option("--config <file>", "pipeline config", "config/pipeline.yaml")
    .option("--json", "print a JSON array of names")
    .option("--only <names>", "comma-separated subset (empty: all); an unknown name is an error")
    .action(
      action(async (ctx, opts: { config: string; json?: boolean; only?: string }) => {
        const { config } = await loadConfig(opts.config, ctx.root);
        const all = config.training.candidates.map((c) => c.name);
        const wanted = (opts.only ?? "").split(",").map((s) => s.trim()).filter(Boolean);
        const unknown = wanted.filter((n) => !all.includes(n));
        if (unknown.length) throw new UsageError(`--only: no candidate named ${unknown.map((n) => `"${n}"`).join(", ")} in ${opts.config} (known: ${all.join(", ")})`);
        const names = wanted.length ? all.filter((n) => wanted.includes(n)) : all;
        process.stdout.write(opts.json ? JSON.stringify(names) + "\n" : config.training.candidates.filter((c) => names.includes(c.name)).map((c) => `${c.name}\t${c.algorithm}`).join("\n") + "\n");
      }),
    );
  program
    .command("select-best")
    .description("Print the directory of the best training output under DIR (by its cross-validated selection metric)")
    .argument("<dir>", "folder holding one training output per candidate")
    .action(
      action(async (ctx, dir: string) => {
        const { best, all } = await selectBestCandidate(dir);
        for (const c of all) ctx.reporter.info(`${c === best ? "→" : " "} ${c.candidate}: cv ${c.metric} ${c.cvMean.toFixed(4)} (${relative(ctx.root, c.dir)})`);
        process.stdout.write(best.dir + "\n");
      }),
    );
}
