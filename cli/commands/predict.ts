import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { writeFileAtomic } from "../../pipeline/core/atomic.js";
import { InputError } from "../../pipeline/core/errors.js";
import { DatasetSchema, LabelBinningSchema } from "../../pipeline/config/schema.js";
import { readDataset } from "../../pipeline/data/csv.js";
import type { ModelArtifact } from "../../pipeline/model/artifact-schema.js";
import { loadModel } from "../../pipeline/model/load.js";
import { predict, predictTable, type Prediction } from "../../pipeline/model/predict.js";
import { action } from "../run-command.js";

interface PredictFlags {
  model: string;
  input: string;
  out?: string;
}

const RecordsSchema = z.array(z.record(z.string(), z.union([z.number(), z.string(), z.null()])));

async function readJsonRecords(path: string): Promise<z.infer<typeof RecordsSchema>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new InputError(`${path}: cannot read JSON records (${(error as Error).message})`);
  }
  const records = Array.isArray(raw) ? raw : (raw as { records?: unknown })?.records;
  const parsed = RecordsSchema.safeParse(records);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(`${path}: expected a list of records (objects of numbers, strings or null); at ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data;
}

/** A CSV is read with the model's own feature list as its schema (other columns are ignored). */
async function predictCsv(model: ModelArtifact, path: string): Promise<Prediction[]> {
  const columns: Record<string, unknown> = {};
  for (const f of model.features) columns[f.name] = f.type === "number" ? { type: "number" } : { type: "category" };
  const binning = LabelBinningSchema.parse(model.label.binning);
  columns[model.label.column] = binning.kind === "categorical" ? { type: "category" } : { type: "number" };
  const dataset = DatasetSchema.parse({ path, columns, label: { column: model.label.column, binning }, features: model.features.map((f) => f.name) });
  const { table } = await readDataset(path, dataset);
  const out = predictTable(model, table);
  const k = model.classes.length;
  return out.labels.map((label, i) => ({ label, probabilities: Object.fromEntries(model.classes.map((c, j) => [c, out.proba[i * k + j]!])) }));
}

/** `pipeline predict`: standalone prediction from a model.json (no training code involved). */
export function register(program: Command): void {
  program
    .command("predict")
    .description("Predict with a model.json for records in a JSON file (a list of objects) or a CSV file.")
    .requiredOption("--model <file>", "model artifact (model.json)")
    .requiredOption("--input <file>", "records: .json (list of objects) or .csv / .csv.gz")
    .option("--out <file>", "write the predictions here (JSON) instead of stdout")
    .action(
      action(async (ctx, flags: PredictFlags) => {
        const model = await loadModel(resolve(ctx.root, flags.model));
        const input = resolve(ctx.root, flags.input);
        const predictions = /\.json$/i.test(input) ? predict(model, await readJsonRecords(input)) : await predictCsv(model, input);
        const text = JSON.stringify(predictions) + "\n";
        if (flags.out) await writeFileAtomic(resolve(ctx.root, flags.out), text);
        else process.stdout.write(text);
        ctx.reporter.info(`predict: ${predictions.length} rows with ${model.name} (${model.lineage.candidate})`);
        return 0;
      }),
    );
}
