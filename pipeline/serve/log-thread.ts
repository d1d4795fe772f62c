import { Worker } from "node:worker_threads";
import { workerEntry } from "../core/worker-entry.js";
import { coalescingDestination, type ByteTarget, type CoalescingDestination } from "./log-destination.js";
import { CTL, logRingReader, logRingWriter, newLogRing, type LogRingBuffers, type LogRingWriter, type PredictionShape } from "./log-ring.js";
import { createPredictionLog, type PredictionFormat, type PredictionLine } from "./prediction-log.js";

/**
 * The server's log destination with a thread of its own for the writing (log-ring.ts says how the
 * lines get there). Until the first prediction, lines are written here, as by the plain destination
 * (log-destination.ts); from then on every line of the process goes through the ring, in order, and
 * the log thread formats the prediction lines and writes all of them to stdout. A server that never
 * predicts never starts the thread (about 10 MB).
 *
 * A full ring (the thread cannot keep up, or stdout takes nothing) drops lines and counts them, as
 * the plain destination does at its bound; the request thread never waits for the log. If the thread
 * dies, what it left in the ring is written here and the destination goes on without it.
 */
export interface ThreadedLogDestination extends CoalescingDestination {
  /** The texts prediction lines are made of; set once the model is loaded, before any prediction. */
  usePredictionShape(shape: PredictionShape, format: PredictionFormat): void;
  /** A prediction line as values; false when it has to be written as text (the caller formats it). */
  writePrediction(line: PredictionLine): boolean;
  /** Whether the log thread is running (tests). */
  readonly threaded: boolean;
}

export interface LogThreadData {
  buffers: LogRingBuffers;
  shape: PredictionShape;
  format: PredictionFormat;
}

export interface ThreadedLogOptions {
  /** Where lines go on this thread: before the log thread starts, and if it dies. */
  target: ByteTarget;
  /** The log thread's own output (default: stdout, fd 1). */
  fd?: number;
  ringBytes?: number;
  onDrop?: (lines: number) => void;
  /** The worker's entry (tests). */
  entry?: URL;
}

// How long an exit waits for the log thread to write what it holds.
const FLUSH_WAIT_MS = 2000;

export function threadedLogDestination(options: ThreadedLogOptions): ThreadedLogDestination {
  const here = coalescingDestination(options.target, { minLength: 64 * 1024, flushIntervalMs: 1000, ...(options.onDrop ? { onDrop: options.onDrop } : {}) });
  let shape: PredictionShape | null = null;
  let format: PredictionFormat | null = null;
  let buffers: LogRingBuffers | null = null;
  let writer: LogRingWriter | null = null;
  let worker: Worker | null = null;
  let control: Int32Array | null = null;
  let dropped = 0;

  const reportDrops = () => {
    if (dropped === 0) return;
    const n = dropped;
    dropped = 0;
    options.onDrop?.(n);
  };

  /** The ring written out here (the log thread is gone) and this thread's destination used from now on. */
  const takeBack = () => {
    if (writer === null) return;
    const reader = logRingReader(buffers!, shape!);
    let timeText = "";
    let timeMs = NaN;
    const log = createPredictionLog({ destination: here, level: "info", ...format!, time: () => timeText, fields: shape!.fields, knownTexts: shape!.knownTexts });
    writer = null;
    reader.drain(
      (line) => here.write(line),
      (p, ms) => {
        if (ms !== timeMs) {
          timeMs = ms;
          timeText = `,"time":"${new Date(ms).toISOString()}"`;
        }
        log.write(p);
      },
    );
  };

  const start = () => {
    buffers = newLogRing(options.ringBytes ?? 4 * 1024 * 1024);
    control = new Int32Array(buffers.control);
    writer = logRingWriter(buffers, shape!);
    const data: LogThreadData & { fd: number } = { buffers, shape: shape!, format: format!, fd: options.fd ?? 1 };
    // What was written here so far goes first.
    try {
      here.flushSync();
    } catch {
      // A destination still opening has nothing written yet.
    }
    worker = new Worker(options.entry ?? workerEntry(import.meta.url, "log-thread-worker"), { workerData: data });
    worker.unref();
    const lost = () => {
      worker = null;
      takeBack();
    };
    worker.once("error", lost);
    worker.once("exit", lost);
  };

  const destination: ThreadedLogDestination = {
    get threaded() {
      return writer !== null;
    },
    usePredictionShape(s, f) {
      shape = s;
      format = f;
    },
    write(line: string) {
      if (writer === null) return here.write(line);
      if (!writer.raw(line)) dropped++;
      else reportDrops();
    },
    writePrediction(line) {
      if (writer === null) {
        if (shape === null || worker !== null || buffers !== null) return false;
        start();
      }
      const done = writer!.prediction(line);
      if (done === "text") return false;
      if (done === "full") dropped++;
      else reportDrops();
      return true;
    },
    flushSync() {
      if (writer !== null && control !== null) {
        const asked = Atomics.add(control, CTL.flushAsked, 1) + 1;
        Atomics.add(control, CTL.bell, 1);
        Atomics.notify(control, CTL.bell);
        const deadline = Date.now() + FLUSH_WAIT_MS;
        for (;;) {
          const done = Atomics.load(control, CTL.flushDone);
          const left = deadline - Date.now();
          if (done >= asked || left <= 0) break;
          Atomics.wait(control, CTL.flushDone, done, left);
        }
      }
      here.flushSync();
    },
  };
  process.once("exit", () => {
    try {
      destination.flushSync();
    } catch {
      // Exiting: nothing else can be done with a line that cannot be written.
    }
  });
  return destination;
}
