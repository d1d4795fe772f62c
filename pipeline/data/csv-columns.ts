import type { ColumnSpec } from "../config/schema.js";
import { ConfigError } from "../core/errors.js";
import { MISSING_TOKENS, normalizeCategory, parseDateBytes, parseDateText, parseNumberText, parsePlainDecimal } from "./csv-values.js";
import type { Column } from "./table.js";

export interface SchemaViolation {
  /** 1-based data row, header excluded. */
  row: number;
  /** 1-based physical line in the file. */
  line: number;
  /** Config column name. */
  column: string;
  value: string;
  /** e.g. "not a number", "out of range [5, 45]", "not one of winter, spring, ...", "not a date". */
  reason: string;
}

/** Keeps the first `max` violations and counts all of them. */
export class ViolationLog {
  readonly list: SchemaViolation[] = [];
  count = 0;
  readonly byColumn: Record<string, number> = {};
  constructor(private readonly max: number) {}

  add(row: number, line: number, column: string, value: string, reason: string): void {
    this.count++;
    this.byColumn[column] = (this.byColumn[column] ?? 0) + 1;
    if (this.list.length < this.max) this.list.push({ row: row + 1, line, column, value, reason });
  }
}

/**
 * Receives one cell as a byte range of `buf` for row `row` (0-based) on physical line `line`.
 * Builders own typed arrays that grow by doubling; finish() trims them to the row count.
 */
export interface ColumnBuilder {
  readonly name: string;
  set(buf: Uint8Array, s: number, e: number, row: number, line: number): void;
  grow(capacity: number): void;
  finish(rowCount: number): Column;
}

function resized<T extends Float64Array | Uint8Array | Int32Array>(a: T, n: number): T {
  if (a.length === n) return a;
  const out = new (a.constructor as new (n: number) => T)(n);
  out.set(a.length <= n ? a : (a.subarray(0, n) as T));
  return out;
}

function rangeReason(range: readonly [number | string, number | string]): string {
  return `out of range [${range[0]}, ${range[1]}]`;
}

function decode(buf: Uint8Array, s: number, e: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString("utf8");
}

/** Fields are public so the reader's fused scan-and-parse loop can store plain decimals directly. */
export class NumberBuilder implements ColumnBuilder {
  values: Float64Array;
  missing: Uint8Array;
  readonly lo: number;
  readonly hi: number;
  private readonly outOfRange: string;

  constructor(
    readonly name: string,
    spec: Extract<ColumnSpec, { type: "number" }>,
    capacity: number,
    private readonly log: ViolationLog,
  ) {
    this.values = new Float64Array(capacity);
    this.missing = new Uint8Array(capacity);
    this.lo = spec.range ? spec.range[0] : -Infinity;
    this.hi = spec.range ? spec.range[1] : Infinity;
    this.outOfRange = spec.range ? rangeReason(spec.range) : "";
  }

  set(buf: Uint8Array, s: number, e: number, row: number, line: number): void {
    if (s === e) {
      this.values[row] = NaN;
      this.missing[row] = 1;
      return;
    }
    let v = parsePlainDecimal(buf, s, e);
    if (v !== v) {
      const text = decode(buf, s, e);
      v = parseNumberText(text);
      if (v !== v) {
        this.values[row] = NaN;
        this.missing[row] = 1;
        const t = text.trim();
        if (t !== "" && !MISSING_TOKENS.has(t)) this.log.add(row, line, this.name, text, "not a number");
        return;
      }
    }
    this.values[row] = v;
    if (v < this.lo || v > this.hi) this.outOfRangeAt(buf, s, e, row, line);
  }

  outOfRangeAt(buf: Uint8Array, s: number, e: number, row: number, line: number): void {
    this.log.add(row, line, this.name, decode(buf, s, e), this.outOfRange);
  }

  grow(capacity: number): void {
    this.values = resized(this.values, capacity);
    this.missing = resized(this.missing, capacity);
  }

  finish(rowCount: number): Column {
    return { kind: "number", name: this.name, values: resized(this.values, rowCount), missing: resized(this.missing, rowCount) };
  }
}

