import { parentPort, workerData } from "node:worker_threads";
import { fitForestMember, packedBuffers, packTree, type ForestJob } from "./forest.js";

/** Fits the forest members the main thread asks for, one tree index per message. */
const job = workerData as ForestJob;
const port = parentPort;
if (!port) throw new Error("forest-worker must run as a worker thread");
port.on("message", (index: number) => {
  try {
    // Typed arrays with transferred buffers: far cheaper for the main thread than cloning JS arrays.
    const tree = packTree(fitForestMember(job, index), job.nClasses);
    port.postMessage({ index, tree }, packedBuffers(tree));
  } catch (err) {
    port.postMessage({ index, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
});
