import { readFile } from "node:fs/promises";
import { InputError } from "../core/errors.js";
import { DataProfileSchema, type CategoryProfile, type DataProfile, type NumericProfile } from "./profile-schema.js";
import type { CategoryColumn, Column, Table } from "./table.js";

/**
 * Reference profiles: what drift detection keeps of a dataset instead of the data itself.
 * Numbers keep 101 quantiles (the ECDF that KS compares against, interpolated linearly between
 * percentiles) and a histogram whose bin edges are the reference's own quantiles, so every PSI bin
 * holds about the same share of the reference and no bin starts empty. `count` is the number of
 * non-missing values; `missing` the rest.
 */

export const PROFILE_QUANTILES = 101;

/** The non-missing values of a numeric or date column, in a fresh array (safe to sort). */
export function presentValues(column: Exclude<Column, CategoryColumn>): Float64Array {
  const { values, missing } = column;
  let n = 0;
  for (let i = 0; i < missing.length; i++) n += missing[i]! ^ 1;
  const out = new Float64Array(n);
  let j = 0;
  for (let i = 0; i < values.length; i++) if (missing[i] === 0) out[j++] = values[i]!;
  return out;
}

/** Quantile of sorted values with linear interpolation between order statistics (numpy/pandas default). */
export function quantileSorted(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  if (lo >= n - 1) return sorted[n - 1]!;
  return sorted[lo]! + (h - lo) * (sorted[lo + 1]! - sorted[lo]!);
}

/**
 * PSI bin edges from sorted reference values: interior cut points at the 1/bins quantiles, ties
 * removed (a discrete column gets fewer, never empty-by-construction, bins). Edges are
 * [-∞, c1, …, ck, +∞]; a value v falls in bin i when edges[i] < v ≤ edges[i+1].
 */
export function histogramEdges(sorted: Float64Array, bins: number): number[] {
  const cuts: number[] = [];
  for (let k = 1; k < bins; k++) {
    const c = quantileSorted(sorted, k / bins);
    if (Number.isFinite(c) && (cuts.length === 0 || c > cuts[cuts.length - 1]!)) cuts.push(c);
  }
  return [-Infinity, ...cuts, Infinity];
}

/** Counts values into bins (edges as from histogramEdges; ±∞ or null at the ends). */
export function histogramCounts(values: Float64Array, edges: (number | null)[]): number[] {
  const cuts = Float64Array.from(edges.slice(1, -1).map((e) => e ?? NaN));
  const counts = new Array<number>(cuts.length + 1).fill(0);
  const m = cuts.length;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // first cut >= v
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cuts[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    counts[lo]!++;
  }
  return counts;
}

/** Profile of one numeric column from its sorted non-missing values. */
export function numericProfile(sorted: Float64Array, missing: number, bins: number): NumericProfile {
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  const mean = n > 0 ? sum / n : 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = sorted[i]! - mean;
    ss += d * d;
  }
  const quantiles: number[] = [];
  if (n > 0) for (let k = 0; k < PROFILE_QUANTILES; k++) quantiles.push(quantileSorted(sorted, k / (PROFILE_QUANTILES - 1)));
  const edges = n > 0 ? histogramEdges(sorted, bins) : [-Infinity, Infinity];
  const counts = histogramCounts(sorted, edges);
  return {
    kind: "number",
    count: n,
    missing,
    mean,
    std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0,
    min: n > 0 ? sorted[0]! : 0,
    max: n > 0 ? sorted[n - 1]! : 0,
    quantiles,
    // JSON has no infinities: the open ends are written as null.
    histogram: { edges: edges.map((e) => (Number.isFinite(e) ? e : null)), counts },
  };
}

export function categoryProfile(column: CategoryColumn): CategoryProfile {
  const perCode = new Float64Array(column.categories.length);
  let missing = 0;
  const { codes } = column;
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c < 0) missing++;
    else perCode[c]!++;
  }
  const counts: Record<string, number> = {};
  column.categories.forEach((name, code) => {
    if (perCode[code]! > 0) counts[name] = perCode[code]!;
  });
  return { kind: "category", count: codes.length - missing, missing, counts };
}

/**
 * Profiles the named columns of a table (columns that are not in it are left out). `label` adds
 * the class counts of the binned label.
 */
export function profileTable(
  table: Table,
  columns: string[],
  options: { bins: number; label?: { codes: Int32Array; classes: string[] } },
): DataProfile {
  const out: DataProfile["columns"] = {};
  for (const name of columns) {
    const column = table.columns.get(name);
    if (!column) continue;
    if (column.kind === "category") out[name] = categoryProfile(column);
    else {
      const sorted = presentValues(column).sort();
      out[name] = numericProfile(sorted, table.rowCount - sorted.length, options.bins);
    }
  }
  const profile: DataProfile = { version: 1, rows: table.rowCount, columns: out };
  if (options.label) {
    const counts = new Array<number>(options.label.classes.length).fill(0);
    for (const c of options.label.codes) if (c >= 0) counts[c]!++;
    profile.label = Object.fromEntries(options.label.classes.map((name, i) => [name, counts[i]!]));
  }
  return profile;
}

/** Reads and validates a standalone profile JSON file. */
export async function readProfile(path: string): Promise<DataProfile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: cannot read profile (${code === "ENOENT" ? "file not found" : code ?? String(error)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  return parseProfile(raw, path);
}

/** Validates an in-memory profile (e.g. the `reference_profile` of a model.json). */
export function parseProfile(raw: unknown, file: string, prefix = ""): DataProfile {
  const result = DataProfileSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.slice(0, 5).map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join(".") || "(root)"}: ${i.message}`);
    throw new InputError(`${file}: not a valid data profile\n  ${lines.join("\n  ")}`);
  }
  return result.data;
}
