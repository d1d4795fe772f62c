/**
 * The dataset reader: CSV or gzip-compressed CSV into the typed Table.
 *
 * Decisions (each one a place where a reader could silently corrupt data):
 * - Ragged rows are an error, not padded or truncated: shifting values into the wrong column
 *   corrupts every later field of the row without any violation showing it.
 * - Empty fields are missing; number and date columns also read pandas' NA tokens
 *   ("NA", "NaN", "null", ...; MISSING_TOKENS) as missing. Category columns only the empty field.
 * - Blank lines are skipped (as pandas does); text after a closing quote is kept (`"a"b` → `ab`).
 * - A configured column absent from the file is in the table with every value missing (and
 *   listed in missingColumns), so later steps can rely on every configured column existing.
 * - Numbers outside the configured range are kept and reported; values that are not numbers,
 *   dates or allowed categories become missing and are reported.
 */
import type { DatasetConfig } from "../config/schema.js";
import { ConfigError, InputError } from "../core/errors.js";
import { allMissingColumn, CategoryBuilder, columnBuilder, FNV_OFFSET, FNV_PRIME, NumberBuilder, ViolationLog, type ColumnBuilder, type SchemaViolation } from "./csv-columns.js";
import { readCsvBytes } from "./csv-input.js";
import { addDerivedColumns } from "./derived.js";
import type { Column, Table } from "./table.js";

export type { SchemaViolation } from "./csv-columns.js";

export interface ReadResult {
  /** Columns in dataset.columns order (configured but absent ones all-missing), then derived columns. */
  table: Table;
  path: string;
  /** Of the file on disk (the compressed bytes for gzip). */
  sha256: string;
  bytes: number;
  /** The first maxListedViolations. */
  violations: SchemaViolation[];
  /** All of them. */
  violationCount: number;
  violationsByColumn: Record<string, number>;
  /** Config column name → header name found in the file (alias resolution). */
  headerMap: Record<string, string>;
  /** Configured, not present (required ones cause an InputError instead). */
  missingColumns: string[];
  /** In the file, not configured (ignored). */
  extraColumns: string[];
}

/** A physical line longer than this is not CSV a person meant to write; refuse it rather than hold it. */
export const MAX_LINE_BYTES = 1024 * 1024;

const LF = 10;
const CR = 13;
const QUOTE = 34;

/** Where a quoted field ended; one reused object so the hot loop allocates nothing. */
interface QuotedScan {
  /** Content range in the input, when no unescaping was needed. */
  s: number;
  e: number;
  /** Unescaped content when the field had doubled quotes or text after the closing quote. */
  text: Buffer | null;
  /** Position of the delimiter, line end or EOF after the field. */
  end: number;
  line: number;
  lineStart: number;
}

/**
 * RFC 4180 quoted field starting at the opening quote `pos`. Newlines inside it advance the
 * physical line count. Text after the closing quote and before the delimiter is kept
 * (`"a"b` → `ab`), as pandas does, rather than failing a whole file over one stray character.
 */
function scanQuoted(buf: Buffer, pos: number, delim: number, line: number, lineStart: number, file: string, out: QuotedScan): void {
  const n = buf.length;
  const openLine = line;
  let escaped = false;
  let i = pos + 1;
  for (; i < n; i++) {
    const c = buf[i]!;
    if (c === QUOTE) {
      if (buf[i + 1] === QUOTE) {
        escaped = true;
        i++;
        continue;
      }
      break;
    }
    if (c === LF) {
      if (i - lineStart > MAX_LINE_BYTES) throw tooLong(file, line);
      line++;
      lineStart = i + 1;
    }
  }
  if (i >= n) {
    throw new InputError(`${file}: line ${openLine}: unterminated quote: the quoted field that opens on line ${openLine} is never closed (it runs to the end of the file)`);
  }
  const contentEnd = i;
  let j = i + 1;
  while (j < n) {
    const c = buf[j]!;
    if (c === delim || c === LF || c === CR) break;
    j++;
  }
  out.end = j;
  out.line = line;
  out.lineStart = lineStart;
  if (!escaped && j === i + 1) {
    out.s = pos + 1;
    out.e = contentEnd;
    out.text = null;
  } else {
    const content = buf.toString("utf8", pos + 1, contentEnd).replaceAll('""', '"') + buf.toString("utf8", i + 1, j);
    out.text = Buffer.from(content, "utf8");
  }
}

