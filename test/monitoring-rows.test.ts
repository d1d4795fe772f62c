import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { loadModel } from "../pipeline/model/load.js";
import { createMonitor, type FeedbackResult, type RecordedPrediction } from "../pipeline/serve/monitoring/state.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

let model: ModelArtifact;

beforeAll(async () => {
  model = await loadModel(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"));
});

const RECORD = { ta: 22, tr: 22, rh: 50, vel: 0.1, clo: 0.6, met: 1.1, t_out: 15, season: "spring", building_type: "office", cooling_type: "air conditioned" };
const T0 = Date.parse("2026-01-01T00:00:00Z");

type Op =
  | { kind: "single"; id: string; cls: number; p: number[]; latency: number; odd: boolean }
  | { kind: "batch"; id: string; rows: { cls: number; p: number[] }[]; split: number; latency: number }
  | { kind: "feedback"; id: string; actual: number };

/** What the monitor promises, written the plain way: a list of every prediction, newest last. */
interface Reference {
  id: string;
  /** A batch record's request id, index and batch (the op that recorded it); null for a record on its own. */
  batch: { base: string; row: number; op: number } | null;
  cls: string;
  probabilities: Record<string, number>;
  confidence: number;
  latency: number;
  input: Record<string, unknown>;
  actual: string | null;
}

const ids = ["a", "b", "a:1", "b:0", "c"];
const feedbackIds = ["a", "b", "c", "a:0", "a:1", "a:2", "b:0", "b:1", "b:3", "a:01", "a:-1", "a:", "x"];

const probabilityRow = fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 })).map((w) => {
  const sum = w[0] + w[1] + w[2];
  return w.map((x) => x / sum);
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("single" as const), id: fc.constantFrom(...ids), cls: fc.integer({ min: 0, max: 2 }), p: probabilityRow, latency: fc.double({ min: 0, max: 50, noNaN: true }), odd: fc.boolean() }),
  fc.record({ kind: fc.constant("batch" as const), id: fc.constantFrom(...ids), rows: fc.array(fc.record({ cls: fc.integer({ min: 0, max: 2 }), p: probabilityRow }), { minLength: 1, maxLength: 6 }), split: fc.integer({ min: 0, max: 6 }), latency: fc.double({ min: 0, max: 50, noNaN: true }) }),
  fc.record({ kind: fc.constant("feedback" as const), id: fc.constantFrom(...feedbackIds), actual: fc.integer({ min: 0, max: 2 }) }),
);

