import { parentPort } from "node:worker_threads";
import { softmaxGradients, treeGrower, type TreeGrower, type BoostingReply, type BoostingRequest, type BoostingWorkerData } from "./boosting.js";

/**
 * Computes the gradients of rows and grows the class trees the main thread asks for, on the shared arrays
 * of the current fit. The worker outlives one fit (boosting.ts keeps a pool): `op: "job"` sets the fit.
 * A tree's leaf values go straight into the shared raw scores: class k's entries are written only by the
 * thread that grows class k's tree, and the main thread reads them only after the reply.
 */
const port = parentPort;
if (!port) throw new Error("boosting-worker must run as a worker thread");
let job: { id: number; data: BoostingWorkerData; grower: TreeGrower; proba: Float64Array } | null = null;
port.on("message", (req: BoostingRequest) => {
  if (req.op === "job") {
    job = { id: req.job, data: req.data, grower: treeGrower(req.data.data, req.data.params, req.data.javascriptGrower), proba: new Float64Array(req.data.gh.length) };
    return;
  }
  let reply: BoostingReply;
  try {
    if (!job || job.id !== req.job) throw new Error(`no boosting fit ${req.job} to work on`);
    const d = job.data;
    const K = d.gh.length;
    if (req.op === "gradients") {
      softmaxGradients(d.raw, job.proba, d.y, d.w, d.gh, req.start, req.end, K);
      reply = { job: req.job, id: req.id };
    } else {
      const tree = job.grower.grow(d.gh[req.k]!);
      tree.addLeafValues(d.raw, K, req.k);
      reply = { job: req.job, id: req.id, tree: tree.plain() };
    }
  } catch (err) {
    reply = { job: req.job, id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  port.postMessage(reply);
});
