import type { PredictionLine } from "./prediction-log.js";

/**
 * Log lines passed from the request thread to the log thread (log-thread.ts) through shared memory.
 *
 * The request thread puts each line in a ring of 8-byte words: a prediction as its values (the
 * time, the numbers, each text as its index among the texts known in advance, the request id's
 * bytes), any other line as its UTF-8 bytes. The log thread takes them in order and writes them as
 * the request thread would have (prediction-log.ts formats both), so the request thread's cost of a
 * prediction line is copying a few numbers. Nothing is signalled per line: the reader looks every
 * few milliseconds, and a signal would cost a system call per line on the writing side.
 *
 * One writer and one reader. `write` and `read` are word offsets in [0, capacity); the ring is empty
 * when they are equal, so the writer always leaves a word free. An entry never wraps: one that does
 * not fit before the end leaves a WRAP word and starts again at 0.
 */

export const CTL = { write: 0, read: 1, bell: 2, flushAsked: 3, flushDone: 4 } as const;
const CONTROL_WORDS = 8;

const RAW = 1;
const PREDICTION = 2;
const WRAP = 3;

/** Longest request id carried as bytes; a longer one goes as a formatted line. */
const MAX_ID = 128;

/** What a prediction line's texts are indexed in (the same on both threads). */
export interface PredictionShape {
  fields: readonly string[];
  knownTexts: Readonly<Record<string, readonly string[]>>;
  classes: readonly string[];
  versions: readonly string[];
}

