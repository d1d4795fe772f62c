import fc from "fast-check";
import fastJson from "fast-json-stringify";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import type { FieldProblem } from "../pipeline/model/input-contract.js";
import { loadModel } from "../pipeline/model/load.js";
import { compilePredictor, packForest } from "../pipeline/model/predictor.js";
import { createServer } from "../pipeline/serve/app.js";
import { batchAnswerWriter, batchItemsWriter } from "../pipeline/serve/batch-items.js";
import { startBatchHelpers, type BatchHelpers } from "../pipeline/serve/batch-helpers.js";
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
    // 1000 + 129 + 640 rows are shared (127 is below the threshold); the helper took 60 % of each.
    expect(helped.app.serving.batchRowsHelped - helpedBefore).toBe(600 + 77 + 384);
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

  it("refuses a batch with one bad record before any thread predicts", async () => {
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
  });
});

describe("batch helper threads", () => {
  const width = () => compilePredictor(model).contract.width;
  async function ready(helpers: BatchHelpers): Promise<void> {
    await until("the helper", () => helpers.acquire(10) !== null);
  }

  it("walk their rows with the same bits as the calling thread, from shared nodes", async () => {
    const predictor = compilePredictor(model);
    const helpers = startBatchHelpers({ model, packed: packForest(model), width: width(), threads: 1, capacity: 300 });
    helperSets.push(helpers);
    await ready(helpers);
    const raws = records(300, 11);
    const buffers = helpers.acquire(300)!;
    expect(helpers.acquire(301)).toBeNull();
    const checked = predictor.checkRecords(raws, { numericText: "warn" }, buffers.matrix);
    expect(checked.every((c) => c.ok)).toBe(true);
    helpers.start(0, { from: 100, to: 300, requestId: "r", warnings: [] });
    const items = helpers.finish(0)!;
    const parsed = JSON.parse(`[${items}]`) as { index: number; probabilities: Record<string, number> }[];
    expect(parsed.map((p) => p.index)).toEqual(Array.from({ length: 200 }, (_, i) => 100 + i));
    for (const p of parsed) {
      const direct = predictor.predictRecord(raws[p.index], { numericText: "warn" });
      expect(Object.values(p.probabilities)).toEqual(Array.from(direct.probabilities!));
    }
  });

  it("a helper that does not answer is dropped after its timeout, and batches go on without it", async () => {
    // posts "ready", then never answers a job
    const silent = new URL(`data:text/javascript,${encodeURIComponent('import { parentPort } from "node:worker_threads"; parentPort.postMessage("ready"); setInterval(() => {}, 1000);')}`);
    const helpers = startBatchHelpers({ model, packed: packForest(model), width: width(), threads: 1, capacity: 100, timeoutMs: 200, entry: silent });
    helperSets.push(helpers);
    await ready(helpers);
    helpers.acquire(100);
    helpers.start(0, { from: 50, to: 100, requestId: "r", warnings: [] });
    const t0 = Date.now();
    expect(helpers.finish(0)).toBeNull();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(helpers.acquire(100)).toBeNull();
  });

  it("a helper that crashes is not used again", async () => {
    const crashing = new URL(`data:text/javascript,${encodeURIComponent('import { parentPort, workerData } from "node:worker_threads"; parentPort.postMessage("ready"); workerData.port.on("message", () => { throw new Error("boom"); });')}`);
    const helpers = startBatchHelpers({ model, packed: packForest(model), width: width(), threads: 1, capacity: 100, timeoutMs: 5000, entry: crashing });
    helperSets.push(helpers);
    await ready(helpers);
    helpers.acquire(100);
    helpers.start(0, { from: 0, to: 100, requestId: "r", warnings: [] });
    // The crash is seen through the event loop, after this wait gives up.
    await new Promise((r) => setTimeout(r, 300));
    await until("the crash to be seen", () => helpers.acquire(10) === null, 5000);
  });
});
