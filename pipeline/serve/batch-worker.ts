import { workerData, parentPort } from "node:worker_threads";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { predictorFromForest } from "../model/predictor.js";
import { CTL, type BatchJob, type BatchThreadData } from "./batch-helpers.js";

/** A batch helper thread (see batch-helpers.ts): claims chunks of a batch, waits for their rows to be checked, walks them. */
if (!parentPort) throw new Error("batch-worker must run as a worker thread");
const data = workerData as BatchThreadData;
const model = data.model as ModelArtifact;
const predictor = predictorFromForest(model, data.forest);
const width = predictor.contract.width;
const k = model.classes.length;
const matrix = new Float64Array(data.matrix);
const proba = new Float64Array(data.proba);
const classIndex = new Int32Array(data.classIndex);
const control = new Int32Array(data.control);
const walkedBy = new Int32Array(data.walkedBy);
const busy = new Int32Array(data.busy);
const port = data.port;

/** Waits until rows [0, upTo) are checked; false when the batch was refused meanwhile. */
function checkedUpTo(upTo: number): boolean {
  for (;;) {
    if (Atomics.load(control, CTL.abort) !== 0) return false;
    const checked = Atomics.load(control, CTL.checked);
    if (checked >= upTo) return true;
    Atomics.wait(control, CTL.checked, checked);
  }
}

port.on("message", (job: BatchJob) => {
  const chunks = Math.ceil(job.rows / job.chunk);
  for (;;) {
    if (Atomics.load(control, CTL.abort) !== 0) break;
    const j = Atomics.add(control, CTL.claim, 1);
    if (j >= chunks) break;
    const from = j * job.chunk;
    const to = Math.min(job.rows, from + job.chunk);
    if (!checkedUpTo(to)) break;
    predictor.predictRows(matrix.subarray(from * width, to * width), to - from, width, proba.subarray(from * k, to * k));
    predictor.chooseClasses(proba, from, to, classIndex);
    Atomics.store(walkedBy, j, 2 + data.index);
    Atomics.notify(walkedBy, j);
  }
  Atomics.store(busy, data.index, 0);
  Atomics.notify(busy, data.index);
});
parentPort.postMessage("ready");
