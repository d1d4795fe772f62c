import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { writeStreamAtomic } from "../core/atomic.js";
import type { Hash } from "node:crypto";
import { BUILDING_TYPES, COOLING_TYPES, SEASONS, THERMAL_COMFORT_COLUMNS, ThermalComfortSource, type GenerateOptions } from "./generator.js";

/** RFC 4180: quote a field that holds a comma, quote or line break; double inner quotes. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

const COMMA = 0x2c;
const NEWLINE = 0x0a;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const CHUNK_BYTES = 1 << 20;
/** Longest possible row is far below this; a chunk is flushed before a row could overflow it. */
const ROW_SLACK = 4096;

/**
 * Formats rows straight into a reused byte buffer: no per-field strings, so a million rows make
 * almost no garbage (string building spent more time in the garbage collector than in the physics).
 */
class ByteSink {
  readonly buf = Buffer.allocUnsafe(CHUNK_BYTES + ROW_SLACK);
  pos = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly hash: Hash,
  ) {}

  get full(): boolean {
    return this.pos >= CHUNK_BYTES;
  }

  async flush(): Promise<void> {
    const view = this.buf.subarray(0, this.pos);
    this.hash.update(view);
    let offset = 0;
    while (offset < view.length) {
      const { bytesWritten } = await this.handle.write(view, offset, view.length - offset);
      offset += bytesWritten;
    }
    this.pos = 0;
  }

  bytes(b: Uint8Array): void {
    // A plain loop beats TypedArray.set for the short fields written here.
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < b.length; i++) buf[p++] = b[i]!;
    this.pos = p;
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  uint(n: number): void {
    if (n < 10) {
      this.buf[this.pos++] = ZERO + n;
      return;
    }
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    for (let m = n; digits > 0; digits--) {
      const q = Math.floor(m / 10);
      this.buf[--p] = ZERO + (m - q * 10);
      m = q;
    }
  }

  /** A value already rounded to `decimals` places, printed with exactly that many. */
  fixed(x: number, decimals: 1 | 2): void {
    const scale = decimals === 1 ? 10 : 100;
    let n = Math.round(x * scale);
    if (n < 0) {
      this.byte(MINUS);
      n = -n;
    }
    const whole = Math.floor(n / scale);
    const frac = n - whole * scale;
    this.uint(whole);
    this.byte(DOT);
    if (decimals === 2 && frac < 10) this.byte(ZERO);
    this.uint(frac);
  }

  /** Empty field for a missing value. */
  optionalFixed(x: number, decimals: 1 | 2): void {
    if (!Number.isNaN(x)) this.fixed(x, decimals);
  }

  int(n: number): void {
    if (n < 0) {
      this.byte(MINUS);
      n = -n;
    }
    this.uint(n);
  }

  /** Whole votes as integers (the 7-point scale); averaged votes with up to two decimals. */
  vote(v: number): void {
    const hundredths = Math.round(v * 100);
    if (hundredths % 100 === 0) this.int(hundredths / 100);
    else if (hundredths % 10 === 0) this.fixed(hundredths / 100, 1);
    else this.fixed(hundredths / 100, 2);
  }
}

export interface GeneratedCsv {
  path: string;
  sha256: string;
  rows: number;
}

/**
 * Streams generated rows to `path` in 1 MiB chunks (never the whole file in memory), hashing as
 * it goes. Writes a temporary sibling and renames it over the target after fsync, so a reader
 * sees the old file or the complete new one, never a torn file.
 */
export async function writeGeneratedCsv(path: string, options: GenerateOptions): Promise<GeneratedCsv> {
  const source = new ThermalComfortSource(options);
  const hash = createHash("sha256");
  const encode = (s: string) => Buffer.from(s, "utf8");
  // building_id,…: the per-building fields and the per-day fields are fixed, so encode them once.
  const buildingHead = source.buildings.map((b) => encode(`${csvField(b.id)},`));
  const buildingTail = source.buildings.map((b) => encode(`,${csvField(BUILDING_TYPES[b.type]!)},${csvField(COOLING_TYPES[b.cooling]!)},`));
  const dayFields = source.days.map((d) => encode(`${csvField(d.date)},${csvField(SEASONS[d.season]!)}`));

  let rows = 0;
  await writeStreamAtomic(path, async (handle) => {
    const out = new ByteSink(handle, hash);
    out.bytes(encode(THERMAL_COMFORT_COLUMNS.map(csvField).join(",") + "\n"));
    const r = source.row;
    while (source.next()) {
      out.uint(r.recordId);
      out.byte(COMMA);
      out.bytes(buildingHead[r.building]!);
      out.bytes(dayFields[r.day]!);
      out.bytes(buildingTail[r.building]!);
      out.fixed(r.ta, 1);
      out.byte(COMMA);
      out.optionalFixed(r.tr, 1);
      out.byte(COMMA);
      out.uint(r.rh);
      out.byte(COMMA);
      out.optionalFixed(r.vel, 2);
      out.byte(COMMA);
      out.fixed(r.clo, 2);
      out.byte(COMMA);
      out.fixed(r.met, 2);
      out.byte(COMMA);
      out.optionalFixed(r.tOut, 1);
      out.byte(COMMA);
      out.vote(r.vote);
      out.byte(COMMA);
      out.fixed(r.pmv, 2);
      out.byte(COMMA);
      out.fixed(r.ppd, 1);
      out.byte(NEWLINE);
      rows++;
      if (out.full) await out.flush();
    }
    await out.flush();
  });
  return { path, sha256: hash.digest("hex"), rows };
}
