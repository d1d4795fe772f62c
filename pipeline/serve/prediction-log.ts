import { pino, type DestinationStream, type LevelWithSilent } from "pino";
import type { PreparedValue } from "../model/input-contract.js";

/**
 * The one JSON line per prediction, written straight to the log destination in the shape pino
 * writes every other line (`severity`, `time`, `service`, `revision`, then the fields). Its fields
 * are fixed and their values are the contract-checked record (finite numbers, text, null), so the
 * line is assembled from pre-quoted keys instead of pino's generic walk: a third of the cost per
 * line, which at one line per prediction was the largest piece of the handler.
 *
 * Turning numbers into text was then most of what was left (about 110–165 ns per `String(x)`, nine
 * numbers a line), so: the inputs' texts are remembered per feature (measured values repeat: a
 * sensor's readings, a form's choices), `confidence` is written to 6 decimals and `latency_ms` to 3
 * (1 µs) with integer arithmetic, and a batch's records, which share one latency, format it once.
 * The answer itself always carries the exact probabilities.
 */
export interface PredictionLine {
  requestId: string;
  record: Readonly<Record<string, PreparedValue>>;
  cls: string;
  confidence: number;
  latencyMs: number;
  modelVersion: string;
  warnings: number;
}

export interface PredictionLog {
  write(line: PredictionLine): void;
}

const jsonNumber = (x: number): string => (Number.isFinite(x) ? String(x) : "null");

// Printable ASCII but the quote and the backslash: what JSON.stringify writes unchanged.
const PLAIN_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** JSON.stringify(id), without its copy for an id that needs no escaping (most are uuids). */
const quotedId = (id: string): string => (PLAIN_TEXT.test(id) ? `"${id}"` : JSON.stringify(id));

const ZEROS = ["", "0", "00", "000", "0000", "00000", "000000"];

/**
 * x rounded to `digits` decimals, as JSON.stringify writes the rounded number (`0.5`, `1`, `0.000123`,
 * `-2.25`), from the integer count of units: `String` of a small integer is V8's fast path.
 * Outside ±2^31 units it falls back to String. (Units of 1e-6 never need JSON's exponent form,
 * which starts below 1e-6.)
 */
export function decimalText(x: number, digits: 3 | 6): string {
  const scale = digits === 3 ? 1e3 : 1e6;
  const units = Math.round(x * scale);
  if (!Number.isFinite(units) || units > 0x7fffffff || units < -0x7fffffff) return jsonNumber(units / scale);
  if (units === 0) return "0";
  const negative = units < 0;
  const abs = negative ? -units : units;
  const whole = Math.floor(abs / scale);
  let frac = abs - whole * scale;
  let fracDigits = digits as number;
  while (frac % 10 === 0 && fracDigits > 0) {
    frac /= 10;
    fracDigits--;
  }
  let text = String(whole);
  if (fracDigits > 0) {
    const f = String(frac);
    text += "." + ZEROS[fracDigits - f.length]! + f;
  }
  return negative ? "-" + text : text;
}

/** String(x) remembered in a direct-mapped table keyed by the double's bits (a miss costs one String). */
function numberTexts(size = 4096): (x: number) => string {
  const keys = new Float64Array(size).fill(NaN);
  const texts: string[] = new Array<string>(size).fill("");
  const bits = new Float64Array(1);
  const words = new Uint32Array(bits.buffer);
  const shift = 32 - Math.log2(size);
  return (x) => {
    bits[0] = x;
    const slot = Math.imul(words[0]! ^ words[1]!, 0x9e3779b1) >>> shift;
    // -0 === 0, but JSON writes both as "0", so sharing a slot is harmless.
    if (keys[slot] === x) return texts[slot]!;
    const text = jsonNumber(x);
    keys[slot] = x;
    texts[slot] = text;
    return text;
  };
}

export function createPredictionLog(options: {
  destination: DestinationStream;
  level: LevelWithSilent;
  service: string | null;
  revision: string | null;
  /** `,"time":"…"`, as pino's timestamp option returns it. */
  time: () => string;
  /** The record's fields in the order they are written. */
  fields: readonly string[];
  /** Per field, the values whose quoted text is computed once (a category feature's categories). */
  knownTexts?: Readonly<Record<string, readonly string[]>>;
}): PredictionLog {
  // pino's own level numbers (silent is Infinity): below info no prediction line is written.
  if (options.level === "silent" || pino.levels.values[options.level]! > pino.levels.values.info!) return { write: () => {} };
  const head = `{"severity":"INFO"`;
  const base = `,"service":${JSON.stringify(options.service)},"revision":${JSON.stringify(options.revision)},"event":"prediction","request_id":`;
  const keys = options.fields.map((f, i) => `${i === 0 ? "" : ","}${JSON.stringify(f)}:`);
  const { destination, time, fields } = options;
  const numbers = fields.map(() => numberTexts());
  const quoted = fields.map((f) => new Map((options.knownTexts?.[f] ?? []).map((v) => [v, JSON.stringify(v)])));
  let lastLatency = NaN;
  let lastLatencyText = "null";
  // The class and the version are a handful of texts: quoted once each (a bounded few).
  const quotedTexts = new Map<string, string>();
  const quotedText = (text: string): string => {
    let q = quotedTexts.get(text);
    if (q === undefined) {
      q = JSON.stringify(text);
      if (quotedTexts.size < 64) quotedTexts.set(text, q);
    }
    return q;
  };
  // The line's start changes with its time only (one text per millisecond).
  let lastTime = "";
  let start = "";
  return {
    write(p) {
      const t = time();
      if (t !== lastTime) {
        lastTime = t;
        start = head + t + base;
      }
      let input = "{";
      for (let i = 0; i < fields.length; i++) {
        const v = p.record[fields[i]!];
        input += keys[i]! + (typeof v === "number" ? numbers[i]!(v) : typeof v === "string" ? (quoted[i]!.get(v) ?? JSON.stringify(v)) : "null");
      }
      if (p.latencyMs !== lastLatency) {
        lastLatency = p.latencyMs;
        lastLatencyText = Number.isFinite(p.latencyMs) ? decimalText(p.latencyMs, 3) : "null";
      }
      const confidence = Number.isFinite(p.confidence) ? decimalText(p.confidence, 6) : "null";
      destination.write(
        `${start}${quotedId(p.requestId)},"input":${input}},"class":${quotedText(p.cls)},"confidence":${confidence},"latency_ms":${lastLatencyText},"model_version":${quotedText(p.modelVersion)},"warnings":${p.warnings}}\n`,
      );
    },
  };
}
