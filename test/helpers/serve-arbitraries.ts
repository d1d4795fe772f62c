import fc from "fast-check";
import { GOOD_RECORD } from "./serve.js";

/**
 * Generated requests for the prediction service: records near the valid one, JSON it cannot hold,
 * prototype keys, deep nesting, huge bodies and numbers, odd methods, paths and content types. Shared
 * by the robustness test (no 5xx, bounded memory) and the fast-path test (both paths answer alike).
 */
export interface GeneratedRequest {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string | Buffer | undefined;
}

export function serveArbitraries(BODY_LIMIT: number) {

  const weirdToken = fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e308", "-1e308", "0x1F", "00012", "1_000", ".5", "5.", "+1", "-0", "1e-400", "undefined", "None", "null", "true", '"NaN"', '"Infinity"', '"1e999"', '" 12 "', `"${"9".repeat(400)}"`, "9".repeat(400));
  const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
    fc.double(),
    fc.integer(),
    fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 1, -0),
    fc.string({ maxLength: 30 }),
    fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "", "  ", "summer", "SUMMER", "office", "12", "12.5", "nan", "NA"),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 3 }),
  );
  const nastyKey = fc.oneof(fc.constantFrom("__proto__", "constructor", "prototype", "hasOwnProperty", "toString", "ta ", "TA", "", "\u0000"), fc.string({ maxLength: 12 }));

  /** A record near the valid one: fields dropped, replaced with odd values, extra keys added. */
  const mutatedRecord = fc
    .record({
      drop: fc.subarray(Object.keys(GOOD_RECORD)),
      replace: fc.dictionary(fc.constantFrom(...Object.keys(GOOD_RECORD)), weirdValue, { maxKeys: 4 }),
      extra: fc.dictionary(nastyKey, weirdValue, { maxKeys: 3 }),
    })
    .map(({ drop, replace, extra }) => {
      const r: Record<string, unknown> = { ...GOOD_RECORD, ...replace };
      for (const k of drop) delete r[k];
      for (const [k, v] of Object.entries(extra)) Object.defineProperty(r, k, { value: v, enumerable: true, writable: true, configurable: true });
      return r;
    });

  const jsonText = (value: unknown) => JSON.stringify(value) ?? "null";

  const body: fc.Arbitrary<string | Buffer | undefined> = fc.oneof(
    mutatedRecord.map(jsonText),
    // A raw token JSON cannot hold (or holds as something else) in place of a value.
    fc.tuple(fc.constantFrom(...Object.keys(GOOD_RECORD)), weirdToken).map(([k, t]) => jsonText({ ...GOOD_RECORD, [k]: "@@" }).replace('"@@"', t)),
    // Prototype keys written literally (JSON.stringify would drop an own __proto__ of a literal).
    fc.constantFrom('{"__proto__":{"polluted":true},"ta":20}', '{"constructor":{"prototype":{"polluted":true}}}', '[{"__proto__":{"x":1}}]', '{"records":[{"constructor":{"prototype":{}}}]}'),
    // Truncated, doubled and garbled JSON.
    mutatedRecord.chain((r) => fc.nat(jsonText(r).length).map((n) => jsonText(r).slice(0, n))),
    mutatedRecord.map((r) => jsonText(r) + jsonText(r)),
    // Deep nesting, in arrays and objects, inside and beyond the body limit.
    fc.integer({ min: 1, max: 30_000 }).map((d) => "[".repeat(d) + "]".repeat(d)),
    fc.integer({ min: 1, max: 5_000 }).map((d) => '{"a":'.repeat(d) + "1" + "}".repeat(d)),
    fc.integer({ min: 1, max: 3_000 }).map((d) => jsonText({ ...GOOD_RECORD, ta: JSON.parse("[".repeat(d) + "]".repeat(d)) })),
    // Huge bodies and huge numbers.
    fc.integer({ min: BODY_LIMIT - 100, max: BODY_LIMIT * 3 }).map((n) => jsonText({ ...GOOD_RECORD, pad: "x".repeat(n) })),
    fc.integer({ min: 300, max: 5000 }).map((n) => jsonText(GOOD_RECORD).replace('"ta":24', `"ta":${"9".repeat(n)}`)),
    // Batches of odd records, and odd batch wrappers.
    fc.array(mutatedRecord, { maxLength: 8 }).map(jsonText),
    fc.array(mutatedRecord, { maxLength: 8 }).map((records) => jsonText({ records })),
    fc.array(fc.constant(GOOD_RECORD), { minLength: 101, maxLength: 140 }).map(jsonText),
    fc.jsonValue({ maxDepth: 4 }).map(jsonText),
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 100 }),
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    fc.constant(""),
    fc.constant(undefined),
  );

  const request: fc.Arbitrary<GeneratedRequest> = fc.record({
    method: fc.constantFrom("POST", "POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
    url: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom("/predict", "/predict/batch") },
      { weight: 2, arbitrary: fc.constantFrom("/predict?x=1", "/predict/", "/predict//batch", "/model", "/ready", "/health", "/metrics", "/monitoring/feedback", "/monitoring/metrics", "/monitoring/run-pipeline", "/%00", "/..%2f..%2fetc/passwd", "/predict%20") },
      { weight: 1, arbitrary: fc.webPath().map((p) => p || "/") },
    ),
    contentType: fc.constantFrom("application/json", "application/json", "application/json", "application/json; charset=utf-8", "application/JSON", "application/json; charset=utf-16", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/vnd.api+json", "*/*", "", undefined),
    body,
  });

  return { mutatedRecord, body, request, jsonText };
}
