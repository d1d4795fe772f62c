import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../pipeline/core/hash.js";
import { loadModel } from "../pipeline/model/load.js";
import { predict } from "../pipeline/model/predict.js";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { createServer } from "../pipeline/serve/app.js";
import { LATENCY_BUCKETS_SECONDS } from "../pipeline/serve/metrics.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { bakedModelDir, GOOD_RECORD, logCollector, PRODUCTION_MODEL } from "./helpers/serve.js";

const ADMIN_KEY = "admin-key-0123456789abcdef";
const VIEWER_KEY = "viewer-key-0123456789abcdef";
const HASHED_VIEWER_KEY = "second-viewer-key-fedcba9876543210";
const KEYS = `admin:${ADMIN_KEY}, viewer:${VIEWER_KEY}\nviewer:sha256:${createHash("sha256").update(HASHED_VIEWER_KEY).digest("hex")}`;

let model: ModelArtifact;
const cleanup: string[] = [];
const apps: FastifyInstance[] = [];

async function server(options: Partial<Parameters<typeof createServer>[0]> = {}) {
  const logs = logCollector();
  const app = await createServer({ model: "production", root: PROJECT_ROOT, logDestination: logs, processMetrics: false, env: {}, ...options });
  apps.push(app);
  return { app, logs };
}

const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { "content-type": "application/json" } });

/** Every error answer: the envelope, a request id that matches the header, and nothing internal. */
function expectEnvelope(res: { statusCode: number; body: string; headers: Record<string, unknown> }, status: number, type: string) {
  expect(res.statusCode).toBe(status);
  const body = JSON.parse(res.body) as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error).toMatchObject({ type, request_id: res.headers["x-request-id"] });
  expect(typeof body.error.message).toBe("string");
  expect(Number.isNaN(Date.parse(String(body.error.timestamp)))).toBe(false);
  expect(res.body).not.toMatch(/\/work\/|\/tmp\/|node_modules|\.ts:\d|\n\s+at /);
  return body.error;
}

beforeAll(async () => {
  model = await loadModel(PRODUCTION_MODEL);
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await Promise.all(cleanup.map((d) => rm(d, { recursive: true, force: true })));
});

