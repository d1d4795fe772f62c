import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { ModelArtifact } from "../model/artifact-schema.js";
import type { ForestMemory } from "../model/forest-walk.js";
import { workerEntry } from "../core/worker-entry.js";

/**
 * Threads that walk the forest for a large `POST /predict/batch` while the request's thread checks,
 * logs and monitors it. The batch is cut into chunks of rows. The request's thread checks and encodes
 * the records into a matrix in shared memory and says how far it has got; a helper claims the next
 * chunk (one shared counter), waits until its rows are checked, walks them (the same nodes, shared,
 * not copied) and marks the chunk walked. The request's thread takes the chunks back in row order and
 * answers, logs and monitors each as soon as it is walked, so its own work overlaps the walk instead
 * of waiting for it. When the next chunk is not walked yet and one is left unclaimed, the request's
 * thread walks that one itself: no thread waits while there is work, whatever the machine's speed.
 *
 * Everything is synchronous on the request's thread (Atomics.wait, never the event loop): a batch
 * stays one piece of work with nothing else running in between, so the buffers need no lease.
 * (Waiting through the event loop cost 1–2 ms per batch before a helper's reply was seen.) A helper
 * that does not finish within `timeoutMs` gets no more batches, nor do the others (a late helper
 * could still write into the shared buffers); the request's thread walks what is left, so an answer
 * never depends on the helpers, only the time it takes.
 */

/** Rows per chunk: small enough that the walk starts early, large enough for the tree-by-tree walk to reuse each tree. */
export const BATCH_CHUNK_ROWS = 64;

/** Slots of the control array (Int32, shared). */
export const CTL = {
  /** Rows [0, checked) are encoded in the matrix. */
  checked: 0,
  /** The next chunk to claim (Atomics.add). */
  claim: 1,
  /** 1 when the batch was refused: helpers stop claiming. */
  abort: 2,
  size: 3,
} as const;

/** The job a helper is posted at the start of a batch. */
export interface BatchJob {
  rows: number;
  chunk: number;
}

/** What a helper thread starts with. */
export interface BatchThreadData {
  /** The artifact without its trees (classes, contract, decision weights). */
  model: ModelArtifact;
  /** The forest the request's thread walks (shared memory: one copy for all). */
  forest: ForestMemory;
  matrix: SharedArrayBuffer;
  proba: SharedArrayBuffer;
  classIndex: SharedArrayBuffer;
  control: SharedArrayBuffer;
  /** Int32 per chunk: 0 until walked, then 1 (the request's thread) or 2 + the helper's index. */
  walkedBy: SharedArrayBuffer;
  /** Int32 per helper: 1 from the batch's start until the helper has left it. */
  busy: SharedArrayBuffer;
  index: number;
  port: MessagePort;
}

/** Rows [from, to) of a batch, walked; `helped` when a helper walked them. */
export interface WalkedChunk {
  from: number;
  to: number;
  helped: boolean;
}

/** One batch shared with the helpers. */
export interface SharedBatch {
  /** Row i of the batch is encoded at [i * width, (i + 1) * width). */
  readonly matrix: Float64Array;
  /** k probabilities per row. */
  readonly proba: Float64Array;
  readonly classIndex: Int32Array;
  /** Rows per chunk: report checked(upTo) at least this often. */
  readonly chunkRows: number;
  /** Rows [0, upTo) are encoded: helpers may walk them. */
  checked(upTo: number): void;
  /**
   * The next chunk in row order once it is walked, or null after the last; call after checked(rows).
   * Rather than wait idle, it walks unclaimed chunks here with `walkHere(from, to)` (rows [from, to)
   * of the matrix into proba and classIndex).
   */
  next(walkHere: (from: number, to: number) => void): WalkedChunk | null;
  /** Ends the batch (refused, when not every chunk was taken): returns once no helper is in it. */
  end(): void;
}

