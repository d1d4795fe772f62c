import { parentPort } from "node:worker_threads";
import { GradientTreeGrower, softmaxGradients, type BoostingReply, type BoostingRequest, type BoostingWorkerData } from "./boosting.js";
import { WasmBoostingThread } from "./boosting-grower.js";

/**
 * Computes the gradients of rows and grows the class trees the main thread asks for. The worker outlives
 * one fit (boosting.ts keeps a pool): `op: "job"` or `"wasm-job"` sets the fit.
 * - A fit in JavaScript shares its arrays; a tree's leaf values go straight into the shared raw scores
 *   (class k's entries are written only by the thread that grows class k's tree, and the main thread
 *   reads them only after the reply), and the tree is posted back.
 * - A fit in WebAssembly shares the module's memory: this thread runs its own instance on it, and posts
 *   back copies of the tree's node arrays.
 */
const port = parentPort;
if (!port) throw new Error("boosting-worker must run as a worker thread");
type Job = { id: number; kind: "js"; data: BoostingWorkerData; grower: GradientTreeGrower; proba: Float64Array } | { id: number; kind: "wasm"; thread: WasmBoostingThread };
let job: Job | null = null;
/** What a failed request replies: the error with its stack (the main thread wraps it in "boosting worker failed"). */
const failure = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err));
/** Why the last job could not be set: its fit's requests fail with it (the fit waits on requests, not on the job). */
let jobError: { id: number; message: string } | null = null;
port.on("message", (req: BoostingRequest) => {
  let reply: BoostingReply;
  try {
    if (req.op === "job" || req.op === "wasm-job") jobError = null;
    if (req.op === "job") {
      job = { id: req.job, kind: "js", data: req.data, grower: new GradientTreeGrower(req.data.data, req.data.params), proba: new Float64Array(req.data.gh.length) };
      return;
    }
    if (req.op === "wasm-job") {
      job = null;
      job = { id: req.job, kind: "wasm", thread: new WasmBoostingThread(req.fit, req.thread) };
      return;
    }
    if (jobError && jobError.id === req.job) throw new Error(jobError.message);
    if (!job || job.id !== req.job) throw new Error(`no boosting fit ${req.job} to work on`);
    if (job.kind === "wasm") {
      if (req.op === "wasm-gradients") {
        job.thread.gradients(req.start, req.end);
        reply = { job: req.job, id: req.id };
      } else if (req.op === "wasm-tree") {
        const thread = job.thread;
        try {
          reply = { job: req.job, id: req.id, wasmTree: thread.growAndApply(req.k, true) };
        } catch (err) {
          reply = { job: req.job, id: req.id, error: failure(err) };
        }
        port.postMessage(reply);
        // Even after an error: the calling thread's tree waits for the help.
        if (req.help !== 0) thread.help(req.help);
        return;
      } else throw new Error(`a WebAssembly fit takes no ${req.op} request`);
    } else {
      const d = job.data;
      const K = d.gh.length;
      if (req.op === "gradients") {
        softmaxGradients(d.raw, job.proba, d.y, d.w, d.gh, req.start, req.end, K);
        reply = { job: req.job, id: req.id };
      } else if (req.op === "tree") {
        const tree = job.grower.grow(d.gh[req.k]!);
        tree.addLeafValues(d.raw, K, req.k);
        reply = { job: req.job, id: req.id, tree: tree.plain() };
      } else throw new Error(`a JavaScript fit takes no ${req.op} request`);
    }
  } catch (err) {
    if (req.op === "job" || req.op === "wasm-job") {
      job = null;
      jobError = { id: req.job, message: err instanceof Error ? err.message : String(err) };
      return;
    }
    reply = { job: req.job, id: req.id, error: failure(err) };
  }
  port.postMessage(reply);
});
