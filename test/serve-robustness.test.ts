import { connect } from "node:net";
import autocannon from "autocannon";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "../pipeline/serve/app.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { GOOD_RECORD } from "./helpers/serve.js";

/**
 * Malformed input never gets a 5xx and never takes the process down: at least 10,000 generated
 * requests through fastify.inject (the full routing, parsing, hooks and handlers, without sockets),
 * a slice of them and some broken HTTP over a real socket, then a short load run with no errors.
 */

const BODY_LIMIT = 32_768;
const CLASSES = ["cool", "neutral", "warm"];
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  app = await createServer({
    model: "production",
    root: PROJECT_ROOT,
    serving: { body_limit_bytes: BODY_LIMIT, max_batch: 100, rate_limit: { enabled: false } },
    env: {},
    processMetrics: false,
    // The log goes nowhere: memory must stay bounded by the server, not by a test buffer.
    logDestination: { write: () => {} },
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});

afterAll(async () => {
  await app?.close();
});

interface GeneratedRequest {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string | Buffer | undefined;
}

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

function checkResponse(req: GeneratedRequest, status: number, text: string, contentType: string | undefined): void {
  if (status >= 500) throw new Error(`${status} for ${req.method} ${req.url} (${req.contentType}): ${text.slice(0, 300)}`);
  if (req.method === "HEAD") return;
  if (status >= 400) {
    const parsed = JSON.parse(text) as { error?: { type?: unknown; message?: unknown; request_id?: unknown } };
    if (typeof parsed.error?.type !== "string" || typeof parsed.error.message !== "string" || typeof parsed.error.request_id !== "string") throw new Error(`no error envelope for ${status}: ${text.slice(0, 200)}`);
    if (/\/work\/|node_modules|\.ts:\d|\n\s+at /.test(text)) throw new Error(`internal detail leaked: ${text.slice(0, 300)}`);
  } else if (status === 200 && (req.url === "/predict" || req.url === "/predict?x=1") && req.method === "POST") {
    if (!String(contentType).startsWith("application/json")) throw new Error(`prediction not JSON: ${contentType}`);
    const parsed = JSON.parse(text) as { class?: string };
    if (!CLASSES.includes(String(parsed.class))) throw new Error(`no class in ${text.slice(0, 200)}`);
  }
}

describe("robustness against malformed requests", () => {
  it("10,000 generated malformed requests get no 5xx, always the error envelope, and memory stays bounded", { timeout: 600_000 }, async () => {
    let count = 0;
    const statuses = new Map<number, number>();
    const send = async (req: GeneratedRequest) => {
      const res = await app.inject({ method: req.method as "POST", url: req.url, payload: req.body, headers: req.contentType === undefined ? {} : { "content-type": req.contentType } });
      count++;
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      checkResponse(req, res.statusCode, res.body, res.headers["content-type"] as string | undefined);
    };
    // Warm-up, then the measured run: the heap after 10,000 requests is compared with the heap after 1,000.
    await fc.assert(fc.asyncProperty(request, send), { numRuns: 1000, seed: 7 });
    const heapBefore = process.memoryUsage().heapUsed;
    await fc.assert(fc.asyncProperty(request, send), { numRuns: 10_000, seed: 11 });
    const heapAfter = process.memoryUsage().heapUsed;
    expect(count).toBe(11_000);
    // Every family of answers was exercised, not just one kind of rejection.
    for (const s of [200, 400, 404, 405, 413, 415]) expect({ status: s, seen: (statuses.get(s) ?? 0) > 0 }).toEqual({ status: s, seen: true });
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect(heapAfter - heapBefore).toBeLessThan(96 * 1024 * 1024);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await app.inject("/health")).statusCode).toBe(200);
  });

  it("over real HTTP: a slice of the generated requests and broken HTTP leave the server up", { timeout: 300_000 }, async () => {
    const sample = fc.sample(request, { numRuns: 400, seed: 23 });
    for (const req of sample) {
      const headers: Record<string, string> = req.contentType ? { "content-type": req.contentType } : {};
      const hasBody = req.method !== "GET" && req.method !== "HEAD" && req.body !== undefined;
      const res = await fetch(url + req.url, { method: req.method, headers, body: hasBody ? req.body : undefined });
      checkResponse(req, res.status, await res.text(), res.headers.get("content-type") ?? undefined);
    }
    const raw = [
      "GARBAGE\r\n\r\n",
      "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
      "POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
      `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(70_000)}\r\n\r\n`,
      "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ta\"",
    ];
    for (const text of raw) {
      const answer = await new Promise<string>((resolveAnswer) => {
        const socket = connect(Number(new URL(url).port), "127.0.0.1", () => {
          socket.write(text);
          // The truncated body: the client goes away mid-request.
          setTimeout(() => socket.end(), 200);
        });
        let data = "";
        socket.on("data", (d) => (data += d));
        socket.on("close", () => resolveAnswer(data));
        socket.on("error", () => resolveAnswer(data));
      });
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      if (status !== undefined) expect({ text: text.slice(0, 40), status: Number(status) < 500 }).toEqual({ text: text.slice(0, 40), status: true });
    }
    const health = await fetch(url + "/health");
    expect(health.status).toBe(200);
  });

  it("a short load run on /predict has no errors", { timeout: 120_000 }, async () => {
    const result = await autocannon({
      url: url + "/predict",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(GOOD_RECORD),
      connections: 10,
      duration: 3,
    });
    expect(result.requests.total).toBeGreaterThan(0);
    expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, "5xx": result["5xx"] }).toEqual({ errors: 0, timeouts: 0, non2xx: 0, "5xx": 0 });
    expect((await app.inject("/metrics")).body).toMatch(/^http_requests_total\{method="POST",route="\/predict",status_code="200"\} \d+$/m);
  });
});