class DateBuilder implements ColumnBuilder {
  private values: Float64Array;
  private missing: Uint8Array;
  private readonly lo: number = -Infinity;
  private readonly hi: number = Infinity;
  private readonly outOfRange: string = "";

  constructor(
    readonly name: string,
    spec: Extract<ColumnSpec, { type: "date" }>,
    capacity: number,
    private readonly log: ViolationLog,
  ) {
    this.values = new Float64Array(capacity);
    this.missing = new Uint8Array(capacity);
    if (spec.range) {
      this.lo = parseDateText(spec.range[0]);
      this.hi = parseDateText(spec.range[1]);
      if (Number.isNaN(this.lo) || Number.isNaN(this.hi)) throw new ConfigError(`dataset.columns.${name}.range: expected two ISO dates, got ${JSON.stringify(spec.range)}`);
      this.outOfRange = rangeReason(spec.range);
    }
  }

  set(buf: Uint8Array, s: number, e: number, row: number, line: number): void {
    if (s === e) {
      this.values[row] = NaN;
      this.missing[row] = 1;
      return;
    }
    let v = parseDateBytes(buf, s, e);
    if (v !== v) {
      const text = decode(buf, s, e);
      v = parseDateText(text);
      if (v !== v) {
        this.values[row] = NaN;
        this.missing[row] = 1;
        const t = text.trim();
        if (t !== "" && !MISSING_TOKENS.has(t)) this.log.add(row, line, this.name, text, "not a date");
        return;
      }
    }
    this.values[row] = v;
    if (v < this.lo || v > this.hi) this.log.add(row, line, this.name, decode(buf, s, e), this.outOfRange);
  }

  grow(capacity: number): void {
    this.values = resized(this.values, capacity);
    this.missing = resized(this.missing, capacity);
  }

  finish(rowCount: number): Column {
    return { kind: "date", name: this.name, values: resized(this.values, rowCount), missing: resized(this.missing, rowCount) };
  }
}

const INVALID = -2;
export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/**
 * Interns raw cell bytes in an open-addressing table so a repeated value costs a hash and a
 * byte compare, never a string. Each distinct raw spelling is decoded and normalised once;
 * several spellings ("Summer", " summer") can map to the same category code.
 */
export class CategoryBuilder implements ColumnBuilder {
  private codes: Int32Array;
  private readonly categories: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly closed: boolean;
  private readonly notOneOf: string;
  private readonly normalize: boolean;

  private slots = new Int32Array(64);
  private readonly hashes: number[] = [];
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  private readonly entryCodes: number[] = [];
  private readonly rawText: string[] = [];
  private pool = Buffer.allocUnsafe(4096);
  private poolUsed = 0;

  constructor(
    readonly name: string,
    spec: Extract<ColumnSpec, { type: "category" }>,
    capacity: number,
    private readonly log: ViolationLog,
  ) {
    this.codes = new Int32Array(capacity);
    this.normalize = spec.normalize;
    this.closed = spec.categories !== undefined;
    // Categories keep their spelling (the config's, else the first one seen in the file);
    // normalisation only decides which spellings are the same category.
    for (const c of spec.categories ?? []) {
      const key = this.normalize ? normalizeCategory(c) : c;
      if (!this.index.has(key)) {
        this.index.set(key, this.categories.length);
        this.categories.push(this.normalize ? c.replace(/\u00a0/g, " ").trim() : c);
      }
    }
    const shown = this.categories.slice(0, 8).join(", ");
    this.notOneOf = `not one of ${shown}${this.categories.length > 8 ? ", ..." : ""}`;
  }

  set(buf: Uint8Array, s: number, e: number, row: number, line: number): void {
    if (s === e) {
      this.codes[row] = -1;
      return;
    }
    let h = FNV_OFFSET;
    for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
    this.setHashed(buf, s, e, h, row, line);
  }

