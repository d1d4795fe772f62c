import { Worker } from "node:worker_threads";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Random } from "../pipeline/core/random.js";
import { binMatrix } from "../pipeline/train/binning.js";
import { BOOSTING_DEFAULTS, fitBoosting, GradientTreeGrower, helpedSchedule, softmaxGradients, type BoostingFitParams, type BoostingReply, type BoostingRequest } from "../pipeline/train/boosting.js";
import { useWasmBoosting, WasmBoostingFit, wasmBoostingJob, WasmGradientTreeGrower } from "../pipeline/train/boosting-grower.js";
import { workerEntry } from "../pipeline/train/forest.js";

/** Rows with continuous and few-valued features, missing values, and float32 gradients as the fit computes them. */
const cases = fc
  .record({
    rows: fc.integer({ min: 2, max: 400 }),
    nFeatures: fc.integer({ min: 1, max: 9 }),
    missing: fc.constantFrom(0, 0.05, 0.3),
    maxBins: fc.constantFrom(4, 32, 255),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    max_leaf_nodes: fc.integer({ min: 2, max: 40 }),
    max_depth: fc.integer({ min: 0, max: 6 }),
    min_samples_leaf: fc.integer({ min: 1, max: 30 }),
    l2_regularization: fc.constantFrom(0, 0.5, 3),
    learning_rate: fc.constantFrom(0.1, 0.7),
  })
  .map((c) => {
    const rng = new Random(c.seed);
    const features = Array.from({ length: c.nFeatures }, (_, f) =>
      Float64Array.from({ length: c.rows }, () => (rng.next() < c.missing ? Number.NaN : f % 3 === 0 ? rng.int(5) : rng.normal())),
    );
    const gh = new Float32Array(2 * c.rows);
    for (let i = 0; i < c.rows; i++) {
      const p = rng.next();
      gh[2 * i] = features[0]![i]! > 0 ? p - 1 : p;
      gh[2 * i + 1] = p * (1 - p);
    }
    const params: BoostingFitParams = { ...BOOSTING_DEFAULTS, max_leaf_nodes: c.max_leaf_nodes, max_depth: c.max_depth, min_samples_leaf: c.min_samples_leaf, l2_regularization: c.l2_regularization, learning_rate: c.learning_rate, max_bins: c.maxBins };
    return { data: binMatrix({ rows: c.rows, features }, c.maxBins), gh, params, rows: c.rows };
  });

