import { workerData, parentPort } from "node:worker_threads";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { predictorFromPacked, type PackedForest } from "../model/predictor.js";
import { batchItemsWriter } from "./batch-items.js";
import type { BatchJob, BatchThreadData } from "./batch-helpers.js";

/** A batch helper thread (see batch-helpers.ts): walks the rows it is given and writes their items. */
if (!parentPort) throw new Error("batch-worker must run as a worker thread");
const data = workerData as BatchThreadData;
const model = data.model as ModelArtifact;
const predictor = predictorFromPacked(model, data.packed as PackedForest);
const width = predictor.contract.width;
const k = model.classes.length;
const matrix = new Float64Array(data.matrix);
const proba = new Float64Array(data.proba);
const classIndex = new Int32Array(data.classIndex);
const done = new Int32Array(data.done);
const writeItems = batchItemsWriter(model.classes);
const port = data.port;

port.on("message", (job: BatchJob) => {
  const { from, to } = job;
  predictor.predictRows(matrix.subarray(from * width, to * width), to - from, width, proba.subarray(from * k, to * k));
  predictor.chooseClasses(proba, from, to, classIndex);
  // The answer is on the port before the flag says so: the waiting thread reads it synchronously.
  port.postMessage(writeItems({ requestId: job.requestId, proba, classIndex, warnings: new Map(job.warnings) }, from, to));
  Atomics.store(done, data.index, 1);
  Atomics.notify(done, data.index);
});
parentPort.postMessage("ready");