function tooLong(file: string, line: number): InputError {
  return new InputError(`${file}: line ${line} is longer than 1 MiB; this is not a line-oriented CSV file (or a quote is never closed)`);
}

/** Reads one record as strings (the header); returns the position after its line end. */
function readHeader(buf: Buffer, start: number, delim: number, line: number, file: string): { fields: string[]; end: number; line: number } {
  const n = buf.length;
  const fields: string[] = [];
  const q: QuotedScan = { s: 0, e: 0, text: null, end: 0, line, lineStart: start };
  let pos = start;
  let lineStart = start;
  for (;;) {
    if (buf[pos] === QUOTE) {
      scanQuoted(buf, pos, delim, line, lineStart, file, q);
      fields.push(q.text === null ? buf.toString("utf8", q.s, q.e) : q.text.toString("utf8"));
      pos = q.end;
      line = q.line;
      lineStart = q.lineStart;
    } else {
      const s = pos;
      while (pos < n) {
        const c = buf[pos]!;
        if (c === delim || c === LF || c === CR) break;
        pos++;
      }
      fields.push(buf.toString("utf8", s, pos));
    }
    if (pos - lineStart > MAX_LINE_BYTES) throw tooLong(file, line);
    if (pos >= n) return { fields, end: n, line: line + 1 };
    const c = buf[pos]!;
    pos++;
    if (c === delim) continue;
    if (c === CR && buf[pos] === LF) pos++;
    return { fields, end: pos, line: line + 1 };
  }
}

function delimiterName(d: string): string {
  return d === "\t" ? "tab" : `'${d}'`;
}

function guessDelimiter(header: string, configured: string): string | undefined {
  let best: string | undefined;
  let bestCount = 0;
  for (const d of [",", ";", "\t", "|"]) {
    if (d === configured) continue;
    const count = header.split(d).length - 1;
    if (count > bestCount) [best, bestCount] = [d, count];
  }
  return best;
}

interface HeaderResolution {
  /** Header field index → builder index, -1 = ignored. */
  slots: Int32Array;
  /** Config column name → header field index. */
  found: Map<string, number>;
  headerMap: Record<string, string>;
  missingColumns: string[];
  extraColumns: string[];
}

const key = (s: string) => s.replace(/\u00a0/g, " ").trim().toLowerCase();

/**
 * Matches config names first, then aliases, case-insensitive and trimmed. Duplicate header
 * names and a config column matched by two header columns are errors: picking one silently
 * would read the wrong data without anyone noticing.
 */
