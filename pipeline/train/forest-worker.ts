import { parentPort } from "node:worker_threads";
import { fitForestMemberPacked, packedBuffers, type ForestJob } from "./forest.js";

/**
 * Fits the forest members the main thread asks for. The worker outlives one fit (forest.ts keeps a pool):
 * `{ id, job }` sets the forest to fit, `{ id, index }` asks for one member of it.
 */
const port = parentPort;
if (!port) throw new Error("forest-worker must run as a worker thread");
let job: ForestJob | null = null;
let jobId = -1;
port.on("message", (m: { id: number; job?: ForestJob; index?: number }) => {
  if (m.job) {
    job = m.job;
    jobId = m.id;
    return;
  }
  const index = m.index!;
  try {
    if (!job || m.id !== jobId) throw new Error(`no forest ${m.id} to fit tree ${index} of`);
    // Typed arrays with transferred buffers: far cheaper for the main thread than cloning JS arrays.
    const tree = fitForestMemberPacked(job, index);
    port.postMessage({ id: m.id, index, tree }, packedBuffers(tree));
  } catch (err) {
    port.postMessage({ id: m.id, index, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