describe("the boosting tree grower in WebAssembly", () => {
  it("grows bit for bit the JavaScript grower's tree: nodes, thresholds, leaf values, and each row's leaf", () => {
    fc.assert(
      fc.property(cases, ({ data, gh, params, rows }) => {
        const js = new GradientTreeGrower(data, params).grow(gh);
        const grower = new WasmGradientTreeGrower(data, params);
        const wasm = grower.grow(gh);
        expect(wasm.plain()).toEqual(js.plain());
        // Each training row's leaf: the leaf values added to row scores (the fit's raw-score update).
        const rawJs = new Float64Array(rows * 2);
        const rawWasm = new Float64Array(rows * 2);
        js.addLeafValues(rawJs, 2, 1);
        wasm.addLeafValues(rawWasm, 2, 1);
        expect(rawWasm).toEqual(rawJs);
        // The grower is reused across trees (one per class and iteration): a second tree starts clean.
        const again = grower.grow(gh);
        expect(again.plain()).toEqual(js.plain());
      }),
      { numRuns: 300, seed: 1201 },
    );
  });

  it("is what a fit uses when the leaves are bounded, and the fit's trees are unchanged by it", async () => {
    const rng = new Random(3);
    const features = Array.from({ length: 5 }, () => Float64Array.from({ length: 3000 }, () => rng.normal()));
    const binned = binMatrix({ rows: 3000, features }, 255);
    expect(useWasmBoosting({ ...BOOSTING_DEFAULTS, max_leaf_nodes: 31 }, binned)).toBe(true);
    expect(useWasmBoosting({ ...BOOSTING_DEFAULTS, max_leaf_nodes: 0, max_depth: 5 }, binned)).toBe(false);
    // 5 features of 255 bins: 30.7 kB a histogram; 9,000 leaves would reserve 276 MB of them.
    expect(useWasmBoosting({ ...BOOSTING_DEFAULTS, max_leaf_nodes: 9000 }, binned)).toBe(false);
    expect(() => new WasmGradientTreeGrower(binned, { ...BOOSTING_DEFAULTS, max_leaf_nodes: 9000 })).toThrow(/cannot be grown in WebAssembly/);
    const y = Int32Array.from({ length: 3000 }, (_, i) => (features[0]![i]! + features[1]![i]! > 0.5 ? 2 : features[2]![i]! > 0 ? 1 : 0));
    const X = { rows: 3000, features, names: ["a", "b", "c", "d", "e"] };
    const params = { ...BOOSTING_DEFAULTS, max_iter: 12 };
    const wasm = await fitBoosting(X, y, 3, params, { seed: 4 });
    const js = await fitBoosting(X, y, 3, params, { seed: 4, javascriptGrower: true });
    expect(wasm.iterations).toBe(12);
    expect(JSON.stringify(wasm.trees)).toBe(JSON.stringify(js.trees));
    // On worker threads too (the workers choose their grower the same way).
    const threads = await fitBoosting(X, y, 3, { ...params, n_jobs: 2 }, { seed: 4 });
    expect(JSON.stringify(threads.trees)).toBe(JSON.stringify(js.trees));
  });

  it("computes the softmax gradients bit for bit as softmaxGradients: ties, far scores, odd row counts", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 61 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 1_000_000 }), (rows, K, seed) => {
        const rng = new Random(seed);
        const binned = binMatrix({ rows, features: [Float64Array.from({ length: rows }, () => rng.normal())] }, 16);
        const y = Int32Array.from({ length: rows }, () => rng.int(K));
        const w = Float64Array.from({ length: rows }, () => (rng.next() < 0.5 ? 1 : 0.25 + rng.next() * 3));
        // Row-major scores for softmaxGradients; some rows tie, some are 700 to 900 below their maximum (the scalar exp).
        const raw = Float64Array.from({ length: rows * K }, () => {
          const u = rng.next();
          return u < 0.15 ? 1.5 : u < 0.25 ? -700 - rng.next() * 200 : rng.normal() * 4;
        });
        const gh = Array.from({ length: K }, () => new Float32Array(2 * rows));
        softmaxGradients(raw, new Float64Array(K), y, w, gh, 0, rows, K);
        const fit = new WasmBoostingFit(wasmBoostingJob(binned, BOOSTING_DEFAULTS, K, 0, 1), binned, { y, w, validCodes: null, validY: null, validW: null }, new Array<number>(K).fill(0));
        const mem = fit.job.memory.buffer;
        const e = fit.local.exports;
        const columns = new Float64Array(mem, e.rawAt(), rows * K);
        for (let i = 0; i < rows; i++) for (let k = 0; k < K; k++) columns[k * rows + i] = raw[i * K + k]!;
        fit.local.gradients(0, rows);
        for (let k = 0; k < K; k++) expect(new Float32Array(mem, e.ghAt(k), 2 * rows)).toEqual(gh[k]);
      }),
      { numRuns: 200, seed: 1202 },
    );
  });

  it("gives a fit's trees and validation losses unchanged on two threads, with the worker sharing the last tree's work", async () => {
    const rng = new Random(9);
    const rows = 12_000;
    const features = Array.from({ length: 6 }, (_, f) => Float64Array.from({ length: rows }, () => (rng.next() < 0.05 ? Number.NaN : f === 5 ? rng.int(4) : rng.normal())));
    // The helper searches features 3-5: a copy of feature 1 there ties with it, and one pass over all
    // features keeps the first.
    features[4] = features[1]!.slice();
    const X = { rows, features, names: ["a", "b", "c", "d", "e", "f"] };
    for (const K of [2, 3, 5]) {
      const y = Int32Array.from({ length: rows }, (_, i) => (Math.floor((features[0]![i]! || 0) * 2 + (features[1]![i]! || 0) + rng.next()) % K + K) % K);
      const params = { ...BOOSTING_DEFAULTS, max_iter: 8, learning_rate: 1, early_stopping: true as const, validation_fraction: 0.2 };
      const js = await fitBoosting(X, y, K, params, { seed: 5, javascriptGrower: true });
      const one = await fitBoosting(X, y, K, params, { seed: 5 });
      const two = await fitBoosting(X, y, K, { ...params, n_jobs: 2 }, { seed: 5 });
      expect(js.validationLoss.length).toBe(9);
      for (const fit of [one, two]) {
        expect(fit.validationLoss).toEqual(js.validationLoss);
        expect(JSON.stringify(fit.trees)).toBe(JSON.stringify(js.trees));
      }
    }
  });

  it("keeps every leaf's rows in one thread's order when the worker shares the tree's partitions", async () => {
    const rng = new Random(21);
    const rows = 20_000;
    const features = Array.from({ length: 4 }, (_, f) => Float64Array.from({ length: rows }, () => (rng.next() < 0.05 ? Number.NaN : f === 3 ? rng.int(6) : rng.normal())));
    const y = Int32Array.from({ length: rows }, (_, i) => ((features[0]![i]! || 0) + (features[1]![i]! || 0) * 0.5 + rng.normal() > 0 ? 1 : (features[3]![i]! || 0) % 3 === 0 ? 2 : 0));
    const data = binMatrix({ rows, features }, 255, true);
    const params = { ...BOOSTING_DEFAULTS, min_samples_leaf: 5 };
    const job = wasmBoostingJob(data, params, 3, 0, 2);
    const fit = new WasmBoostingFit(job, data, { y, w: new Float64Array(rows).fill(1), validCodes: null, validY: null, validW: null }, [-0.9, -1.3, -1.1]);
    const w = fit.local.exports;
    const order = () => new Int32Array(job.memory.buffer, w.idxAt(), rows).slice();
    fit.local.gradients(0, rows);
    const soloNodes = w.grow(1, 0);
    const solo = { tree: fit.treeJson(fit.local.tree(soloNodes), 1, 0), order: order() };
    // The boosting worker, on the same memory: it grows class 0's tree, then helps with token 7.
    const worker = new Worker(workerEntry("boosting-worker"));
    try {
      const replied = new Promise<BoostingReply>((resolve) => worker.on("message", resolve));
      const send = (m: BoostingRequest) => worker.postMessage(m);
      send({ job: 1, op: "wasm-job", fit: job, thread: 1 });
      send({ job: 1, id: 0, op: "wasm-tree", k: 0, help: 7 });
      const helpedNodes = w.grow(1, 7);
      const helped = { tree: fit.treeJson(fit.local.tree(helpedNodes), 1, 0), order: order() };
      w.release();
      expect((await replied).error).toBeUndefined();
      expect(helped.tree).toEqual(solo.tree);
      expect(helped.order).toEqual(solo.order);
      // The order is not trivially kept: the rows were partitioned.
      expect(solo.tree.feature.length).toBeGreaterThan(40);
      expect(solo.order.subarray(0, 100)).not.toEqual(Int32Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await worker.terminate();
    }
  });

  it("shares the costliest class's tree and balances the others between the two threads", () => {
    // First iteration (nothing measured): the worker takes class 0, this thread 1 and then shares 2.
    expect(helpedSchedule(new Float64Array(3))).toEqual([[1, 2], [0]]);
    // Class 0 cost most: it is shared; of the others, this thread takes the larger (it starts first).
    expect(helpedSchedule(Float64Array.from([42, 36, 37]))).toEqual([[2, 0], [1]]);
    expect(helpedSchedule(Float64Array.from([10, 50, 20, 30, 40]))).toEqual([[0, 4, 1], [2, 3]]);
    for (const K of [3, 5, 7]) {
      const work = Float64Array.from({ length: K }, (_, k) => ((k * 7919) % 13) + 1);
      const [mine, theirs] = helpedSchedule(work);
      expect(mine.length).toBe((K + 1) / 2);
      expect(theirs.length).toBe((K - 1) / 2);
      expect([...mine, ...theirs].sort((a, b) => a - b)).toEqual(Array.from({ length: K }, (_, k) => k));
      expect(work[mine.at(-1)!]).toBe(Math.max(...work));
    }
  });
});