function resolveHeader(file: string, header: string[], dataset: DatasetConfig): HeaderResolution {
  const byKey = new Map<string, number>();
  header.forEach((h, i) => {
    const k = key(h);
    if (k === "") return;
    const first = byKey.get(k);
    if (first !== undefined) {
      throw new InputError(`${file}: line 1: duplicate column name "${h.trim()}" in the header (columns ${first + 1} and ${i + 1}); rename one of them`);
    }
    byKey.set(k, i);
  });

  const found = new Map<string, number>();
  const claimed = new Map<number, string>();
  const names = Object.keys(dataset.columns);
  for (const name of names) {
    const i = byKey.get(key(name));
    if (i !== undefined) {
      found.set(name, i);
      claimed.set(i, name);
    }
  }
  for (const name of names) {
    if (found.has(name)) continue;
    const hits = [...new Set(dataset.columns[name]!.aliases.map((a) => byKey.get(key(a))).filter((i): i is number => i !== undefined && !claimed.has(i)))];
    if (hits.length > 1) {
      const list = hits.map((i) => `"${header[i]!.trim()}" (column ${i + 1})`).join(" and ");
      throw new InputError(`${file}: line 1: header columns ${list} both match config column "${name}"; keep one or rename the other`);
    }
    if (hits.length === 1) {
      found.set(name, hits[0]!);
      claimed.set(hits[0]!, name);
    }
  }

  const requiredMissing = names.filter((name) => !found.has(name) && (dataset.columns[name]!.required || name === dataset.label.column));
  if (requiredMissing.length > 0) {
    const shown = header.length > 30 ? [...header.slice(0, 30).map((h) => h.trim()), `... (${header.length} columns)`] : header.map((h) => h.trim());
    const lines = requiredMissing.map((name) => `required column "${name}" not found (looked for ${[name, ...dataset.columns[name]!.aliases].join(", ")})`);
    throw new InputError(`${file}: ${lines.join("; ")}; header has: ${shown.join(", ")}`);
  }

  const slots = new Int32Array(header.length).fill(-1);
  const headerMap: Record<string, string> = {};
  let b = 0;
  for (const name of names) {
    const i = found.get(name);
    if (i === undefined) continue;
    slots[i] = b++;
    headerMap[name] = header[i]!.trim();
  }
  return {
    slots,
    found,
    headerMap,
    missingColumns: names.filter((name) => !found.has(name)),
    extraColumns: header.filter((_, i) => !claimed.has(i)).map((h) => h.trim()),
  };
}

function countLineFeeds(buf: Buffer, from: number): number {
  let count = 0;
  let i = buf.indexOf(LF, from);
  while (i >= 0) {
    count++;
    i = buf.indexOf(LF, i + 1);
  }
  return count;
}