export interface BatchHelpers {
  /** Rows a batch may have to use the helpers. */
  readonly capacity: number;
  /** A batch of `rows` rows shared with the ready helpers, or null when none is ready or it does not fit. */
  begin(rows: number): SharedBatch | null;
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
  forest: ForestMemory;
  width: number;
  threads: number;
  capacity: number;
  /** How long a batch waits for a helper before doing the rest itself and dropping the helpers. */
  timeoutMs?: number;
  /** The helper's module (tests give one that fails). */
  entry?: URL;
  chunkRows?: number;
}): BatchHelpers {
  const { width, capacity } = options;
  const timeoutMs = options.timeoutMs ?? 2000;
  const chunkRows = options.chunkRows ?? BATCH_CHUNK_ROWS;
  const k = options.model.classes.length;
  const light: ModelArtifact = { ...options.model, model: { ...options.model.model, trees: [] } };
  const buffers = {
    matrix: new SharedArrayBuffer(capacity * width * 8),
    proba: new SharedArrayBuffer(capacity * k * 8),
    classIndex: new SharedArrayBuffer(capacity * 4),
    control: new SharedArrayBuffer(CTL.size * 4),
    walkedBy: new SharedArrayBuffer(Math.ceil(capacity / chunkRows) * 4),
    busy: new SharedArrayBuffer(options.threads * 4),
  };
  const control = new Int32Array(buffers.control);
  const walkedBy = new Int32Array(buffers.walkedBy);
  const busy = new Int32Array(buffers.busy);
  const views = { matrix: new Float64Array(buffers.matrix), proba: new Float64Array(buffers.proba), classIndex: new Int32Array(buffers.classIndex) };
  const entry = options.entry ?? workerEntry(import.meta.url, "batch-worker");
  const helpers: Helper[] = [];
  for (let index = 0; index < options.threads; index++) {
    const { port1, port2 } = new MessageChannel();
    const data: BatchThreadData = { model: light, forest: options.forest, ...buffers, index, port: port2 };
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
  // Once a helper was late, none is used again: it might still write into the shared buffers.
  let trusted = true;
  const dropAll = () => {
    trusted = false;
    for (const h of helpers) {
      h.alive = false;
      void h.worker.terminate();
    }
  };
  return {
    capacity,
    begin(rows) {
      const current = trusted ? helpers.filter((h) => h.alive && h.ready) : [];
      if (rows > capacity || current.length === 0) return null;
      const chunks = Math.ceil(rows / chunkRows);
      Atomics.store(control, CTL.checked, 0);
      Atomics.store(control, CTL.claim, 0);
      Atomics.store(control, CTL.abort, 0);
      walkedBy.fill(0, 0, chunks);
      const job: BatchJob = { rows, chunk: chunkRows };
      for (const h of current) {
        Atomics.store(busy, h.index, 1);
        h.port.postMessage(job);
      }
      let cursor = 0;
      let ended = false;
      const bounds = (j: number): [number, number] => [j * chunkRows, Math.min(rows, (j + 1) * chunkRows)];
      return {
        ...views,
        chunkRows,
        checked(upTo) {
          Atomics.store(control, CTL.checked, upTo);
          Atomics.notify(control, CTL.checked);
        },
        next(walkHere) {
          if (cursor >= chunks) return null;
          const j = cursor++;
          const walkChunkHere = (c: number) => {
            const [from, to] = bounds(c);
            walkHere(from, to);
            Atomics.store(walkedBy, c, 1);
          };
          while (Atomics.load(walkedBy, j) === 0) {
            if (!trusted) {
              walkChunkHere(j);
              break;
            }
            const free = Atomics.add(control, CTL.claim, 1);
            if (free < chunks) {
              walkChunkHere(free);
              continue;
            }
            if (Atomics.wait(walkedBy, j, 0, timeoutMs) === "timed-out") dropAll();
          }
          const [from, to] = bounds(j);
          return { from, to, helped: Atomics.load(walkedBy, j) >= 2 };
        },
        end() {
          if (ended) return;
          ended = true;
          if (cursor < chunks) {
            Atomics.store(control, CTL.abort, 1);
            // A new value too, so a helper about to wait on the old one does not sleep through this.
            Atomics.store(control, CTL.checked, -1);
            Atomics.notify(control, CTL.checked);
          }
          // A helper seen to exit is not waited for: it will never leave the batch.
          for (const h of current) {
            if (trusted && h.alive && Atomics.wait(busy, h.index, 1, timeoutMs) === "timed-out") dropAll();
          }
        },
      };
    },
    async close() {
      await Promise.all(helpers.map((h) => h.worker.terminate()));
      for (const h of helpers) h.port.close();
    },
  };
}
