import { parentPort, workerData } from "node:worker_threads";
import { loadForTransfer, type LoadOptions, type ResolvedModelSource } from "./model-source.js";

/** Loader thread (see loadServedModel): loads and verifies the model, answers once with the trees packed and transferred. */
const port = parentPort;
if (!port) throw new Error("model-load-worker must run as a worker thread");
const { source, options } = workerData as { source: ResolvedModelSource; options: LoadOptions };
const { state, transfer } = await loadForTransfer(source, options);
port.postMessage(state, transfer);
