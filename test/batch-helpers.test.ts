import fc from "fast-check";
import fastJson from "fast-json-stringify";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import type { FieldProblem } from "../pipeline/model/input-contract.js";
import { loadModel } from "../pipeline/model/load.js";
import { compilePredictor, packForest } from "../pipeline/model/predictor.js";
import { forestMemory } from "../pipeline/model/forest-walk.js";
import { createServer } from "../pipeline/serve/app.js";
import { batchAnswerWriter, batchItemsWriter } from "../pipeline/serve/batch-items.js";
import { startBatchHelpers, type BatchHelpers, type SharedBatch, type WalkedChunk } from "../pipeline/serve/batch-helpers.js";
import { PREDICT_BATCH_RESPONSE } from "../pipeline/serve/response-schemas.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { GOOD_RECORD, logCollector, PRODUCTION_MODEL } from "./helpers/serve.js";

let model: ModelArtifact;
const apps: FastifyInstance[] = [];
const helperSets: BatchHelpers[] = [];

beforeAll(async () => {
  model = await loadModel(PRODUCTION_MODEL);
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await Promise.all(helperSets.map((h) => h.close()));
});

/** n records around GOOD_RECORD (seeded): numbers moved, some missing, some unknown categories (warnings). */
function records(n: number, seed: number): Record<string, unknown>[] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const seasons = ["winter", "spring", "summer", "autumn", "monsoon"];
  return Array.from({ length: n }, () => ({
    ...GOOD_RECORD,
    ta: Math.round((15 + 20 * rand()) * 10) / 10,
    tr: rand() < 0.05 ? null : Math.round((15 + 20 * rand()) * 10) / 10,
    rh: Math.round(20 + 60 * rand()),
    vel: Math.round(rand() * 100) / 100,
    clo: Math.round((0.3 + rand()) * 100) / 100,
    season: seasons[Math.floor(rand() * seasons.length)],
  }));
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("batch answers written in pieces", () => {
  it("join into exactly what the route's schema serializer writes", () => {
    const classes = model.classes;
    const k = classes.length;
    const n = 37;
    const proba = new Float64Array(n * k).map((_, i) => ((i * 7919) % 1000) / 999 + (i % 3 === 0 ? 1e-17 : 0));
    const classIndex = new Int32Array(n).map((_, i) => i % k);
    const warning: FieldProblem = { field: "season", kind: "unknown_category", message: 'season: "monsoon" is not a known category "quoted" \\ \u2028' };
    const warnings = new Map<number, FieldProblem[]>([[3, [warning]], [20, [warning, { ...warning, field: "ta" }]]]);
    const rows = { requestId: "req-1", proba, classIndex, warnings };
    const write = batchItemsWriter(classes);
    const identity = { model_version: "1", content_sha256: "ab".repeat(32), request_id: "req-1" };
    const joined = batchAnswerWriter()([write(rows, 0, 10), write(rows, 10, 11), write(rows, 11, 11), write(rows, 11, n)], identity);
    const predictions = Array.from({ length: n }, (_, i) => ({
      index: i,
      request_id: `req-1:${i}`,
      class: classes[classIndex[i]!],
      probabilities: Object.fromEntries(classes.map((c, j) => [c, proba[i * k + j]])),
      confidence: proba[i * k + classIndex[i]!],
      warnings: warnings.get(i) ?? [],
    }));
    const whole = fastJson(PREDICT_BATCH_RESPONSE[200] as unknown as Parameters<typeof fastJson>[0])({ predictions, ...identity });
    expect(joined).toBe(whole);
    expect(JSON.parse(joined).predictions).toHaveLength(n);
  });

  it("write each item as the item's compiled serializer does, for any numbers, ids, class names and warnings", () => {
    const itemText = fastJson(PREDICT_BATCH_RESPONSE[200].properties.predictions.items as unknown as Parameters<typeof fastJson>[0]);
    const text = fc.string({ unit: "binary", maxLength: 12 });
    const problem = fc.record({ field: text, kind: text, message: text }) as fc.Arbitrary<FieldProblem>;
    const number = fc.oneof(fc.double(), fc.constantFrom(0, -0, 1, 5e-324, 1e21, 1e-7, 0.1 + 0.2, Number.MAX_VALUE));
    fc.assert(
      fc.property(
        fc.uniqueArray(text, { minLength: 1, maxLength: 4 }),
        text,
        fc.array(fc.tuple(fc.array(number, { minLength: 4, maxLength: 4 }), fc.nat(), fc.option(fc.array(problem, { minLength: 1, maxLength: 2 }))), { minLength: 1, maxLength: 6 }),
        fc.nat({ max: 3 }),
        (classes, requestId, items, from) => {
          const k = classes.length;
          const n = from + items.length;
          const proba = new Float64Array(n * k);
          const classIndex = new Int32Array(n);
          const warnings = new Map<number, FieldProblem[]>();
          items.forEach(([p, c, w], j) => {
            const i = from + j;
            for (let c2 = 0; c2 < k; c2++) proba[i * k + c2] = p[c2]!;
            classIndex[i] = c % k;
            if (w) warnings.set(i, w);
          });
          const expected = (): string =>
            items
              .map((_, j) => {
                const i = from + j;
                const probabilities = Object.fromEntries(classes.map((c, c2) => [c, proba[i * k + c2]!]));
                return itemText({ index: i, request_id: `${requestId}:${i}`, class: classes[classIndex[i]!], probabilities, confidence: proba[i * k + classIndex[i]!], warnings: warnings.get(i) ?? [] });
              })
              .join(",");
          const written = () => batchItemsWriter(classes)({ requestId, proba, classIndex, warnings }, from, n);
          // NaN is refused by the compiled serializer; the writer must refuse it the same way.
          let want: string | Error;
          try {
            want = expected();
          } catch (error) {
            want = error as Error;
          }
          if (want instanceof Error) expect(written).toThrow(want.message);
          else expect(written()).toBe(want);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("writes class names that are array indices first, ascending, as an object of them is serialized", () => {
    // Labels read from a CSV are often numbers: a model's classes ["10", "2", "b", "0"].
    const classes = ["10", "2", "b", "0"];
    const proba = Float64Array.from([0.1, 0.2, 0.3, 0.4]);
    const text = batchItemsWriter(classes)({ requestId: "r", proba, classIndex: Int32Array.from([2]), warnings: new Map() }, 0, 1);
    expect(text).toContain(`"probabilities":{"0":0.4,"2":0.2,"10":0.1,"b":0.3}`);
    expect(JSON.parse(text)).toMatchObject({ class: "b", confidence: 0.3 });
  });
});

describe("POST /predict/batch with a helper thread", () => {
  async function server(threads: number) {
    const logs = logCollector();
    const app = await createServer({ model: "production", root: PROJECT_ROOT, logDestination: logs, processMetrics: false, env: {}, serving: { batch_threads: threads, rate_limit: { enabled: false } } });
    apps.push(app);
    return { app, logs };
  }
  const batch = (app: FastifyInstance, body: unknown, id: string) => app.inject({ method: "POST", url: "/predict/batch", payload: JSON.stringify(body), headers: { "content-type": "application/json", "x-request-id": id } });

  it("answers, logs and monitors exactly as the request's thread alone does", async () => {
    const alone = await server(1);
    const helped = await server(2);
    // The first large batch starts the helper; it takes shares once it has loaded the model.
    await batch(helped.app, records(200, 1), "warm-up");
    await until("the helper", async () => {
      await batch(helped.app, records(200, 2), "warm-up-2");
      return helped.app.serving.batchRowsHelped > 0;
    });
    const helpedBefore = helped.app.serving.batchRowsHelped;
    const skipLines = helped.logs.lines().length;
    for (const [n, seed] of [[1000, 3], [129, 4], [127, 5], [640, 6]] as const) {
      const body = { records: records(n, seed) };
      const a = await batch(alone.app, body, `b-${seed}`);
      const h = await batch(helped.app, body, `b-${seed}`);
      expect(h.statusCode).toBe(200);
      expect(h.headers["content-type"]).toBe(a.headers["content-type"]);
      expect(h.headers["x-model-version"]).toBe(a.headers["x-model-version"]);
      expect(h.body).toBe(a.body);
      expect(JSON.parse(h.body).predictions.some((p: { warnings: unknown[] }) => p.warnings.length > 0)).toBe(true);
      // and what the single-record predictor says, record by record
      const predictor = compilePredictor(model);
      const last = JSON.parse(h.body).predictions[n - 1];
      const direct = predictor.predictRecord(body.records[n - 1], { numericText: "warn" });
      expect(last.class).toBe(model.classes[direct.classIndex]);
      expect(Object.values(last.probabilities)).toEqual(Array.from(direct.probabilities!));
    }
    // 1000 + 129 + 640 rows are shared (127 is below the threshold): the helper walks some of them,
    // how many depends on the two threads' speeds.
    const helpedRows = helped.app.serving.batchRowsHelped - helpedBefore;
    expect(helpedRows).toBeGreaterThanOrEqual(0);
    expect(helpedRows).toBeLessThanOrEqual(1000 + 129 + 640);
    const strip = (l: Record<string, unknown>) => ({ ...l, time: null, latency_ms: null });
    const helpedLines = helped.logs.lines().slice(skipLines).filter((l) => l.event === "prediction").map(strip);
    const aloneLines = alone.logs.lines().filter((l) => l.event === "prediction").map(strip);
    expect(helpedLines).toHaveLength(1000 + 129 + 127 + 640);
    expect(helpedLines).toEqual(aloneLines);
    const recent = (app: FastifyInstance) => app.serving.monitor!.predictions({ limit: 1000 }).items.map((p) => ({ ...p, seq: null, time: null, latency_ms: null }));
    expect(recent(helped.app)).toEqual(recent(alone.app));
  });

  it("starts its helper on a listening server (over a socket)", async () => {
    const { app } = await server(2);
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    const post = (body: unknown) => fetch(`${url}/predict/batch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const first = await post(records(300, 21));
    expect(first.status).toBe(200);
    await until("the helper", async () => {
      expect((await post(records(300, 22))).status).toBe(200);
      return app.serving.batchRowsHelped > 0;
    });
  });

  it("refuses a batch with one bad record: nothing answered, logged or counted, and the helper takes the next batch", async () => {
    const helped = await server(2);
    const good = records(300, 9);
    await until("the helper", async () => {
      await batch(helped.app, { records: good }, "w");
      return helped.app.serving.batchRowsHelped > 0;
    });
    const before = helped.app.serving.batchRowsHelped;
    const lines = helped.logs.lines().length;
    const res = await batch(helped.app, { records: [...good.slice(0, 250), { ...GOOD_RECORD, ta: "hot" }, ...good.slice(250)] }, "bad");
    expect(res.statusCode).toBe(400);
    expect(res.json().error.fields[0].field).toBe("records[250].ta");
    expect(helped.app.serving.batchRowsHelped).toBe(before);
    expect(helped.logs.lines().slice(lines).filter((l) => l.event === "prediction")).toHaveLength(0);
    const metrics = await helped.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toMatch(/input_rejections_total\{[^}]*\} 1\b/);
    await until("the helper after the refusal", async () => {
      expect((await batch(helped.app, { records: good }, "after")).statusCode).toBe(200);
      return helped.app.serving.batchRowsHelped > before;
    });
  });
});

describe("batch helper threads", () => {
  const width = () => compilePredictor(model).contract.width;
  const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  async function ready(helpers: BatchHelpers): Promise<void> {
    await until("the helper", () => {
      const batch = helpers.begin(10);
      batch?.end();
      return batch !== null;
    });
  }
  /** Every chunk of a batch taken back in order: the chunks and the rows this thread walked. */
  function drain(batch: SharedBatch, walkHere: (from: number, to: number) => void) {
    const chunks: WalkedChunk[] = [];
    for (let c = batch.next(walkHere); c !== null; c = batch.next(walkHere)) chunks.push(c);
    batch.end();
    return chunks;
  }

  it("walk their rows with the same bits as the calling thread, from shared nodes, and hand them back in row order", async () => {
    const predictor = compilePredictor(model);
    const k = model.classes.length;
    const helpers = startBatchHelpers({ model, forest: forestMemory(packForest(model)), width: width(), threads: 1, capacity: 300, chunkRows: 32 });
    helperSets.push(helpers);
    await ready(helpers);
    expect(helpers.begin(301)).toBeNull();
    for (const wait of [300, 0]) {
      const raws = records(300, 11 + wait);
      const batch = helpers.begin(300)!;
      const checked = predictor.checkRecords(raws, { numericText: "warn" }, batch.matrix, { every: 32, report: (upTo) => batch.checked(upTo) });
      expect(checked.every((c) => c.ok)).toBe(true);
      batch.checked(300);
      // With a pause the helper has walked every chunk before they are taken back; without one, both threads walk.
      sleep(wait);
      const here: number[] = [];
      const chunks = drain(batch, (from, to) => {
        here.push(from);
        predictor.predictRows(batch.matrix.subarray(from * width(), to * width()), to - from, width(), batch.proba.subarray(from * k, to * k));
        predictor.chooseClasses(batch.proba, from, to, batch.classIndex);
      });
      expect(chunks.map((c) => [c.from, c.to])).toEqual(Array.from({ length: 10 }, (_, j) => [j * 32, Math.min(300, (j + 1) * 32)]));
      for (const c of chunks) expect(c.helped).toBe(!here.includes(c.from));
      if (wait > 0) expect(chunks.every((c) => c.helped)).toBe(true);
      for (let i = 0; i < 300; i++) {
        const direct = predictor.predictRecord(raws[i], { numericText: "warn" });
        expect(Array.from(batch.proba.subarray(i * k, (i + 1) * k))).toEqual(Array.from(direct.probabilities!));
        expect(batch.classIndex[i]).toBe(direct.classIndex);
      }
    }
  });

  it("stop at a refused batch without waiting for it, and take the next one", async () => {
    const helpers = startBatchHelpers({ model, forest: forestMemory(packForest(model)), width: width(), threads: 1, capacity: 300, timeoutMs: 5000, chunkRows: 32 });
    helperSets.push(helpers);
    await ready(helpers);
    const refused = helpers.begin(300)!;
    refused.checked(64);
    sleep(100);
    const t0 = Date.now();
    refused.end();
    expect(Date.now() - t0).toBeLessThan(1000);
    const next = helpers.begin(300)!;
    expect(next).not.toBeNull();
    compilePredictor(model).checkRecords(records(300, 12), { numericText: "warn" }, next.matrix);
    next.checked(300);
    sleep(500);
    expect(drain(next, () => expect.unreachable("the helper walks every chunk")).every((c) => c.helped)).toBe(true);
  });

  it("a silent helper costs one batch its timeout, never its answer", async () => {
    const silent = new URL(`data:text/javascript,${encodeURIComponent('import { parentPort } from "node:worker_threads"; parentPort.postMessage("ready"); setInterval(() => {}, 1000);')}`);
    const helpers = startBatchHelpers({ model, forest: forestMemory(packForest(model)), width: width(), threads: 1, capacity: 100, timeoutMs: 200, entry: silent });
    helperSets.push(helpers);
    let batch: SharedBatch | null = null;
    await until("the silent helper", () => (batch = helpers.begin(100)) !== null);
    batch!.checked(100);
    const walked: number[] = [];
    const t0 = Date.now();
    const chunks = drain(batch!, (from) => walked.push(from));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(chunks.map((c) => c.helped)).toEqual([false, false]);
    expect(walked).toEqual([0, 64]);
    expect(helpers.begin(100)).toBeNull();
  });

  it("a helper that crashes is not waited for, and not used again", async () => {
    // posts "ready", then throws at its first job
    const crashing = new URL(`data:text/javascript,${encodeURIComponent('import { parentPort, workerData } from "node:worker_threads"; parentPort.postMessage("ready"); workerData.port.on("message", () => { throw new Error("boom"); });')}`);
    const helpers = startBatchHelpers({ model, forest: forestMemory(packForest(model)), width: width(), threads: 1, capacity: 100, timeoutMs: 5000, entry: crashing });
    helperSets.push(helpers);
    let batch: SharedBatch | null = null;
    await until("the crashing helper", () => (batch = helpers.begin(100)) !== null);
    batch!.checked(100);
    // The crash is seen through the event loop.
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    expect(drain(batch!, () => undefined).map((c) => c.helped)).toEqual([false, false]);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(helpers.begin(10)).toBeNull();
  });
});
