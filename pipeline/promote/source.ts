import { lstat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { z } from "zod";
import { GateFailure, InputError } from "../core/errors.js";
import { readFileSafe, UnsafeFileError } from "../core/safe-file.js";
import { formatZodError } from "../config/load.js";
import { ModelArtifactSchema, type ModelArtifact } from "../model/artifact-schema.js";
import { modelContentHash } from "../model/identity.js";

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
  /** The validation report as read, for binding it to the artifact (bindValidationReport). */
  validationRaw: unknown;
  validationFile: string | null;
  /** Drift section of a validate-data report, when one was given. */
  dataDrift: unknown;
}

/** Reports, metrics and artifacts are far below this. */
export const MAX_SOURCE_BYTES = 256 * 1024 * 1024;

/** A regular file (never a symlink, FIFO or device), capped in size; null when it does not exist. */
async function readOptional(path: string, what = "file"): Promise<Buffer | null> {
  try {
    return await readFileSafe(path, { what, maxBytes: MAX_SOURCE_BYTES });
  } catch (error) {
    if (error instanceof UnsafeFileError && error.problem === "missing") return null;
    throw error;
  }
}

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    // Not the parser's message: it quotes the file's first bytes, which may be someone else's file.
    throw new InputError(`${file}: invalid JSON (${jsonErrorPosition(error as Error, bytes)})`);
  }
}

/** Where JSON.parse failed, as line:column, without quoting the content. */
export function jsonErrorPosition(error: Error, bytes: Buffer | string): string {
  const m = /position (\d+)/.exec(error.message);
  if (!m) return /Unexpected end/i.test(error.message) ? "unexpected end of input" : "not JSON";
  const text = typeof bytes === "string" ? bytes : bytes.toString("utf8");
  const before = text.slice(0, Number(m[1]));
  const line = before.split("\n").length;
  return `syntax error at line ${line}, column ${Number(m[1]) - before.lastIndexOf("\n")}`;
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
  const info = await lstat(modelFile).catch(() => null);
  if (!info) throw new InputError(`${modelPath}: no such model directory or model.json`);
  if (info.isDirectory()) modelFile = join(modelFile, "model.json");
  const artifactBytes = await readOptional(modelFile, "model artifact");
  if (!artifactBytes) throw new InputError(`${modelFile}: model.json not found (train writes it with --out DIR)`);
  const raw = parseJson(artifactBytes, modelFile);
  const parsed = ModelArtifactSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(formatZodError(parsed.error, raw, modelFile).replace(": invalid configuration", ": not a valid model artifact"));
  const artifact = parsed.data;
  if (artifact.content_sha256 !== undefined && artifact.content_sha256 !== modelContentHash(artifact)) {
    throw new InputError(`${modelFile}: content_sha256 ${artifact.content_sha256} does not match the model's content; the file was changed after training`);
  }
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
  let validationRaw: unknown = null;
  let validationFile: string | null = null;
  if (validationReport !== undefined) {
    const r = await readReport(root, validationReport, "validation report");
    extras.push({ name: "validation-report.json", bytes: r.bytes });
    if (r.markdown) extras.push({ name: "validation-report.md", bytes: r.markdown });
    const view = ValidationReportViewSchema.safeParse(r.raw);
    if (!view.success) throw new GateFailure(formatZodError(view.error, r.raw, basename(r.file)).replace(": invalid configuration", ": not a validate-model report; refusing to promote"));
    validation = view.data;
    validationRaw = r.raw;
    validationFile = r.file;
  }
  let dataDrift: unknown = undefined;
  if (dataReport !== undefined) {
    const r = await readReport(root, dataReport, "data validation report");
    extras.push({ name: "data-validation-report.json", bytes: r.bytes });
    const view = DataReportViewSchema.safeParse(r.raw);
    if (!view.success) throw new InputError(`${basename(r.file)}: not a validate-data report (expected a JSON object)`);
    dataDrift = view.data.drift;
  }
  return { modelFile, artifact, artifactBytes, extras, metricsJson, validation, validationRaw, validationFile, dataDrift };
}
