import { Writable } from "node:stream";
import fc from "fast-check";
import { pino, type DestinationStream } from "pino";
import { describe, expect, it } from "vitest";
import { createPredictionLog, decimalText } from "../pipeline/serve/prediction-log.js";

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
      fc.property(fc.tuple(value, value, value, value), fc.string({ unit: "binary" }), fc.string(), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1e5, noNaN: true }), fc.nat(), (values, requestId, cls, confidence, latencyMs, warnings) => {
        const record = Object.fromEntries(FIELDS.map((f, i) => [f, values[i]!]));
        const ours = collector();
        const reference = collector();
        createPredictionLog({ destination: ours.dest, level: "info", service: "svc \"q\"", revision: null, time, fields: FIELDS, knownTexts: { season: ["summer", "winter"] } }).write({ requestId, record, cls, confidence, latencyMs, modelVersion: "3", warnings });
        pino({ messageKey: "message", base: { service: "svc \"q\"", revision: null }, timestamp: time, formatters: { level: (l: string) => ({ severity: l.toUpperCase() }) } }, reference.dest).info({
          event: "prediction",
          request_id: requestId,
          input: record,
          class: cls,
          // The log keeps 6 decimals of the confidence and 1 µs of the latency (the answer is exact).
          confidence: Math.round(confidence * 1e6) / 1e6,
          latency_ms: Math.round(latencyMs * 1e3) / 1e3,
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

  it("writes a rounded number exactly as JSON writes the rounded number", () => {
    const check = (x: number, digits: 3 | 6) => expect(decimalText(x, digits)).toBe(JSON.stringify(Math.round(x * 10 ** digits) / 10 ** digits));
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(3 as const, 6 as const), (x, digits) => {
        check(x, digits);
      }),
      { numRuns: 20_000 },
    );
    for (const x of [0, -0, 1, 0.5, 1e-6, 9e-6, 4e-7, 5e-7, -5e-7, 0.0005, 0.123456789, 2147.483647, 2147.483648, -2147.483648, 1e300, 24.5, 100]) {
      check(x, 3);
      check(x, 6);
    }
  });

  it("remembers number texts by value: a value that shares a table slot with another is never given the other's text", () => {
    const out = collector();
    const log = createPredictionLog({ destination: out.dest, level: "info", service: null, revision: null, time, fields: ["ta"] });
    const values = Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? i : i / 10 + 0.01 * (i % 3)));
    for (const v of [...values, ...values]) log.write({ requestId: "r", record: { ta: v }, cls: "c", confidence: 0.5, latencyMs: 1, modelVersion: "1", warnings: 0 });
    const lines = out.text().trim().split("\n").map((l) => JSON.parse(l).input.ta);
    expect(lines).toEqual([...values, ...values]);
  });

  it("gives each line the time it was written at, and quotes each class and version as JSON does", () => {
    const out = collector();
    let ms = Date.UTC(2026, 11, 4, 10, 0, 0, 0);
    const log = createPredictionLog({ destination: out.dest, level: "info", service: null, revision: null, time: () => `,"time":"${new Date(ms).toISOString()}"`, fields: ["ta"] });
    const classes = ["cool", 'q"uote', "naïve", "cool"];
    classes.forEach((cls, i) => {
      ms += i % 2;
      log.write({ requestId: i % 2 ? "id\\with\"escapes\u0001" : `plain-${i}`, record: { ta: i }, cls, confidence: 0.5, latencyMs: 1, modelVersion: i === 3 ? "v\"2" : "1", warnings: 0 });
    });
    const lines = out.text().trim().split("\n").map((l) => JSON.parse(l) as { time: string; class: string; request_id: string; model_version: string });
    expect(lines.map((l) => l.time)).toEqual(["2026-12-04T10:00:00.000Z", "2026-12-04T10:00:00.001Z", "2026-12-04T10:00:00.001Z", "2026-12-04T10:00:00.002Z"]);
    expect(lines.map((l) => l.class)).toEqual(classes);
    expect(lines.map((l) => l.request_id)).toEqual(["plain-0", 'id\\with"escapes\u0001', "plain-2", 'id\\with"escapes\u0001']);
    expect(lines.map((l) => l.model_version)).toEqual(["1", "1", "1", 'v"2']);
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
