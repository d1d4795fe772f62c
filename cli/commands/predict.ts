import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { writeFileAtomic } from "../../pipeline/core/atomic.js";
import { InputError } from "../../pipeline/core/errors.js";
import type { Reporter } from "../../pipeline/core/reporter.js";
import type { DatasetConfig } from "../../pipeline/config/schema.js";
import { readDataset } from "../../pipeline/data/csv.js";
import { cellText } from "../../pipeline/data/table.js";
import type { ModelArtifact } from "../../pipeline/model/artifact-schema.js";
import type { FieldProblem } from "../../pipeline/model/input-contract.js";
import { loadModel } from "../../pipeline/model/load.js";
import { compilePredictor, type RecordPrediction } from "../../pipeline/model/predictor.js";
import { action } from "../run-command.js";

interface PredictFlags {
  model: string;
  input: string;
  out?: string;
}

/** One answer per input record; `label`/`probabilities` are null for a CSV row the contract refused. */
export interface PredictionLine {
  row?: number;
  label: string | null;
  probabilities: Record<string, number> | null;
  warnings: FieldProblem[];
  errors?: FieldProblem[];
}

async function readJsonRecords(path: string): Promise<unknown[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new InputError(`${path}: cannot read JSON records (${(error as Error).message})`);
  }
  const records = Array.isArray(raw) ? raw : typeof raw === "object" && raw !== null ? (raw as { records?: unknown }).records : undefined;
  if (!Array.isArray(records)) throw new InputError(`${path}: expected a list of records (a JSON array of objects, or {"records": [...]})`);
  return records;
}

function line(model: ModelArtifact, p: RecordPrediction): Pick<PredictionLine, "label" | "probabilities"> {
  if (!p.probabilities) return { label: null, probabilities: null };
  const probabilities: Record<string, number> = {};
  model.classes.forEach((c, i) => (probabilities[c] = p.probabilities![i]!));
  return { label: model.classes[p.classIndex]!, probabilities };
}

/**
 * JSON records: all or nothing. A record with an error (missing required feature, text in a number
 * field, a value the policy refuses) stops the command with exit 2 and every error named by record
 * and field; warnings (imputed values, unknown fields) go to stderr and into each answer.
 */
export function predictJson(model: ModelArtifact, records: unknown[], file: string, reporter: Reporter): PredictionLine[] {
  const predictor = compilePredictor(model);
  const results = records.map((r) => predictor.predictRecord(r, { numericText: "warn" }));
  const failed = results.flatMap((r, i) => r.checked.errors.map((e) => `record ${i + 1}: ${e.message}`));
  if (failed.length > 0) {
    const more = failed.length > 20 ? `\n  … and ${failed.length - 20} more` : "";
    throw new InputError(`${file}: ${failed.length} problem${failed.length > 1 ? "s" : ""} in the records; nothing predicted\n  ${failed.slice(0, 20).join("\n  ")}${more}`);
  }
  results.forEach((r, i) => r.checked.warnings.forEach((w) => reporter.warning(`${file}: record ${i + 1}: ${w.message}`)));
  return results.map((r) => ({ ...line(model, r), warnings: r.checked.warnings }));
}

/**
 * A CSV is read with the model's features as its columns (their aliases apply; the label and any
 * other column are not needed). Cells are read as text and go through the contract like JSON
 * values, so a CSV row and a served request are judged the same way. A required column absent from
 * the file is an InputError; a row with a problem gets its errors instead of a prediction.
 */
export async function predictCsv(model: ModelArtifact, path: string, reporter: Reporter): Promise<PredictionLine[]> {
  const predictor = compilePredictor(model);
  const columns: DatasetConfig["columns"] = {};
  for (const f of predictor.contract.fields) {
    columns[f.name] = { type: "category", required: f.required, aliases: f.keys.slice(1), normalize: false };
  }
  // No label column: it is never needed to predict (a name that is not a column).
  const dataset = { path, delimiter: ",", columns, label: { column: "\u0000label", binning: { kind: "categorical" } }, features: Object.keys(columns), derived: [], slices: [] } as unknown as DatasetConfig;
  const read = await readDataset(path, dataset);
  if (read.missingColumns.length > 0) reporter.warning(`${path}: no column for ${read.missingColumns.join(", ")}; every row gets the fill value`);
  const table = read.table;
  const cols = predictor.contract.fields.map((f) => ({ name: f.name, key: read.headerMap[f.name] ?? f.name, column: table.columns.get(f.name)! }));
  const out: PredictionLine[] = [];
  const tally = new Map<string, { count: number; first: string }>();
  for (let r = 0; r < table.rowCount; r++) {
    const raw: Record<string, string | null> = {};
    for (const c of cols) {
      const text = cellText(c.column, r);
      raw[c.key] = text === "" ? null : text;
    }
    const p = predictor.predictRecord(raw, { numericText: "parse", warnUnknownFields: false });
    for (const problem of [...p.checked.errors, ...p.checked.warnings]) {
      const key = `${problem.field}: ${problem.kind}`;
      const t = tally.get(key);
      if (t) t.count++;
      else tally.set(key, { count: 1, first: `row ${r + 1}: ${problem.message}` });
    }
    out.push({ row: r + 1, ...line(model, p), warnings: p.checked.warnings, ...(p.checked.ok ? {} : { errors: p.checked.errors }) });
  }
  const refused = out.filter((o) => o.errors).length;
  for (const [key, t] of tally) reporter.warning(`${path}: ${key} in ${t.count} row${t.count > 1 ? "s" : ""} (first: ${t.first})`);
  if (refused > 0) reporter.warning(`${path}: ${refused} of ${out.length} rows not predicted (their errors are in the output)`);
  return out;
}

/** `pipeline predict`: prediction from a model.json through the input contract (no training code involved). */
export function register(program: Command): void {
  program
    .command("predict")
    .description("Predict with a model.json for records in a JSON file (a list of objects) or a CSV file, through the model's input contract.")
    .requiredOption("--model <file>", "model artifact (model.json)")
    .requiredOption("--input <file>", "records: .json (list of objects) or .csv / .csv.gz (the label column is not needed)")
    .option("--out <file>", "write the predictions here (JSON) instead of stdout")
    .action(
      action(async (ctx, flags: PredictFlags) => {
        const model = await loadModel(resolve(ctx.root, flags.model));
        const input = resolve(ctx.root, flags.input);
        const predictions = /\.json$/i.test(input) ? predictJson(model, await readJsonRecords(input), flags.input, ctx.reporter) : await predictCsv(model, input, ctx.reporter);
        const text = JSON.stringify(predictions) + "\n";
        if (flags.out) await writeFileAtomic(resolve(ctx.root, flags.out), text);
        else process.stdout.write(text);
        ctx.reporter.info(`predict: ${predictions.length} rows with ${model.name} (${model.lineage.candidate})`);
        return 0;
      }),
    );
}
