import { writeSync } from "node:fs";
import { workerData } from "node:worker_threads";
import { coalescingDestination } from "./log-destination.js";
import { CTL, logRingReader } from "./log-ring.js";
import type { LogThreadData } from "./log-thread.js";
import { createPredictionLog } from "./prediction-log.js";

/** The log thread (log-thread.ts): takes the lines from the ring, formats the predictions, writes stdout. */
const data = workerData as LogThreadData & { fd: number };
const control = new Int32Array(data.buffers.control);
const reader = logRingReader(data.buffers, data.shape);
const pause = new Int32Array(new SharedArrayBuffer(4));

/** All of `chunk` to the file descriptor, waiting while a non-blocking pipe is full. */
function writeAll(chunk: Buffer): void {
  let at = 0;
  while (at < chunk.length) {
    try {
      at += writeSync(data.fd, chunk, at, chunk.length - at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

const out = coalescingDestination({ write: writeAll }, { minLength: 64 * 1024, flushIntervalMs: 60_000 });
let timeMs = NaN;
let timeText = "";
const log = createPredictionLog({ destination: out, level: "info", ...data.format, time: () => timeText, fields: data.shape.fields, knownTexts: data.shape.knownTexts });
const raw = (line: string) => out.write(line);
const prediction = (p: Parameters<typeof log.write>[0], ms: number) => {
  if (ms !== timeMs) {
    timeMs = ms;
    timeText = `,"time":"${new Date(ms).toISOString()}"`;
  }
  log.write(p);
};

// Lines are written at least this often; the ring is looked at every POLL_MS while lines come, less
// often (up to IDLE_MS) while none do.
const FLUSH_MS = 250;
const POLL_MS = 2;
const IDLE_MS = 100;
let lastFlush = Date.now();
let wait = POLL_MS;
for (;;) {
  const bell = Atomics.load(control, CTL.bell);
  // Read before the ring: every line written before a flush was asked for is then in this drain.
  const asked = Atomics.load(control, CTL.flushAsked);
  const lines = reader.drain(raw, prediction);
  wait = lines > 0 ? POLL_MS : Math.min(IDLE_MS, wait * 2);
  const now = Date.now();
  if (asked !== Atomics.load(control, CTL.flushDone) || now - lastFlush >= FLUSH_MS) {
    out.flushSync();
    lastFlush = now;
    Atomics.store(control, CTL.flushDone, asked);
    Atomics.notify(control, CTL.flushDone);
  }
  Atomics.wait(control, CTL.bell, bell, wait);
}
