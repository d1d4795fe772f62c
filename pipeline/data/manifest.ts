import { readFile } from "node:fs/promises";
import { isAbsolute, relative, sep } from "node:path";
import { z } from "zod";
import { writeJsonAtomic } from "../core/atomic.js";
import { InputError } from "../core/errors.js";
import { writeGeneratedCsv } from "./csv-writer.js";
import { defaultBuildingCount, DRIFT_MODES, GENERATOR_NAME, GENERATOR_VERSION, parseGenerateOptions, THERMAL_COMFORT_COLUMNS, type GenerateOptions } from "./generator.js";

/**
 * `data/manifest.json`: which file, its sha256 and row count, and how to make it again. CI
 * compares the committed CSV against it, so a data change without a manifest change fails.
 */
export const DatasetManifestSchema = z
  .object({
    version: z.literal(1),
    /** Relative to the repository root, with forward slashes. */
    path: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    rows: z.number().int().nonnegative(),
    generator: z
      .object({
        name: z.literal(GENERATOR_NAME),
        version: z.number().int().positive(),
        seed: z.number().int().nonnegative(),
        drift: z.enum(DRIFT_MODES),
        start_date: z.string(),
        buildings: z.number().int().positive(),
      })
      .strict(),
    columns: z.array(z.string()).min(1),
  })
  .strict();
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

export interface GenerateDatasetResult {
  path: string;
  sha256: string;
  rows: number;
  manifest: DatasetManifest;
}

/** Path as recorded in a manifest: relative to root when inside it, POSIX separators. */
export function manifestPath(file: string, root: string): string {
  const rel = relative(root, file);
  const inside = rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
  return (inside ? rel : file).split(sep).join("/");
}

/** Generates the CSV at `out` and, when `manifestFile` is given, writes its manifest beside it. */
export async function generateDataset(params: { out: string; root: string; options: GenerateOptions; manifestFile?: string }): Promise<GenerateDatasetResult> {
  const options = parseGenerateOptions(params.options);
  const written = await writeGeneratedCsv(params.out, options);
  const buildings = options.buildings ?? defaultBuildingCount(options.rows);
  const manifest: DatasetManifest = {
    version: 1,
    path: manifestPath(params.out, params.root),
    sha256: written.sha256,
    rows: written.rows,
    generator: { name: GENERATOR_NAME, version: GENERATOR_VERSION, seed: options.seed, drift: options.drift, start_date: options.startDate, buildings },
    columns: [...THERMAL_COMFORT_COLUMNS],
  };
  if (params.manifestFile) await writeJsonAtomic(params.manifestFile, manifest);
  return { ...written, manifest };
}

export async function readDatasetManifest(path: string): Promise<DatasetManifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new InputError(`${path}: cannot read dataset manifest (${(error as Error).message})`);
  }
  const parsed = DatasetManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(`${path}: invalid dataset manifest: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data;
}