const KIND_IGNORED = 0;
const KIND_NUMBER = 1;
const KIND_CATEGORY = 2;
const KIND_OTHER = 3;
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * The hot loop: one pass over the bytes, no strings and no per-row objects. Number fields are
 * parsed while they are scanned (plain decimals of up to 15 digits, exact as in
 * parsePlainDecimal; anything else goes to the builder's string path) and category fields are
 * hashed while scanned, so each byte is touched once. Returns the row count.
 */
function parseRows(buf: Buffer, start: number, firstLine: number, delimiter: string, fieldBuilders: (ColumnBuilder | undefined)[], capacity: number, path: string): number {
  const n = buf.length;
  const delim = delimiter.charCodeAt(0);
  const nFields = fieldBuilders.length;
  const kinds = new Uint8Array(nFields);
  fieldBuilders.forEach((b, i) => {
    kinds[i] = b === undefined ? KIND_IGNORED : b instanceof NumberBuilder ? KIND_NUMBER : b instanceof CategoryBuilder ? KIND_CATEGORY : KIND_OTHER;
  });
  const builders = [...new Set(fieldBuilders.filter((b): b is ColumnBuilder => b !== undefined))];
  const q: QuotedScan = { s: 0, e: 0, text: null, end: 0, line: 0, lineStart: 0 };
  let pos = start;
  let line = firstLine;
  let lineStart = pos;
  let row = 0;
  while (pos < n) {
    let c = buf[pos]!;
    if (c === LF || c === CR) {
      // A blank line: skipped, not a row of missing values.
      pos += c === CR && buf[pos + 1] === LF ? 2 : 1;
      line++;
      lineStart = pos;
      continue;
    }
    if (c === 32 || c === 9) {
      // Whitespace-only lines are blank lines too (a stray "  " at the end of a hand-edited file).
      let k = pos + 1;
      while (k < n && (buf[k] === 32 || buf[k] === 9)) k++;
      if (k >= n || buf[k] === LF || buf[k] === CR) {
        pos = k;
        continue;
      }
    }
    if (row === capacity) {
      capacity *= 2;
      for (const b of builders) b.grow(capacity);
    }
    const rowLine = line;
    let rowEndLine: number;
    let field = 0;
    for (;;) {
      const kind = field < nFields ? kinds[field]! : KIND_IGNORED;
      const s = pos;
      if (buf[pos] === QUOTE) {
        scanQuoted(buf, pos, delim, line, lineStart, path, q);
        if (kind !== KIND_IGNORED) {
          if (q.text === null) fieldBuilders[field]!.set(buf, q.s, q.e, row, line);
          else fieldBuilders[field]!.set(q.text, 0, q.text.length, row, line);
        }
        pos = q.end;
        line = q.line;
        lineStart = q.lineStart;
      } else if (kind === KIND_NUMBER) {
        let neg = false;
        c = buf[pos]!;
        if ((c === 45 || c === 43) && c !== delim) {
          neg = c === 45;
          pos++;
        }
        let m = 0;
        let digits = 0;
        let fraction = 0;
        let dot = 0;
        let plain = true;
        while (pos < n) {
          c = buf[pos]!;
          const d = c - 48;
          if (d >= 0 && d <= 9) {
            m = m * 10 + d;
            digits++;
            fraction += dot;
          } else if (c === delim || c === LF || c === CR) {
            break;
          } else if (c === 46 && dot === 0) {
            dot = 1;
          } else {
            plain = false;
          }
          pos++;
        }
        const nb = fieldBuilders[field] as NumberBuilder;
        if (plain && digits > 0 && digits <= 15) {
          let v = fraction > 0 ? m / POW10[fraction]! : m;
          if (neg) v = -v;
          nb.values[row] = v;
          if (v < nb.lo || v > nb.hi) nb.outOfRangeAt(buf, s, pos, row, line);
        } else {
          nb.set(buf, s, pos, row, line);
        }
      } else if (kind === KIND_CATEGORY) {
        let h = FNV_OFFSET;
        while (pos < n) {
          c = buf[pos]!;
          if (c === delim || c === LF || c === CR) break;
          h = Math.imul(h ^ c, FNV_PRIME);
          pos++;
        }
        (fieldBuilders[field] as CategoryBuilder).setHashed(buf, s, pos, h, row, line);
      } else {
        while (pos < n) {
          c = buf[pos]!;
          if (c === delim || c === LF || c === CR) break;
          pos++;
        }
        if (kind !== KIND_IGNORED) fieldBuilders[field]!.set(buf, s, pos, row, line);
      }
      field++;
      rowEndLine = line;
      if (pos >= n) {
        if (pos - lineStart > MAX_LINE_BYTES) throw tooLong(path, line);
        break;
      }
      c = buf[pos]!;
      pos++;
      if (c === delim) continue;
      if (pos - 1 - lineStart > MAX_LINE_BYTES) throw tooLong(path, line);
      if (c === CR && buf[pos] === LF) pos++;
      line++;
      lineStart = pos;
      break;
    }
    if (field !== nFields) {
      const where = rowEndLine > rowLine ? `lines ${rowLine}-${rowEndLine}` : `line ${rowLine}`;
      throw new InputError(
        `${path}: ${where}: ${field} fields, but the header has ${nFields}; ` +
          (field > nFields ? `quote values that contain the delimiter ${delimiterName(delimiter)}` : "a row ends early (a missing delimiter or an unintended line break)"),
      );
    }
    row++;
  }
  if (n - lineStart > MAX_LINE_BYTES) throw tooLong(path, line);
  return row;
}

interface ParsedRows {
  resolved: HeaderResolution;
  builders: ColumnBuilder[];
  row: number;
  log: ViolationLog;
}

function parseText(path: string, buf: Buffer, dataset: DatasetConfig, maxListedViolations: number): ParsedRows {
  const delimiter = dataset.delimiter;
  const delim = delimiter.charCodeAt(0);
  const n = buf.length;

  // Blank lines before the header are skipped, as pandas does.
  let pos = 0;
  let line = 1;
  while (pos < n && (buf[pos] === LF || buf[pos] === CR || buf[pos] === 32 || buf[pos] === 9)) {
    if (buf[pos] === LF) line++;
    pos++;
  }
  if (pos >= n) throw new InputError(`${path}: the file is empty (no header row)`);
  while (pos > 0 && buf[pos - 1] !== LF) pos--;

  const header = readHeader(buf, pos, delim, line, path);
  const configured = Object.keys(dataset.columns);
  if (header.fields.length === 1 && configured.length > 1) {
    const guess = guessDelimiter(header.fields[0]!, delimiter);
    throw new InputError(
      `${path}: line ${line}: only 1 column found in header` +
        (guess ? `; is the delimiter ${delimiterName(guess)}? (dataset.delimiter is ${delimiterName(delimiter)})` : ` (expected ${configured.length} columns separated by ${delimiterName(delimiter)})`),
    );
  }
  const resolved = resolveHeader(path, header.fields, dataset);

  const dataStart = header.end;
  const capacity = Math.max(1, countLineFeeds(buf, dataStart) + (n > dataStart && buf[n - 1] !== LF ? 1 : 0));
  const log = new ViolationLog(maxListedViolations);
  const builders: ColumnBuilder[] = [];
  for (const name of configured) {
    if (resolved.found.has(name)) builders.push(columnBuilder(name, dataset.columns[name]!, capacity, log));
  }

  const fieldBuilders: (ColumnBuilder | undefined)[] = [...resolved.slots].map((b) => (b >= 0 ? builders[b] : undefined));
  const row = parseRows(buf, dataStart, header.line, delimiter, fieldBuilders, capacity, path);
  if (row === 0) throw new InputError(`${path}: the file has a header but no data rows`);

  return { resolved, builders, row, log };
}

/**
 * Reads a CSV (or gzip-compressed CSV) file into typed columns as the dataset config describes.
 * Cells that do not fit the schema become missing values plus a SchemaViolation; anything
 * that makes the file itself unreadable is an InputError (exit 2) naming the file and line.
 */
export async function readDataset(path: string, dataset: DatasetConfig, options: { maxListedViolations?: number } = {}): Promise<ReadResult> {
  const delimiter = dataset.delimiter;
  const delim = delimiter.charCodeAt(0);
  if (delimiter.length !== 1 || delim > 127 || delim === QUOTE || delim === LF || delim === CR || (delim >= 48 && delim <= 57) || delim === 46) {
    throw new ConfigError(`dataset.delimiter: expected one ASCII character other than a quote, a line break, a digit or '.', got ${JSON.stringify(delimiter)}`);
  }
  const input = await readCsvBytes(path);
  let parsed: ParsedRows;
  try {
    parsed = parseText(path, input.text, dataset, options.maxListedViolations ?? 100);
  } catch (error) {
    // Binary or mis-encoded bytes explain any parse error they cause; report them instead.
    await input.checked;
    throw error;
  }
  await input.checked;
  const { resolved, builders, row, log } = parsed;
  const configured = Object.keys(dataset.columns);
  const columns = new Map<string, Column>();
  let b = 0;
  for (const name of configured) {
    columns.set(name, resolved.found.has(name) ? builders[b++]!.finish(row) : allMissingColumn(name, dataset.columns[name]!, row));
  }
  const table: Table = { rowCount: row, columns };
  addDerivedColumns(table, dataset);

  return {
    table,
    path,
    sha256: await input.sha256,
    bytes: input.bytes,
    violations: log.list,
    violationCount: log.count,
    violationsByColumn: log.byColumn,
    headerMap: resolved.headerMap,
    missingColumns: resolved.missingColumns,
    extraColumns: resolved.extraColumns,
  };
}
