import { Writable } from "node:stream";
import fc from "fast-check";
import { pino, type DestinationStream } from "pino";
import { describe, expect, it } from "vitest";
import { createPredictionLog } from "../pipeline/serve/prediction-log.js";

/** Collects written text (both writers get the same kind of destination). */
function collector(): { dest: DestinationStream; text(): string } {
  let text = "";
  const w = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { dest: w as unknown as DestinationStream, text: () => text };
}

const FIELDS = ["ta", "season", "note", "vel"];
const time = () => `,"time":"2026-12-01T10:00:00.000Z"`;

describe("the prediction log line", () => {
  it("is byte for byte the line pino writes for the same fields, for any record the contract can produce", () => {
    const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ unit: "binary" }), fc.constant(null));
    fc.assert(
      fc.property(fc.tuple(value, value, value, value), fc.string({ unit: "binary" }), fc.string(), fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(), (values, requestId, cls, confidence, warnings) => {
        const record = Object.fromEntries(FIELDS.map((f, i) => [f, values[i]!]));
        const ours = collector();
        const reference = collector();
        createPredictionLog({ destination: ours.dest, level: "info", service: "svc \"q\"", revision: null, time, fields: FIELDS }).write({ requestId, record, cls, confidence, latencyMs: 0.125, modelVersion: "3", warnings });
        pino({ messageKey: "message", base: { service: "svc \"q\"", revision: null }, timestamp: time, formatters: { level: (l: string) => ({ severity: l.toUpperCase() }) } }, reference.dest).info({
          event: "prediction",
          request_id: requestId,
          input: record,
          class: cls,
          confidence,
          latency_ms: 0.125,
          model_version: "3",
          warnings,
        });
        expect(ours.text()).toBe(reference.text());
        // (through JSON, as a log reader sees it: -0 is written as 0)
        expect(JSON.parse(ours.text())).toMatchObject({ event: "prediction", input: JSON.parse(JSON.stringify(record)), class: cls });
      }),
      { numRuns: 300 },
    );
  });

  it("writes nothing when the log level is above info", () => {
    for (const level of ["warn", "error", "silent"] as const) {
      const out = collector();
      createPredictionLog({ destination: out.dest, level, service: null, revision: null, time, fields: FIELDS }).write({ requestId: "r", record: { ta: 1 }, cls: "c", confidence: 1, latencyMs: 1, modelVersion: "1", warnings: 0 });
      expect(out.text()).toBe("");
    }
    const debug = collector();
    createPredictionLog({ destination: debug.dest, level: "debug", service: null, revision: null, time, fields: ["ta"] }).write({ requestId: "r", record: { ta: 1 }, cls: "c", confidence: 1, latencyMs: 1, modelVersion: "1", warnings: 0 });
    expect(JSON.parse(debug.text()).input).toEqual({ ta: 1 });
  });
});