describe("monitor: predictions handed over as columns (recordRows)", () => {
  it("answers feedback, pages and counts as the plain list of predictions says, for any mix of records and batches", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), (ops, maxPending, ringSize) => {
        const classes = model.classes;
        const monitor = createMonitor({ model, config: { ring_size: ringSize, feedback: { max_pending: maxPending } }, now: () => T0 });
        const list: Reference[] = [];
        for (const [o, op] of ops.entries()) {
          if (op.kind === "single") {
            // An odd one: a label that is not a model class, with probabilities not keyed by the classes.
            const cls = op.odd ? "tepid" : classes[op.cls]!;
            const probabilities = op.odd ? { tepid: 1 } : Object.fromEntries(classes.map((c, j) => [c, op.p[j]!]));
            const confidence = op.odd ? 1 : op.p[op.cls]!;
            const input = { ...RECORD };
            monitor.recordPrediction({ request_id: op.id, time: T0, input, class: cls, probabilities, confidence, latency_ms: op.latency, model_version: "1" });
            list.push({ id: op.id, batch: null, cls, probabilities, confidence, latency: op.latency, input, actual: null });
          } else if (op.kind === "batch") {
            const n = op.rows.length;
            const inputs = op.rows.map(() => ({ record: { ...RECORD } as Record<string, unknown> }));
            const classIndex = Int32Array.from(op.rows.map((r) => r.cls));
            const proba = Float64Array.from(op.rows.flatMap((r) => r.p));
            // A batch may come in two consecutive pieces, as a batch shared with a helper thread does.
            const split = Math.min(op.split, n);
            for (const [from, to] of [[0, split], [split, n]] as const) {
              monitor.recordRows({ request_id: op.id, indexed: true, from, to, time: T0, inputs, classIndex, probabilities: proba, latency_ms: op.latency, model_version: "1" });
            }
            op.rows.forEach((r, i) => list.push({ id: `${op.id}:${i}`, batch: { base: op.id, row: i, op: o }, cls: classes[r.cls]!, probabilities: Object.fromEntries(classes.map((c, j) => [c, r.p[j]!])), confidence: r.p[r.cls]!, latency: op.latency, input: inputs[i]!.record, actual: null }));
          } else {
            const actual = classes[op.actual]!;
            // The id names the newest record on its own with that id, or record i of the newest batch
            // whose request id is the part before the last ":", whichever came later; either only
            // while it is among the last max_pending predictions.
            const held = (j: number) => j >= list.length - maxPending;
            let target = -1;
            for (let j = list.length - 1; j >= 0; j--) if (list[j]!.batch === null && list[j]!.id === op.id) { target = j; break; }
            const colon = op.id.lastIndexOf(":");
            const digits = op.id.slice(colon + 1);
            if (colon >= 0 && /^(0|[1-9][0-9]*)$/.test(digits)) {
              const base = op.id.slice(0, colon);
              let newest = -1;
              for (let j = list.length - 1; j >= 0; j--) if (list[j]!.batch?.base === base) { newest = list[j]!.batch!.op; break; }
              const j = list.findIndex((e) => e.batch?.op === newest && e.batch.row === Number(digits));
              if (newest >= 0 && j >= 0 && j > target && held(j)) target = j;
            }
            let expected: FeedbackResult = { status: "unknown_request" };
            if (target >= 0 && held(target)) {
              const e = list[target]!;
              if (e.actual !== null) expected = { status: "duplicate", actual: e.actual };
              else {
                e.actual = actual;
                expected = { status: "recorded", request_id: op.id, predicted: e.cls, actual, correct: e.cls === actual };
              }
            }
            expect(monitor.recordFeedback(op.id, actual)).toEqual(expected);
          }
        }
        const kept = list.slice(-ringSize).reverse();
        const page = monitor.predictions({ limit: ringSize });
        const expectedItems: RecordedPrediction[] = kept.map((e, j) => ({
          seq: list.length - j,
          request_id: e.id,
          time: new Date(T0).toISOString(),
          input: e.input,
          class: e.cls,
          probabilities: e.probabilities,
          confidence: e.confidence,
          latency_ms: e.latency,
          model_version: "1",
          actual: e.actual,
        }));
        expect(page.items).toEqual(expectedItems);
        const live = monitor.metrics();
        const byClass: Record<string, number> = Object.fromEntries(classes.map((c) => [c, 0]));
        for (const e of list) byClass[e.cls] = (byClass[e.cls] ?? 0) + 1;
        expect(live.by_class).toEqual(byClass);
        expect(live.predictions_total).toBe(list.length);
        const labelled = list.filter((e) => e.actual !== null && e.cls !== "tepid");
        expect(live.feedback.n).toBe(labelled.length);
        expect(live.feedback.correct_total).toBe(labelled.filter((e) => e.cls === e.actual).length);
        const bucket = live.timeseries.buckets.at(-1)!;
        expect(bucket.count).toBe(list.length);
        for (const [c, n] of Object.entries(byClass)) expect(bucket.classes[c] ?? 0).toBe(n);
      }),
      { numRuns: 1000 },
    );
  });

  it("keeps a batch's records open to feedback exactly as long as the last max_pending predictions", () => {
    const monitor = createMonitor({ model, config: { feedback: { max_pending: 10 } } });
    const n = 25;
    const inputs = Array.from({ length: n }, () => ({ record: { ...RECORD } as Record<string, unknown> }));
    const classIndex = new Int32Array(n);
    const proba = new Float64Array(n * 3).map((_, i) => (i % 3 === 0 ? 1 : 0));
    monitor.recordRows({ request_id: "big", indexed: true, from: 0, to: n, time: T0, inputs, classIndex, probabilities: proba, latency_ms: 1, model_version: "1" });
    expect(monitor.recordFeedback("big:14", "cool").status).toBe("unknown_request");
    expect(monitor.recordFeedback("big:15", "cool")).toMatchObject({ status: "recorded", predicted: model.classes[0] });
    expect(monitor.recordFeedback("big:24", "cool").status).toBe("recorded");
    expect(monitor.recordFeedback("big:25", "cool").status).toBe("unknown_request");
    expect(monitor.recordFeedback("big", "cool").status).toBe("unknown_request");
    // nine more predictions: only the batch's last record is still held, then none
    monitor.recordRows({ request_id: "next", indexed: true, from: 0, to: 9, time: T0, inputs, classIndex, probabilities: proba, latency_ms: 1, model_version: "1" });
    expect(monitor.recordFeedback("big:23", "cool").status).toBe("unknown_request");
    expect(monitor.recordFeedback("big:24", "warm")).toEqual({ status: "duplicate", actual: "cool" });
    monitor.recordRows({ request_id: "last", indexed: false, from: 0, to: 1, time: T0, inputs, classIndex, probabilities: proba, latency_ms: 1, model_version: "1" });
    expect(monitor.recordFeedback("big:24", "warm").status).toBe("unknown_request");
    expect(monitor.recordFeedback("last", "warm").status).toBe("recorded");
  });

  it("a batch request id used again names the newer batch's records only", () => {
    const monitor = createMonitor({ model });
    const inputs = Array.from({ length: 3 }, () => ({ record: { ...RECORD } as Record<string, unknown> }));
    const proba = new Float64Array(9).fill(1 / 3);
    monitor.recordRows({ request_id: "r", indexed: true, from: 0, to: 3, time: T0, inputs, classIndex: Int32Array.of(0, 0, 0), probabilities: proba, latency_ms: 1, model_version: "1" });
    monitor.recordRows({ request_id: "r", indexed: true, from: 0, to: 2, time: T0, inputs, classIndex: Int32Array.of(2, 2, 2), probabilities: proba, latency_ms: 1, model_version: "1" });
    expect(monitor.recordFeedback("r:0", "warm")).toMatchObject({ status: "recorded", predicted: "warm" });
    expect(monitor.recordFeedback("r:2", "warm").status).toBe("unknown_request");
  });
});
