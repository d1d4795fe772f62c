import { readFile, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { z } from "zod";
import { InputError } from "../core/errors.js";
import { formatZodError } from "../config/load.js";
import { ModelArtifactSchema, type ModelArtifact } from "../model/artifact-schema.js";

/**
 * What `pipeline validate-model` writes, read leniently: promote only needs the verdict, the gates
 * and the drift section, and must not break when that report grows new fields.
 */
export const ValidationReportViewSchema = z
  .object({
    passed: z.boolean().optional(),
    gates: z
      .array(z.object({ name: z.string(), passed: z.boolean(), skipped: z.boolean().optional(), message: z.string().optional() }).passthrough())
      .default([]),
    /** Per-slice champion/challenger rows, when the report has them. */
    slices: z
      .array(
        z
          .object({
            column: z.string(),
            value: z.string(),
            rows: z.number().optional(),
            metric: z.string().optional(),
            challenger: z.number().nullable().optional(),
            champion: z.number().nullable().optional(),
            drop: z.number().nullable().optional(),
            passed: z.boolean().nullable().optional(),
          })
          .passthrough(),
      )
      .optional()
      .catch(undefined),
    drift: z.unknown().optional(),
  })
  .passthrough();
export type ValidationReportView = z.infer<typeof ValidationReportViewSchema>;

/** Gates that failed; a skipped gate (no champion yet, latency not measured) never counts. */
export function failedGates(view: ValidationReportView): ValidationReportView["gates"] {
  return view.gates.filter((g) => !g.passed && !g.skipped);
}

/** The validate-data report, read only for its drift section. */
const DataReportViewSchema = z.object({ drift: z.unknown().optional() }).passthrough();

export interface ExtraFile {
  /** File name inside models/<name>/v<N>/. */
  name: string;
  bytes: Buffer;
}

export interface PromotionSource {
  /** The model.json that was named (absolute). */
  modelFile: string;
  artifact: ModelArtifact;
  artifactBytes: Buffer;
  /** metrics.json, report.md and the validation report, when present, copied beside the artifact. */
  extras: ExtraFile[];
  metricsJson: unknown;
  validation: ValidationReportView | null;
  /** Drift section of a validate-data report, when one was given. */
  dataDrift: unknown;
}

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new InputError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new InputError(`${file}: invalid JSON (${(error as Error).message})`);
  }
}

/** `modelPath` is a training output directory or its model.json. */
async function readReport(root: string, report: string | object, label: string): Promise<{ raw: unknown; bytes: Buffer; file: string; markdown: Buffer | null }> {
  if (typeof report !== "string") return { raw: report, bytes: Buffer.from(JSON.stringify(report, null, 2) + "\n"), file: `<${label}>`, markdown: null };
  const file = resolve(root, report);
  const bytes = await readOptional(file);
  if (!bytes) throw new InputError(`${report}: ${label} not found`);
  const markdown = file.endsWith(".json") ? await readOptional(file.replace(/\.json$/, ".md")) : null;
  return { raw: parseJson(bytes, file), bytes, file, markdown };
}

export async function readPromotionSource(root: string, modelPath: string, validationReport?: string | object, dataReport?: string | object): Promise<PromotionSource> {
  let modelFile = resolve(root, modelPath);
  const info = await stat(modelFile).catch(() => null);
  if (!info) throw new InputError(`${modelPath}: no such model directory or model.json`);
  if (info.isDirectory()) modelFile = join(modelFile, "model.json");
  const artifactBytes = await readOptional(modelFile);
  if (!artifactBytes) throw new InputError(`${modelFile}: model.json not found (train writes it with --out DIR)`);
  const raw = parseJson(artifactBytes, modelFile);
  const parsed = ModelArtifactSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(formatZodError(parsed.error, raw, modelFile).replace(": invalid configuration", ": not a valid model artifact"));
  const artifact = parsed.data;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(artifact.name)) throw new InputError(`${modelFile}: name "${artifact.name}" must be lowercase letters, digits and hyphens to be registered`);

  const dir = dirname(modelFile);
  const extras: ExtraFile[] = [];
  let metricsJson: unknown = null;
  const metricsBytes = await readOptional(join(dir, "metrics.json"));
  if (metricsBytes) {
    metricsJson = parseJson(metricsBytes, join(dir, "metrics.json"));
    extras.push({ name: "metrics.json", bytes: metricsBytes });
  }
  const reportBytes = await readOptional(join(dir, "report.md"));
  if (reportBytes) extras.push({ name: "report.md", bytes: reportBytes });

  let validation: ValidationReportView | null = null;
  if (validationReport !== undefined) {
    const r = await readReport(root, validationReport, "validation report");
    extras.push({ name: "validation-report.json", bytes: r.bytes });
    if (r.markdown) extras.push({ name: "validation-report.md", bytes: r.markdown });
    const view = ValidationReportViewSchema.safeParse(r.raw);
    if (!view.success) throw new InputError(formatZodError(view.error, r.raw, basename(r.file)).replace(": invalid configuration", ": not a validate-model report"));
    validation = view.data;
  }
  let dataDrift: unknown = undefined;
  if (dataReport !== undefined) {
    const r = await readReport(root, dataReport, "data validation report");
    extras.push({ name: "data-validation-report.json", bytes: r.bytes });
    const view = DataReportViewSchema.safeParse(r.raw);
    if (!view.success) throw new InputError(`${basename(r.file)}: not a validate-data report (expected a JSON object)`);
    dataDrift = view.data.drift;
  }
  return { modelFile, artifact, artifactBytes, extras, metricsJson, validation, dataDrift };
}