  /** `h` is the FNV-1a hash of the bytes (FNV_OFFSET, FNV_PRIME), computed by the caller while it scanned them. */
  setHashed(buf: Uint8Array, s: number, e: number, h: number, row: number, line: number): void {
    if (s === e) {
      this.codes[row] = -1;
      return;
    }
    const len = e - s;
    const slots = this.slots;
    const mask = slots.length - 1;
    let p = h & mask;
    for (;;) {
      const k = slots[p]!;
      if (k === 0) break;
      const entry = k - 1;
      if (this.hashes[entry] === h && this.lengths[entry] === len && this.sameBytes(this.starts[entry]!, buf, s, len)) {
        const code = this.entryCodes[entry]!;
        if (code === INVALID) {
          this.codes[row] = -1;
          this.log.add(row, line, this.name, this.rawText[entry]!, this.notOneOf);
        } else {
          this.codes[row] = code;
        }
        return;
      }
      p = (p + 1) & mask;
    }
    const raw = decode(buf, s, e);
    const code = this.codeOf(raw);
    this.addEntry(h, buf, s, len, code, raw);
    if (code === INVALID) {
      this.codes[row] = -1;
      this.log.add(row, line, this.name, raw, this.notOneOf);
    } else {
      this.codes[row] = code;
    }
  }

  private sameBytes(at: number, buf: Uint8Array, s: number, len: number): boolean {
    const pool = this.pool;
    for (let i = 0; i < len; i++) if (pool[at + i] !== buf[s + i]) return false;
    return true;
  }

  private codeOf(raw: string): number {
    const key = this.normalize ? normalizeCategory(raw) : raw;
    if (key === "") return -1;
    const known = this.index.get(key);
    if (known !== undefined) return known;
    if (this.closed) return INVALID;
    this.index.set(key, this.categories.length);
    this.categories.push(this.normalize ? raw.replace(/\u00a0/g, " ").trim() : raw);
    return this.categories.length - 1;
  }

  private addEntry(h: number, buf: Uint8Array, s: number, len: number, code: number, raw: string): void {
    if (this.poolUsed + len > this.pool.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.pool.length * 2, this.poolUsed + len));
      this.pool.copy(bigger, 0, 0, this.poolUsed);
      this.pool = bigger;
    }
    this.pool.set(buf.subarray(s, s + len), this.poolUsed);
    const entry = this.hashes.length;
    this.hashes.push(h);
    this.starts.push(this.poolUsed);
    this.lengths.push(len);
    this.entryCodes.push(code);
    // Only invalid values need their text again (for each violation); don't keep the rest.
    this.rawText.push(code === INVALID ? raw : "");
    this.poolUsed += len;
    if ((entry + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(this.slots, h, entry);
  }

  private place(slots: Int32Array, h: number, entry: number): void {
    const mask = slots.length - 1;
    let p = h & mask;
    while (slots[p] !== 0) p = (p + 1) & mask;
    slots[p] = entry + 1;
  }

  private rehash(size: number): void {
    const slots = new Int32Array(size);
    for (let entry = 0; entry < this.hashes.length; entry++) this.place(slots, this.hashes[entry]!, entry);
    this.slots = slots;
  }

  grow(capacity: number): void {
    this.codes = resized(this.codes, capacity);
  }

  finish(rowCount: number): Column {
    return { kind: "category", name: this.name, codes: resized(this.codes, rowCount), categories: this.categories };
  }
}

export function columnBuilder(name: string, spec: ColumnSpec, capacity: number, log: ViolationLog): ColumnBuilder {
  switch (spec.type) {
    case "number":
      return new NumberBuilder(name, spec, capacity, log);
    case "date":
      return new DateBuilder(name, spec, capacity, log);
    case "category":
      return new CategoryBuilder(name, spec, capacity, log);
  }
}

/** A configured column the file does not have: present in the table, every value missing. */
export function allMissingColumn(name: string, spec: ColumnSpec, rowCount: number): Column {
  if (spec.type === "category") {
    const seen = new Set<string>();
    const categories: string[] = [];
    for (const c of spec.categories ?? []) {
      const key = spec.normalize ? normalizeCategory(c) : c;
      if (!seen.has(key)) categories.push(spec.normalize ? c.trim() : c);
      seen.add(key);
    }
    return { kind: "category", name, codes: new Int32Array(rowCount).fill(-1), categories };
  }
  return { kind: spec.type, name, values: new Float64Array(rowCount).fill(NaN), missing: new Uint8Array(rowCount).fill(1) };
}
