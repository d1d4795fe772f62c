import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import type { ModelArtifact } from "../model/artifact-schema.js";
import type { FieldProblem } from "../model/input-contract.js";
import { sharedPackedForest, type PackedForest } from "../model/predictor.js";
import { workerEntry } from "../core/worker-entry.js";

/**
 * Threads that take a share of a large `POST /predict/batch`. The request's thread checks and encodes
 * every record into a matrix in shared memory; each helper walks the forest (the same nodes, shared,
 * not copied) for its range of rows and writes those rows' answer items, while the request's thread
 * does its own range and logs, counts and monitors it; then it does the same for the helpers' rows.
 *
 * The request's thread waits for its helpers synchronously (Atomics.wait on a flag the helper sets,
 * then receiveMessageOnPort): the batch stays one synchronous piece of work, as it is without
 * helpers, so no other request runs in between and the buffers need no lease. (Waiting through the
 * event loop instead cost 1–2 ms per batch before the reply was seen, as long as a helper's share.)
 * A helper that fails or does not answer within `timeoutMs` is not used again; its rows are done on
 * the request's thread, so the answer never depends on the helpers, only the time it takes.
 */

/** One helper's share of a batch (rows [from, to) of the shared matrix). */
export interface BatchJob {
  from: number;
  to: number;
  requestId: string;
  /** [row index, warnings] for the rows of the range that have warnings. */
  warnings: [number, readonly FieldProblem[]][];
}

/** What a helper thread starts with. */
export interface BatchThreadData {
  /** The artifact without its trees (classes, contract, decision weights). */
  model: ModelArtifact;
  packed: PackedForest;
  matrix: SharedArrayBuffer;
  proba: SharedArrayBuffer;
  classIndex: SharedArrayBuffer;
  /** Int32 per helper: 1 once its answer to the current job is on its port. */
  done: SharedArrayBuffer;
  index: number;
  port: MessagePort;
}

export interface BatchBuffers {
  /** Row i of the batch is encoded at [i * width, (i + 1) * width). */
  readonly matrix: Float64Array;
  /** k probabilities per row. */
  readonly proba: Float64Array;
  readonly classIndex: Int32Array;
  /** Helpers ready to take a share: helper h is 0 … helpers - 1. */
  readonly helpers: number;
}

export interface BatchHelpers {
  /** Rows a batch may have to use the helpers. */
  readonly capacity: number;
  /** The shared buffers and the ready helpers for a batch of `rows` rows; null when none is ready or the batch does not fit. */
  acquire(rows: number): BatchBuffers | null;
  /** Hands rows [from, to) to helper h (of the last acquire) and returns at once. */
  start(helper: number, job: BatchJob): void;
  /** Waits for helper h's rows: their items, or null when it failed (then predict them here). */
  finish(helper: number): string | null;
  close(): Promise<void>;
}

interface Helper {
  worker: Worker;
  port: MessagePort;
  /** Set by its first message (the model is loaded): until then batches go on without it. */
  ready: boolean;
  alive: boolean;
  index: number;
}

export function startBatchHelpers(options: {
  model: ModelArtifact;
  packed: PackedForest;
  width: number;
  threads: number;
  capacity: number;
  /** How long a batch waits for a helper's share before doing it itself and dropping the helper. */
  timeoutMs?: number;
  /** The helper's module (tests give one that fails). */
  entry?: URL;
}): BatchHelpers {
  const { width, capacity } = options;
  const timeoutMs = options.timeoutMs ?? 2000;
  const k = options.model.classes.length;
  const light: ModelArtifact = { ...options.model, model: { ...options.model.model, trees: [] } };
  const packed = sharedPackedForest(options.packed);
  const buffers = {
    matrix: new SharedArrayBuffer(capacity * width * 8),
    proba: new SharedArrayBuffer(capacity * k * 8),
    classIndex: new SharedArrayBuffer(capacity * 4),
    done: new SharedArrayBuffer(options.threads * 4),
  };
  const done = new Int32Array(buffers.done);
  const views = { matrix: new Float64Array(buffers.matrix), proba: new Float64Array(buffers.proba), classIndex: new Int32Array(buffers.classIndex) };
  const entry = options.entry ?? workerEntry(import.meta.url, "batch-worker");
  const helpers: Helper[] = [];
  for (let index = 0; index < options.threads; index++) {
    const { port1, port2 } = new MessageChannel();
    const data: BatchThreadData = { model: light, packed, ...buffers, index, port: port2 };
    const h: Helper = { worker: new Worker(entry, { workerData: data, transferList: [port2] }), port: port1, ready: false, alive: true, index };
    h.worker.once("message", () => {
      h.ready = true;
    });
    const lost = () => {
      h.alive = false;
    };
    h.worker.on("error", lost);
    h.worker.on("exit", lost);
    // An idle helper does not keep the process alive.
    h.worker.unref();
    helpers.push(h);
  }
  let current: Helper[] = [];
  const drop = (h: Helper) => {
    h.alive = false;
    void h.worker.terminate();
  };
  return {
    capacity,
    acquire(rows) {
      current = helpers.filter((h) => h.alive && h.ready);
      if (rows > capacity || current.length === 0) return null;
      return { ...views, helpers: current.length };
    },
    start(helper, job) {
      const h = current[helper]!;
      Atomics.store(done, h.index, 0);
      h.port.postMessage(job);
    },
    finish(helper) {
      const h = current[helper]!;
      if (!h.alive) return null;
      if (Atomics.wait(done, h.index, 0, timeoutMs) === "timed-out") {
        drop(h);
        return null;
      }
      const reply = receiveMessageOnPort(h.port);
      if (reply === undefined || typeof reply.message !== "string") {
        drop(h);
        return null;
      }
      return reply.message;
    },
    async close() {
      await Promise.all(helpers.map((h) => h.worker.terminate()));
      for (const h of helpers) h.port.close();
    },
  };
}