export interface LogRingBuffers {
  data: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export function newLogRing(bytes: number): LogRingBuffers {
  const words = Math.max(256, Math.floor(bytes / 8));
  return { data: new SharedArrayBuffer(words * 8), control: new SharedArrayBuffer(CONTROL_WORDS * 4) };
}

interface Views {
  words: Float64Array;
  ints: Int32Array;
  bytes: Buffer;
  control: Int32Array;
  capacity: number;
}

function views(buffers: LogRingBuffers): Views {
  const words = new Float64Array(buffers.data);
  return { words, ints: new Int32Array(buffers.data), bytes: Buffer.from(buffers.data), control: new Int32Array(buffers.control), capacity: words.length };
}

export interface LogRingWriter {
  /** A line as text; false when the ring is full (the line is not written). */
  raw(line: string): boolean;
  /**
   * A prediction line as values: "full" when the ring has no room, "text" when one of its pieces is
   * not among the known texts or ids (the caller then writes it formatted, with `raw`).
   */
  prediction(p: PredictionLine): "ok" | "full" | "text";
}

/** `now` is the clock of the lines' time (milliseconds since 1970). */
export function logRingWriter(buffers: LogRingBuffers, shape: PredictionShape, now: () => number = Date.now): LogRingWriter {
  const { words, ints, bytes, control, capacity } = views(buffers);
  const fieldCount = shape.fields.length;
  const known = shape.fields.map((f) => new Map((shape.knownTexts[f] ?? []).map((t, i) => [t, i])));
  const classIndex = new Map(shape.classes.map((c, i) => [c, i]));
  const versionIndex = new Map(shape.versions.map((v, i) => [v, i]));
  const tagWords = Math.ceil(fieldCount / 8);
  let w = Atomics.load(control, CTL.write);

  /** The first word of `n` free contiguous words (a WRAP word left when they start again at 0), or -1. */
  const reserve = (n: number): number => {
    const r = Atomics.load(control, CTL.read);
    if (w >= r) {
      // w + n <= capacity - 1 keeps a word for a later WRAP.
      if (capacity - w > n) return w;
      if (n < r) {
        ints[2 * w] = WRAP;
        return 0;
      }
      return -1;
    }
    return r - w > n ? w : -1;
  };
  const publish = (end: number) => {
    w = end;
    Atomics.store(control, CTL.write, end);
  };

  return {
    raw(line) {
      const most = 2 + Math.ceil((3 * line.length) / 8);
      const at = reserve(most);
      if (at < 0) return false;
      const length = bytes.write(line, (at + 2) * 8, "utf8");
      const n = 2 + Math.ceil(length / 8);
      ints[2 * at] = RAW;
      ints[2 * at + 1] = n;
      ints[2 * at + 2] = length;
      publish(at + n);
      return true;
    },
    prediction(p) {
      const cls = classIndex.get(p.cls);
      const version = versionIndex.get(p.modelVersion);
      const id = p.requestId;
      if (cls === undefined || version === undefined || id.length > MAX_ID || !(p.warnings >= 0 && p.warnings <= 0x7fffffff && Number.isInteger(p.warnings))) return "text";
      const n = 6 + fieldCount + tagWords + Math.ceil(id.length / 8);
      const at = reserve(n);
      if (at < 0) return "full";
      const tagsAt = (at + 6 + fieldCount) * 8;
      const record = p.record;
      for (let i = 0; i < fieldCount; i++) {
        const v = record[shape.fields[i]!];
        if (typeof v === "number") {
          bytes[tagsAt + i] = 0;
          words[at + 6 + i] = v;
        } else if (typeof v === "string") {
          const index = known[i]!.get(v);
          // Not written: nothing is published until the end.
          if (index === undefined) return "text";
          bytes[tagsAt + i] = 2;
          words[at + 6 + i] = index;
        } else bytes[tagsAt + i] = 1;
      }
      const idAt = (at + 6 + fieldCount + tagWords) * 8;
      for (let j = 0; j < id.length; j++) {
        const c = id.charCodeAt(j);
        // Printable ASCII but the quote and the backslash: a JSON string writes it as it is.
        if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return "text";
        bytes[idAt + j] = c;
      }
      ints[2 * at] = PREDICTION;
      ints[2 * at + 1] = n;
      words[at + 1] = now();
      words[at + 2] = p.confidence;
      words[at + 3] = p.latencyMs;
      ints[2 * (at + 4)] = p.warnings;
      ints[2 * (at + 4) + 1] = cls;
      ints[2 * (at + 5)] = version;
      ints[2 * (at + 5) + 1] = id.length;
      publish(at + n);
      return "ok";
    },
  };
}

export interface LogRingReader {
  /** Takes every line written so far, in order: each to `raw` or `prediction` (with the time it was written). */
  drain(raw: (line: string) => void, prediction: (p: PredictionLine, timeMs: number) => void): number;
}

export function logRingReader(buffers: LogRingBuffers, shape: PredictionShape): LogRingReader {
  const { words, ints, bytes, control } = views(buffers);
  const fieldCount = shape.fields.length;
  const tagWords = Math.ceil(fieldCount / 8);
  const texts = shape.fields.map((f) => shape.knownTexts[f] ?? []);
  return {
    drain(raw, prediction) {
      let r = Atomics.load(control, CTL.read);
      const end = Atomics.load(control, CTL.write);
      let lines = 0;
      while (r !== end) {
        const kind = ints[2 * r];
        if (kind === WRAP) {
          r = 0;
          continue;
        }
        const n = ints[2 * r + 1]!;
        if (kind === RAW) {
          const length = ints[2 * r + 2]!;
          const at = (r + 2) * 8;
          raw(bytes.toString("utf8", at, at + length));
        } else {
          const tagsAt = (r + 6 + fieldCount) * 8;
          const record: Record<string, number | string | null> = {};
          for (let i = 0; i < fieldCount; i++) {
            const tag = bytes[tagsAt + i];
            record[shape.fields[i]!] = tag === 0 ? words[r + 6 + i]! : tag === 2 ? texts[i]![words[r + 6 + i]!]! : null;
          }
          const idLength = ints[2 * (r + 5) + 1]!;
          const idAt = (r + 6 + fieldCount + tagWords) * 8;
          prediction(
            {
              requestId: bytes.toString("latin1", idAt, idAt + idLength),
              record,
              cls: shape.classes[ints[2 * (r + 4) + 1]!]!,
              confidence: words[r + 2]!,
              latencyMs: words[r + 3]!,
              modelVersion: shape.versions[ints[2 * (r + 5)]!]!,
              warnings: ints[2 * (r + 4)]!,
            },
            words[r + 1]!,
          );
        }
        r += n;
        lines++;
        // Freed as it goes: the writer may use the room at once.
        Atomics.store(control, CTL.read, r);
      }
      return lines;
    },
  };
}
