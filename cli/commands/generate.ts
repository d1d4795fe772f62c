import { resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../../pipeline/core/errors.js";
import { DRIFT_MODES, isCalendarDate, type DriftMode } from "../../pipeline/data/generator.js";
import { generateDataset } from "../../pipeline/data/manifest.js";
import { action } from "../run-command.js";

interface GenerateFlags {
  rows: string;
  seed: string;
  drift: string;
  out: string;
  manifest?: string;
  startDate?: string;
  buildings?: string;
}

function integerFlag(name: string, value: string, min: number): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${name}: expected ${min > 0 ? "a positive" : "a non-negative"} integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `pipeline generate`: synthetic thermal comfort records (and a manifest) from a seed. */
export function register(program: Command): void {
  program
    .command("generate")
    .description("Generate a synthetic thermal comfort dataset (ISO 7730 PMV-based), deterministic from the seed.")
    .option("--rows <n>", "number of rows", "20000")
    .option("--seed <n>", "random seed (non-negative integer)", "42")
    .option("--drift <mode>", `distribution shift: ${DRIFT_MODES.join(", ")}`, "none")
    .requiredOption("--out <path>", "CSV file to write")
    .option("--manifest <path>", "also write a manifest (path, sha256, rows, generator) to this JSON file")
    .option("--start-date <date>", "first day of the survey period, YYYY-MM-DD", "2021-01-01")
    .option("--buildings <n>", "number of buildings (default: one per 200 rows, at least 10)")
    .action(
      action(async (ctx, flags: GenerateFlags) => {
        const rows = integerFlag("--rows", flags.rows, 1);
        const seed = integerFlag("--seed", flags.seed, 0);
        if (!(DRIFT_MODES as readonly string[]).includes(flags.drift)) {
          throw new UsageError(`--drift: expected one of ${DRIFT_MODES.join(", ")}, got ${JSON.stringify(flags.drift)}`);
        }
        const startDate = flags.startDate ?? "2021-01-01";
        if (!isCalendarDate(startDate)) {
          throw new UsageError(`--start-date: expected a date YYYY-MM-DD, got ${JSON.stringify(startDate)}`);
        }
        const buildings = flags.buildings === undefined ? undefined : integerFlag("--buildings", flags.buildings, 1);
        const out = resolve(ctx.root, flags.out);
        const manifestFile = flags.manifest === undefined ? undefined : resolve(ctx.root, flags.manifest);
        const started = Date.now();
        const result = await generateDataset({
          out,
          root: ctx.root,
          manifestFile,
          options: { rows, seed, drift: flags.drift as DriftMode, startDate, buildings },
        });
        ctx.reporter.info(`wrote ${result.rows} rows to ${result.manifest.path} in ${Date.now() - started} ms (sha256 ${result.sha256})`);
        if (manifestFile) ctx.reporter.info(`wrote manifest ${manifestFile}`);
        ctx.reporter.output("path", out);
        ctx.reporter.output("sha256", result.sha256);
        ctx.reporter.output("rows", String(result.rows));
        return 0;
      }),
    );
}
