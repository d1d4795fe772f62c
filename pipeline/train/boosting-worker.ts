import { parentPort, workerData } from "node:worker_threads";
import { GradientTreeGrower, type BoostingWorkerData } from "./boosting.js";

/** Grows the class trees the main thread asks for (one class index per message) on the shared gradients. */
const job = workerData as BoostingWorkerData;
const port = parentPort;
if (!port) throw new Error("boosting-worker must run as a worker thread");
const grower = new GradientTreeGrower(job.data, job.params);
port.on("message", (k: number) => {
  try {
    const tree = grower.grow(job.gh[k]!);
    tree.leafValues(job.delta[k]!);
    port.postMessage({ k, tree: tree.plain() });
  } catch (err) {
    port.postMessage({ k, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