describe("prediction API", () => {
  let app: FastifyInstance;
  let logs: ReturnType<typeof logCollector>;
  beforeAll(async () => {
    ({ app, logs } = await server({ serving: { body_limit_bytes: 65_536, max_batch: 50, rate_limit: { enabled: false } }, env: { PIPELINE_API_KEYS: KEYS, K_SERVICE: "thermal-comfort", K_REVISION: "thermal-comfort-00007-abc" } }));
  });

  it("answers /health, and /ready with the registry's identity", async () => {
    expect((await app.inject("/health")).json()).toEqual({ status: "healthy" });
    const ready = await app.inject("/ready");
    expect(ready.statusCode).toBe(200);
    const registry = await readFile(join(PROJECT_ROOT, "models/registry.yaml"), "utf8");
    const sha = sha256Hex(await readFile(PRODUCTION_MODEL));
    expect(registry).toContain(sha);
    expect(ready.json()).toMatchObject({ ready: true, identity: "registry", model: { name: "thermal-comfort", version: 1, sha256: sha } });
  });

  it("/model describes features, classes, metrics, lineage and the Cloud Run revision", async () => {
    const res = await app.inject("/model");
    const body = res.json();
    expect(body).toMatchObject({ name: "thermal-comfort", version: 1, classes: model.classes, service: "thermal-comfort", revision: "thermal-comfort-00007-abc", lineage: model.lineage, metrics: model.metrics });
    expect(body.features.map((f: { name: string }) => f.name)).toEqual(model.features.map((f) => f.name));
    expect(body.features.find((f: { name: string }) => f.name === "season")).toMatchObject({ type: "category", categories: ["winter", "spring", "summer", "autumn"], required: true });
    expect(body.features.find((f: { name: string }) => f.name === "ta")).toMatchObject({ type: "number", range: [5, 45] });
  });

  it("POST /predict answers class, probabilities, version, content hash and request id, as the model predicts", async () => {
    const res = await app.inject({ method: "POST", url: "/predict", ...json(GOOD_RECORD), headers: { "content-type": "application/json", "x-request-id": "req-given-1" } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const expected = predict(model, [GOOD_RECORD])[0]!;
    expect(body.class).toBe(expected.label);
    for (const c of model.classes) expect(body.probabilities[c]).toBeCloseTo(expected.probabilities[c]!, 12);
    expect(body).toMatchObject({ model_version: "1", request_id: "req-given-1", warnings: [], confidence: body.probabilities[body.class] });
    expect(body.content_sha256).toMatch(/^[0-9a-f]{64}$/);
    // The answer is written by a compiled serializer that drops what its schema lacks: every field is there.
    expect(Object.keys(body).sort()).toEqual(["class", "confidence", "content_sha256", "model_version", "probabilities", "request_id", "warnings"]);
    expect(Object.keys(body.probabilities).sort()).toEqual([...model.classes].sort());
    expect(res.headers["x-model-version"]).toBe("1");
    expect(res.headers["x-request-id"]).toBe("req-given-1");
    // A request id that could inject into logs or headers is replaced.
    const odd = await app.inject({ method: "POST", url: "/predict", payload: JSON.stringify(GOOD_RECORD), headers: { "content-type": "application/json", "x-request-id": "bad id\u0001" } });
    expect(odd.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("unknown categories, out-of-range values and missing optional features are answered with warnings", async () => {
    const res = await app.inject({ method: "POST", url: "/predict", ...json({ ...GOOD_RECORD, building_type: "castle", rh: 400, tr: null }) });
    expect(res.statusCode).toBe(200);
    expect(res.json().warnings.map((w: { field: string; kind: string }) => `${w.field}:${w.kind}`).sort()).toEqual(["building_type:unknown_category", "rh:out_of_range", "tr:imputed_missing"]);
    for (const w of res.json().warnings) {
      expect(Object.keys(w).sort()).toEqual(["field", "kind", "message"]);
      expect(w.message).toContain(w.field);
    }
  });

  it("a missing required feature or a wrong type is a 400 naming the field", async () => {
    const { season: _season, ...noSeason } = GOOD_RECORD;
    const missing = expectEnvelope(await app.inject({ method: "POST", url: "/predict", ...json({ ...noSeason, ta: "hot" }) }), 400, "invalid_input");
    expect(missing.fields).toEqual([
      expect.objectContaining({ field: "ta", kind: "wrong_type" }),
      expect.objectContaining({ field: "season", kind: "missing_required" }),
    ]);
    expect(missing.message).toMatch(/ta: expected a number, got the text "hot"/);
    const notObject = expectEnvelope(await app.inject({ method: "POST", url: "/predict", ...json([GOOD_RECORD]) }), 400, "invalid_input");
    expect(notObject.fields).toEqual([expect.objectContaining({ field: "(record)", kind: "not_an_object" })]);
  });

  it("maps bad JSON to 400, wrong content types to 415, big bodies to 413, unknown routes to 404 and wrong methods to 405", async () => {
    expectEnvelope(await app.inject({ method: "POST", url: "/predict", payload: '{"ta": 1,', headers: { "content-type": "application/json" } }), 400, "invalid_json");
    expectEnvelope(await app.inject({ method: "POST", url: "/predict", payload: "", headers: { "content-type": "application/json" } }), 400, "invalid_json");
    expectEnvelope(await app.inject({ method: "POST", url: "/predict", payload: '{"__proto__": {"polluted": 1}}', headers: { "content-type": "application/json" } }), 400, "invalid_json");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expectEnvelope(await app.inject({ method: "POST", url: "/predict", payload: JSON.stringify(GOOD_RECORD), headers: { "content-type": "text/plain" } }), 415, "unsupported_media_type");
    expectEnvelope(await app.inject({ method: "POST", url: "/predict", payload: "ta=1", headers: { "content-type": "application/x-www-form-urlencoded" } }), 415, "unsupported_media_type");
    const huge = JSON.stringify({ ...GOOD_RECORD, padding: "x".repeat(70_000) });
    expectEnvelope(await app.inject({ method: "POST", url: "/predict", payload: huge, headers: { "content-type": "application/json" } }), 413, "payload_too_large");
    expectEnvelope(await app.inject("/nope"), 404, "not_found");
    const wrong = await app.inject({ method: "GET", url: "/predict" });
    expectEnvelope(wrong, 405, "method_not_allowed");
    expect(wrong.headers.allow).toBe("POST");
    const wrongHealth = await app.inject({ method: "DELETE", url: "/health" });
    expectEnvelope(wrongHealth, 405, "method_not_allowed");
    expect(String(wrongHealth.headers.allow)).toContain("GET");
  });

  it("POST /predict/batch takes an array or {records}, all or nothing, up to the configured maximum", async () => {
    const records = [GOOD_RECORD, { ...GOOD_RECORD, ta: 31, season: "winter" }, { ...GOOD_RECORD, clo: 1.4 }];
    const expected = predict(model, records);
    for (const body of [records, { records }]) {
      const res = await app.inject({ method: "POST", url: "/predict/batch", ...json(body) });
      expect(res.statusCode).toBe(200);
      const out = res.json();
      expect(out.predictions.map((p: { class: string }) => p.class)).toEqual(expected.map((e) => e.label));
      expect(out.predictions.map((p: { index: number }) => p.index)).toEqual([0, 1, 2]);
      expect(out).toMatchObject({ model_version: "1", request_id: res.headers["x-request-id"] });
      expect(Object.keys(out).sort()).toEqual(["content_sha256", "model_version", "predictions", "request_id"]);
      out.predictions.forEach((p: Record<string, unknown>, i: number) => {
        expect(Object.keys(p).sort()).toEqual(["class", "confidence", "index", "probabilities", "request_id", "warnings"]);
        expect(p.request_id).toBe(`${out.request_id}:${i}`);
        expect(p.confidence).toBe((p.probabilities as Record<string, number>)[p.class as string]);
      });
      expect(res.headers["x-model-version"]).toBe("1");
    }
    const bad = expectEnvelope(await app.inject({ method: "POST", url: "/predict/batch", ...json([GOOD_RECORD, { ...GOOD_RECORD, ta: "warm" }, GOOD_RECORD, 7]) }), 400, "invalid_input");
    expect(bad.fields).toEqual([expect.objectContaining({ field: "records[1].ta", kind: "wrong_type" }), expect.objectContaining({ field: "records[3].(record)", kind: "not_an_object" })]);
    expect(bad.message).toMatch(/2 of 4 records/);
    expectEnvelope(await app.inject({ method: "POST", url: "/predict/batch", ...json(Array.from({ length: 51 }, () => GOOD_RECORD)) }), 413, "payload_too_large");
    expectEnvelope(await app.inject({ method: "POST", url: "/predict/batch", ...json({ records: "all" }) }), 400, "invalid_input");
    expectEnvelope(await app.inject({ method: "POST", url: "/predict/batch", ...json([]) }), 400, "invalid_input");
  });

  it("writes one JSON log line per prediction with time, request id, input, class, confidence, latency and model version", async () => {
    const before = logs.lines().filter((l) => l.event === "prediction").length;
    const res = await app.inject({ method: "POST", url: "/predict/batch", ...json([GOOD_RECORD, GOOD_RECORD]), headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` } });
    const predictions = logs.lines().filter((l) => l.event === "prediction");
    expect(predictions.length - before).toBe(2);
    const last = predictions.at(-1)!;
    expect(last).toMatchObject({ request_id: `${res.headers["x-request-id"]}:1`, class: res.json().predictions[1].class, model_version: "1", input: GOOD_RECORD, severity: "INFO", service: "thermal-comfort" });
    expect(typeof last.latency_ms).toBe("number");
    expect(typeof last.confidence).toBe("number");
    expect(Number.isNaN(Date.parse(String(last.time)))).toBe(false);
    expect(logs.text()).not.toContain(ADMIN_KEY);
    // A secret smuggled in as a field is not a feature: it is ignored and never logged.
    const smuggled = await app.inject({ method: "POST", url: "/predict", ...json({ ...GOOD_RECORD, api_key: VIEWER_KEY, token: VIEWER_KEY }) });
    expect(smuggled.json().warnings.map((w: { field: string }) => w.field)).toEqual(["api_key", "token"]);
    expect(logs.text()).not.toContain(VIEWER_KEY);
  });

  it("exposes the agreed Prometheus metrics with their conventions", async () => {
    await app.inject({ method: "POST", url: "/predict", ...json({}) });
    const res = await app.inject("/metrics");
    expect(res.statusCode).toBe(200);
    expect(String(res.headers["content-type"])).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    const type = (name: string) => new RegExp(`^# TYPE ${name} (\\w+)$`, "m").exec(text)?.[1];
    expect(type("http_requests_total")).toBe("counter");
    expect(type("http_request_duration_seconds")).toBe("histogram");
    expect(type("predictions_total")).toBe("counter");
    expect(type("input_rejections_total")).toBe("counter");
    expect(type("model_info")).toBe("gauge");
    expect(type("drift_score")).toBe("gauge");
    expect(text).toMatch(/^http_requests_total\{method="POST",route="\/predict",status_code="200"\} \d+$/m);
    expect(text).toMatch(/^http_requests_total\{method="POST",route="\/predict",status_code="400"\} \d+$/m);
    const buckets = [...text.matchAll(/^http_request_duration_seconds_bucket\{le="([^"]+)",method="POST",route="\/predict",status_code="200"\}/gm)].map((m) => m[1]);
    expect(buckets).toEqual([...LATENCY_BUCKETS_SECONDS.map(String), "+Inf"]);
    for (const c of new Set([predict(model, [GOOD_RECORD])[0]!.label])) expect(text).toMatch(new RegExp(`^predictions_total\\{class="${c}",model_version="1"\\} \\d+$`, "m"));
    expect(text).toMatch(/^input_rejections_total\{reason="missing_required"\} \d+$/m);
    expect(text).toMatch(/^input_rejections_total\{reason="invalid_json"\} \d+$/m);
    expect(text).toMatch(/^model_info\{name="thermal-comfort",version="1",sha256="[0-9a-f]{64}",content_sha256="[0-9a-f]{64}"\} 1$/m);
    // Every sample name is snake_case; counters end in _total, durations are in seconds.
    const names = new Set([...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]!));
    for (const n of names) expect(n).toMatch(/^[a-z][a-z0-9_]*$/);
    for (const [, n] of text.matchAll(/^# TYPE (\S+) counter$/gm)) expect(n).toMatch(/_total$/);
  });

  it("process metrics are there when enabled", async () => {
    const { app: withProcess } = await server({ processMetrics: true, monitoring: false, modelLoader: "main" });
    const text = (await withProcess.inject("/metrics")).body;
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^# TYPE nodejs_heap_size_used_bytes gauge$/m);
  });
});

describe("API keys", () => {
  let app: FastifyInstance;
  let logs: ReturnType<typeof logCollector>;
  beforeAll(async () => {
    ({ app, logs } = await server({ serving: { auth: { predict_requires_key: true }, rate_limit: { enabled: false } }, env: { PIPELINE_API_KEYS: KEYS }, modelLoader: "main" }));
  });
  const predictWith = (headers: Record<string, string>) => app.inject({ method: "POST", url: "/predict", payload: JSON.stringify(GOOD_RECORD), headers: { "content-type": "application/json", ...headers } });

  it("no key and a wrong key are 401; a viewer, a hashed viewer and an admin key may predict", async () => {
    const none = await predictWith({});
    expectEnvelope(none, 401, "unauthorized");
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer/);
    expectEnvelope(await predictWith({ authorization: "Bearer not-a-valid-key-at-all" }), 401, "unauthorized");
    expectEnvelope(await predictWith({ "x-api-key": VIEWER_KEY.slice(0, -1) }), 401, "unauthorized");
    expect((await predictWith({ authorization: `Bearer ${VIEWER_KEY}` })).statusCode).toBe(200);
    expect((await predictWith({ "x-api-key": HASHED_VIEWER_KEY })).statusCode).toBe(200);
    expect((await predictWith({ authorization: `bearer ${ADMIN_KEY}` })).statusCode).toBe(200);
    // Open routes stay open.
    expect((await app.inject("/health")).statusCode).toBe(200);
    expect((await app.inject("/ready")).statusCode).toBe(200);
  });

  it("a viewer on an admin route is 403; the admin passes; viewer routes need a key once keys exist", async () => {
    const metric = { name: "audit_accuracy", value: 0.61, source: "labelled audit" };
    const post = (headers: Record<string, string>) => app.inject({ method: "POST", url: "/monitoring/metrics", payload: JSON.stringify(metric), headers: { "content-type": "application/json", ...headers } });
    expectEnvelope(await post({ authorization: `Bearer ${VIEWER_KEY}` }), 403, "forbidden");
    expectEnvelope(await post({}), 401, "unauthorized");
    const ok = await post({ authorization: `Bearer ${ADMIN_KEY}` });
    expect(ok.statusCode).toBeLessThan(300);
    expectEnvelope(await app.inject("/monitoring/metrics"), 401, "unauthorized");
    expect((await app.inject({ url: "/monitoring/metrics", headers: { "x-api-key": VIEWER_KEY } })).statusCode).toBe(200);
  });

  it("keys never reach the log, and rejections are counted by reason", async () => {
    await predictWith({ authorization: `Bearer ${ADMIN_KEY}` });
    await predictWith({});
    await predictWith({ authorization: `Bearer ${VIEWER_KEY}x` });
    await app.inject({ method: "POST", url: "/monitoring/metrics", payload: "{}", headers: { "content-type": "application/json", "x-api-key": VIEWER_KEY } });
    expect(logs.text()).not.toContain(ADMIN_KEY);
    expect(logs.text()).not.toContain(VIEWER_KEY);
    const text = (await app.inject("/metrics")).body;
    expect(text).toMatch(/^input_rejections_total\{reason="missing_api_key"\} [1-9]/m);
    expect(text).toMatch(/^input_rejections_total\{reason="invalid_api_key"\} [1-9]/m);
    expect(text).toMatch(/^input_rejections_total\{reason="forbidden"\} [1-9]/m);
  });

  it("refuses malformed key configuration without echoing the keys", async () => {
    await expect(createServer({ model: PRODUCTION_MODEL, root: PROJECT_ROOT, logDestination: logCollector(), processMetrics: false, modelLoader: "main", env: { PIPELINE_API_KEYS: "owner:some-secret-value-123456" } })).rejects.toThrow(/entry 1: expected role:key with role viewer or admin/);
    await expect(createServer({ model: PRODUCTION_MODEL, root: PROJECT_ROOT, logDestination: logCollector(), processMetrics: false, modelLoader: "main", env: { PIPELINE_API_KEYS: "admin:short" } })).rejects.toThrow(/at least 16 characters/);
  });
});

describe("rate limiting", () => {
  it("limits per key or address with 429 and Retry-After; health probes are not limited", async () => {
    const { app } = await server({ serving: { rate_limit: { max: 3, window_seconds: 60 } }, env: { PIPELINE_API_KEYS: KEYS }, monitoring: false, modelLoader: "main" });
    const call = (headers: Record<string, string> = {}) => app.inject({ method: "POST", url: "/predict", payload: JSON.stringify(GOOD_RECORD), headers: { "content-type": "application/json", ...headers } });
    for (let i = 0; i < 3; i++) {
      const ok = await call();
      expect(ok.statusCode).toBe(200);
      expect(Object.keys(ok.headers).filter((h) => h.startsWith("x-ratelimit"))).toEqual([]);
    }
    const limited = await call();
    const error = expectEnvelope(limited, 429, "rate_limited");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(limited.headers["x-ratelimit-limit"]).toBe("3");
    expect(limited.headers["x-ratelimit-remaining"]).toBe("0");
    expect(error.message).toMatch(/rate limit of 3 requests per 60 s/);
    // A key has its own bucket; a wrong key shares the address's bucket (no way around the limit by guessing).
    expect((await call({ authorization: `Bearer ${VIEWER_KEY}` })).statusCode).toBe(200);
    expect((await call({ authorization: "Bearer guessed-key-0000000000" })).statusCode).toBe(429);
    for (let i = 0; i < 10; i++) expect((await app.inject("/health")).statusCode).toBe(200);
    expect((await app.inject("/metrics")).body).toMatch(/^input_rejections_total\{reason="rate_limited"\} 2$/m);
  });
});

describe("readiness", () => {
  async function readyOf(options: Partial<Parameters<typeof createServer>[0]>) {
    const { app, logs } = await server({ monitoring: false, ...options });
    const ready = await app.inject("/ready");
    const predicted = await app.inject({ method: "POST", url: "/predict", ...json(GOOD_RECORD) });
    return { app, logs, ready, predicted };
  }

  it("a missing model is never ready; liveness still answers and /predict is 503", async () => {
    const dir = await mkdtemp(join(tmpdir(), "serve-missing-"));
    cleanup.push(dir);
    const { app, ready, predicted } = await readyOf({ model: join(dir, "model.json") });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ ready: false, status: "failed" });
    expect(ready.json().reason).toMatch(/cannot read the model file \(not found\)/);
    expect((await app.inject("/health")).statusCode).toBe(200);
    expectEnvelope(predicted, 503, "not_ready");
    expectEnvelope(await app.inject("/model"), 503, "not_ready");
  });

  it("a tampered model is never ready, whether serving.json or the registry holds the expected hash", async () => {
    const baked = await bakedModelDir({ tamper: true });
    cleanup.push(baked.dir);
    const viaServingJson = await readyOf({ model: baked.model });
    expect(viaServingJson.ready.statusCode).toBe(503);
    expect(viaServingJson.ready.json().reason).toMatch(/sha256 [0-9a-f]{64} does not match the serving\.json/);
    expectEnvelope(viaServingJson.predicted, 503, "not_ready");
    expect(viaServingJson.logs.lines().some((l) => l.event === "model_not_ready")).toBe(true);

    // A repository whose registered artifact was changed after registration.
    const root = await mkdtemp(join(tmpdir(), "serve-registry-"));
    cleanup.push(root);
    await mkdir(join(root, "models/thermal-comfort/v1"), { recursive: true });
    await copyFile(join(PROJECT_ROOT, "models/registry.yaml"), join(root, "models/registry.yaml"));
    await copyFile(baked.model, join(root, "models/thermal-comfort/v1/model.json"));
    for (const spec of ["production", "thermal-comfort@v1", "models/thermal-comfort/v1/model.json"]) {
      const r = await readyOf({ model: spec, root });
      expect({ spec, status: r.ready.statusCode }).toEqual({ spec, status: 503 });
      expect(r.ready.json().reason).toMatch(/does not match the registry/);
    }
  });

  it("serving.json must match the content hash and the name too", async () => {
    const good = await bakedModelDir();
    cleanup.push(good.dir);
    const identity = JSON.parse(await readFile(join(good.dir, "serving.json"), "utf8"));
    const ok = await readyOf({ model: good.model });
    expect(ok.ready.json()).toMatchObject({ ready: true, identity: "serving.json", model: { version: 1, sha256: identity.sha256, content_sha256: identity.content_sha256 } });
    expect(ok.predicted.statusCode).toBe(200);

    await writeFile(join(good.dir, "serving.json"), JSON.stringify({ ...identity, content_sha256: "0".repeat(64) }));
    const wrongContent = await readyOf({ model: good.model });
    expect(wrongContent.ready.statusCode).toBe(503);
    expect(wrongContent.ready.json().reason).toMatch(/content hash/);
    await writeFile(join(good.dir, "serving.json"), JSON.stringify({ ...identity, name: "other-model" }));
    expect((await readyOf({ model: good.model })).ready.statusCode).toBe(503);
    await writeFile(join(good.dir, "serving.json"), "{not json");
    const broken = await readyOf({ model: good.model });
    expect(broken.ready.statusCode).toBe(503);
    expect(broken.ready.json().reason).toMatch(/serving\.json: not valid JSON/);
  });

  it("a model with no expected identity is not ready unless unverified models are allowed", async () => {
    const bare = await bakedModelDir({ servingJson: null });
    cleanup.push(bare.dir);
    const strict = await readyOf({ model: bare.model });
    expect(strict.ready.statusCode).toBe(503);
    expect(strict.ready.json().reason).toMatch(/no expected identity/);
    const allowed = await readyOf({ model: bare.model, allowUnverified: true });
    expect(allowed.ready.json()).toMatchObject({ ready: true, identity: "unverified", model: { version: null } });
    expect(allowed.predicted.json()).toMatchObject({ model_version: "unverified" });
  });
});

describe("prediction log sampling", () => {
  it("logs the configured share of predictions", async () => {
    let n = 0;
    const { app, logs } = await server({ serving: { log: { prediction_sample_rate: 0.5 }, rate_limit: { enabled: false } }, random: () => (n++ % 2 === 0 ? 0.25 : 0.75), monitoring: false, modelLoader: "main" });
    for (let i = 0; i < 10; i++) await app.inject({ method: "POST", url: "/predict", ...json(GOOD_RECORD) });
    expect(logs.lines().filter((l) => l.event === "prediction")).toHaveLength(5);
    const { app: silent, logs: none } = await server({ serving: { log: { prediction_sample_rate: 0 } }, monitoring: false, modelLoader: "main" });
    await silent.inject({ method: "POST", url: "/predict", ...json(GOOD_RECORD) });
    expect(none.lines().filter((l) => l.event === "prediction")).toHaveLength(0);
  });
});
