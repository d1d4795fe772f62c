import type { DatasetConfig } from "../config/schema.js";
import { UsageError } from "../core/errors.js";
import { readDataset } from "../data/csv.js";
import { readCsvBytes } from "../data/csv-input.js";
import { MISSING_TOKENS, parseDateText, parseNumberText } from "../data/csv-values.js";
import type { CategoryColumn } from "../data/table.js";
import { countDuplicateRows } from "../validate-data/quality.js";

/**
 * What `pipeline init` learns from a file: each column read as text once, then typed by what its
 * values parse as, with the statistics the config needs (robust range, categories, missing
 * share, whether it identifies records).
 */

export interface InferredColumn {
  name: string;
  type: "number" | "category" | "date";
  rows: number;
  missing: number;
  distinct: number;
  /** number: 0.1% and 99.9% quantiles, min, max; integer-valued. */
  q001?: number;
  q999?: number;
  min?: number;
  max?: number;
  integral?: boolean;
  /** category: values by frequency, original spelling. */
  categories?: { value: string; count: number }[];
  /** Every non-missing value distinct. */
  unique: boolean;
}

export interface Inference {
  path: string;
  delimiter: string;
  rows: number;
  columns: InferredColumn[];
  /** Share of rows repeating an earlier row on every column but the identifiers. */
  duplicateShare: number;
  /** Every column as read, as text: for what init measures after typing (label leakage). */
  text: ReadonlyMap<string, CategoryColumn>;
}

/** Most frequent of , ; tab | in the header line (quotes aside). */
function detectDelimiter(header: string): string {
  const candidates = [",", ";", "\t", "|"];
  let best = ",";
  let bestCount = 0;
  for (const d of candidates) {
    const n = header.split(d).length - 1;
    if (n > bestCount) {
      best = d;
      bestCount = n;
    }
  }
  return best;
}

/** Header names of the first line (RFC 4180 quotes unwrapped). */
function headerNames(line: string, delimiter: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

export async function inferDataset(path: string): Promise<Inference> {
  const bytes = await readCsvBytes(path);
  await bytes.checked;
  const text = bytes.text;
  let end = text.indexOf(10);
  if (end < 0) end = text.length;
  const firstLine = text.subarray(0, end).toString("utf8").replace(/\r$/, "");
  const delimiter = detectDelimiter(firstLine);
  const names = headerNames(firstLine, delimiter).filter((n) => n !== "");
  if (names.length === 0) throw new UsageError(`${path}: no header line to infer columns from`);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n.toLowerCase())) throw new UsageError(`${path}: duplicate header name "${n}"`);
    seen.add(n.toLowerCase());
  }
  // Every column as open, case-preserving text: the reader's quoting, gzip and encoding rules
  // apply unchanged, and types are decided from the values afterwards.
  const provisional = {
    path,
    delimiter,
    columns: Object.fromEntries(names.map((n) => [n, { type: "category" as const, required: false, aliases: [], normalize: false }])),
    label: { column: names[0]!, binning: { kind: "categorical" as const } },
    features: [names[0]!],
    identifiers: [],
    derived: [],
    slices: [],
  } satisfies DatasetConfig;
  const read = await readDataset(path, provisional as DatasetConfig);
  const rows = read.table.rowCount;
  const columns: InferredColumn[] = [];
  const asText = new Map<string, CategoryColumn>();
  for (const name of names) {
    const column = read.table.columns.get(name) as CategoryColumn;
    asText.set(name, column);
    columns.push(inferColumn(name, column, rows));
  }
  // As renderConfig decides identifiers: integer or text, (nearly) one row per value.
  const identifiers = new Set(columns.filter((c) => (c.type === "category" || c.integral) && c.distinct >= 2 && c.distinct >= 0.95 * (c.rows - c.missing)).map((c) => c.name));
  const compared = [...read.table.columns.values()].filter((c) => !identifiers.has(c.name));
  const duplicateShare = rows > 0 ? countDuplicateRows(read.table, compared) / rows : 0;
  return { path, delimiter, rows, columns, duplicateShare, text: asText };
}

function inferColumn(name: string, column: CategoryColumn, rows: number): InferredColumn {
  const counts = new Int32Array(column.categories.length);
  let missing = 0;
  for (let i = 0; i < column.codes.length; i++) {
    const c = column.codes[i]!;
    if (c < 0) missing++;
    else counts[c]!++;
  }
  const used: { value: string; count: number }[] = [];
  column.categories.forEach((value, code) => {
    if (counts[code]! > 0) used.push({ value, count: counts[code]! });
  });
  // Missing-value tokens (NA, null, ...) parse as NaN: they are neither numbers nor text values.
  const tokens = used.filter((u) => !MISSING_TOKENS.has(u.value.trim()));
  missing += used.filter((u) => !tokens.includes(u)).reduce((a, u) => a + u.count, 0);
  const present = rows - missing;
  const base = { name, rows, missing, distinct: tokens.length, unique: present >= 2 && tokens.every((t) => t.count === 1) };
  const numbers = tokens.map((t) => parseNumberText(t.value));
  if (tokens.length > 0 && numbers.every((v) => Number.isFinite(v))) {
    // Quantiles over the value counts (each distinct value weighted by its rows).
    const pairs = tokens.map((t, i) => ({ v: numbers[i]!, n: t.count })).sort((a, b) => a.v - b.v);
    const at = (p: number) => {
      const target = p * (present - 1);
      let acc = 0;
      for (const x of pairs) {
        acc += x.n;
        if (acc - 1 >= target) return x.v;
      }
      return pairs[pairs.length - 1]!.v;
    };
    return {
      ...base,
      type: "number",
      q001: at(0.001),
      q999: at(0.999),
      min: pairs[0]!.v,
      max: pairs[pairs.length - 1]!.v,
      integral: pairs.every((x) => Number.isInteger(x.v)),
    };
  }
  if (tokens.length > 0 && tokens.every((t) => /^\d{4}-\d{2}-\d{2}([T ].*)?$|^\d{1,2}\/\d{1,2}\/\d{4}/.test(t.value.trim()) && Number.isFinite(parseDateText(t.value)))) {
    return { ...base, type: "date" };
  }
  return { ...base, type: "category", categories: tokens.sort((a, b) => b.count - a.count) };
}
