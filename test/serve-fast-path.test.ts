import { Agent, request as httpRequest } from "node:http";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { createServer, type ServerOptions } from "../pipeline/serve/app.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { GOOD_RECORD, logCollector } from "./helpers/serve.js";
import { serveArbitraries, type GeneratedRequest } from "./helpers/serve-arbitraries.js";

/**
 * POST /predict is answered on node's server before fastify (pipeline/serve/predict-fast-path.ts).
 * Two servers built alike get the same requests, one over HTTP (the fast path) and one through
 * fastify.inject (fastify's route, hooks and parser): every answer, log line and metric must match.
 */

const BODY_LIMIT = 32_768;
const VIEWER_KEY = "viewer-key-0123456789abcdef";
const ADMIN_KEY = "admin-key-0123456789abcdef";
const KEYS = `admin:${ADMIN_KEY},viewer:${VIEWER_KEY}`;
const apps: FastifyInstance[] = [];
// Kept-alive connections, as a load balancer holds them: a refused body must close its own.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

afterAll(async () => {
  agent.destroy();
  await Promise.all(apps.map((a) => a.close()));
});

async function build(options: Partial<ServerOptions>) {
  const logs = logCollector();
  const app = await createServer({ model: "production", root: PROJECT_ROOT, logDestination: logs, processMetrics: false, env: {}, modelLoader: "main", ...options });
  apps.push(app);
  return { app, logs };
}

/** The same server twice: `direct` listening on a port (requests take the fast path), `routed` for inject. */
async function pair(options: Partial<ServerOptions>) {
  const direct = await build(options);
  const routed = await build(options);
  await direct.app.listen({ port: 0, host: "127.0.0.1" });
  const address = direct.app.server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return { direct, routed, url };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

// Headers only a socket has (inject has no connection to keep alive) or that change by the second.
const SOCKET_HEADERS = new Set(["date", "connection", "keep-alive", "transfer-encoding"]);

function normalise(status: number, headers: Record<string, string>, text: string): Answer {
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (!SOCKET_HEADERS.has(k.toLowerCase())) kept[k.toLowerCase()] = v;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: compared as text
  }
  const error = (body as { error?: { timestamp?: string } } | null)?.error;
  if (error && typeof error.timestamp === "string") {
    expect(Number.isNaN(Date.parse(error.timestamp))).toBe(false);
    error.timestamp = "(time)";
  }
  return { status, headers: kept, body };
}

/** A request over a real socket; the body is sent exactly as given. */
function overHttp(url: string, req: { method: string; path: string; headers: Record<string, string>; body?: string | Buffer }): Promise<Answer & { connection: string | undefined }> {
  return new Promise((resolveAnswer, reject) => {
    const r = httpRequest(url + req.path, { method: req.method, headers: req.headers, agent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolveAnswer({ ...normalise(res.statusCode!, res.headers as Record<string, string>, text), connection: res.headers.connection }));
    });
    r.on("error", reject);
    r.end(req.body);
  });
}

async function throughFastify(app: FastifyInstance, req: { method: string; path: string; headers: Record<string, string>; body?: string | Buffer }): Promise<Answer> {
  const res = await app.inject({ method: req.method as "POST", url: req.path, headers: req.headers, payload: req.body });
  return normalise(res.statusCode, res.headers as Record<string, string>, res.body);
}

const asRequest = (g: GeneratedRequest, i: number, extra: Record<string, string> = {}) => {
  const body = g.body ?? "";
  const headers: Record<string, string> = { "x-request-id": `parity-${i}`, "content-length": String(Buffer.byteLength(body)), ...extra };
  if (g.contentType !== undefined) headers["content-type"] = g.contentType;
  return { method: "POST", path: "/predict", headers, body };
};

/** The counters of /metrics (latency values and process figures differ by nature). */
async function counters(app: FastifyInstance): Promise<string[]> {
  const text = (await app.inject("/metrics")).body;
  return text
    .split("\n")
    .filter((l) => /^(http_requests_total|predictions_total|input_rejections_total|http_request_duration_seconds_count)\{/.test(l))
    .filter((l) => !l.includes('route="/metrics"'))
    .sort();
}

/** Prediction log lines without what depends on the clock. */
const predictionLines = (logs: ReturnType<typeof logCollector>) =>
  logs
    .lines()
    .filter((l) => l.event === "prediction")
    .map(({ time: _time, latency_ms: _latency, ...rest }) => rest);

describe("the /predict fast path", () => {
  it("answers 1,500 generated requests exactly as fastify's route does: status, headers, body, log lines and metrics", { timeout: 300_000 }, async () => {
    const { direct, routed, url } = await pair({ serving: { body_limit_bytes: BODY_LIMIT, rate_limit: { enabled: false } } });
    const { request } = serveArbitraries(BODY_LIMIT);
    // Every generated body and content type, sent to /predict: the path that the fast path serves.
    const sample = fc.sample(request, { numRuns: 1500, seed: 31 });
    const statuses = new Map<number, number>();
    for (const [i, g] of sample.entries()) {
      const req = asRequest(g, i);
      const a = await overHttp(url, req);
      const b = await throughFastify(routed.app, req);
      expect({ i, contentType: g.contentType, ...a, connection: undefined }).toEqual({ i, contentType: g.contentType, ...b, connection: undefined });
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    }
    // Predictions, refused records, bad JSON, oversized bodies and wrong content types were all in it.
    for (const s of [200, 400, 413, 415]) expect({ status: s, seen: (statuses.get(s) ?? 0) > 0 }).toEqual({ status: s, seen: true });
    // The JSON ones were answered by the fast path; the rest (other content types) went on to fastify.
    expect(direct.app.serving.fastPathAnswers).toBeGreaterThan(sample.length * 0.3);
    expect(routed.app.serving.fastPathAnswers).toBe(0);
    expect(predictionLines(direct.logs)).toEqual(predictionLines(routed.logs));
    expect(predictionLines(direct.logs).length).toBe(statuses.get(200));
    expect(await counters(direct.app)).toEqual(await counters(routed.app));
    // The monitor saw the same predictions in the same order.
    const recent = async (app: FastifyInstance) =>
      (JSON.parse((await app.inject("/monitoring/predictions?limit=50")).body) as { items: Record<string, unknown>[] }).items.map(({ time: _t, latency_ms: _l, ...rest }) => rest);
    expect(await recent(direct.app)).toEqual(await recent(routed.app));
  });

  it("generates a request id when none (or a bad one) is given, as the route does", async () => {
    const { url } = await pair({ serving: { rate_limit: { enabled: false } } });
    for (const given of [undefined, "bad id with spaces", "x".repeat(200)]) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (given) headers["x-request-id"] = given;
      const a = await overHttp(url, { method: "POST", path: "/predict", headers, body: JSON.stringify(GOOD_RECORD) });
      expect(a.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect((a.body as { request_id: string }).request_id).toBe(a.headers["x-request-id"]);
    }
  });

  it("needs a key when the config says so: 401 without one or with a wrong one, 200 with a viewer's, as the route answers", async () => {
    const { direct, routed, url } = await pair({ serving: { auth: { predict_requires_key: true }, rate_limit: { enabled: false } }, env: { PIPELINE_API_KEYS: KEYS } });
    const cases: Record<string, string>[] = [{}, { authorization: "Bearer nope" }, { "x-api-key": "nope" }, { authorization: `Bearer ${VIEWER_KEY}` }, { "x-api-key": ADMIN_KEY }];
    const seen: number[] = [];
    for (const [i, extra] of cases.entries()) {
      const req = { method: "POST", path: "/predict", headers: { "content-type": "application/json", "x-request-id": `auth-${i}`, ...extra }, body: JSON.stringify(GOOD_RECORD) };
      const a = await overHttp(url, req);
      expect({ ...a, connection: undefined }).toEqual({ ...(await throughFastify(routed.app, req)), connection: undefined });
      seen.push(a.status);
    }
    expect(seen).toEqual([401, 401, 401, 200, 200]);
    expect(direct.app.serving.fastPathAnswers).toBe(cases.length);
    expect(await counters(direct.app)).toEqual(await counters(routed.app));
  });

  it("counts against the same rate limit as every other route, per key or address", async () => {
    const { direct, url } = await pair({ serving: { rate_limit: { max: 3, window_seconds: 60 } }, env: { PIPELINE_API_KEYS: KEYS } });
    const predictReq = (extra: Record<string, string> = {}) => ({ method: "POST", path: "/predict", headers: { "content-type": "application/json", ...extra }, body: JSON.stringify(GOOD_RECORD) });
    expect((await overHttp(url, predictReq())).status).toBe(200);
    expect((await overHttp(url, { method: "GET", path: "/model", headers: {} })).status).toBe(200);
    expect((await overHttp(url, predictReq())).status).toBe(200);
    const limited = await overHttp(url, predictReq({ "x-request-id": "limited-1" }));
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: { type: "rate_limited", request_id: "limited-1" } });
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(limited.headers["x-ratelimit-limit"]).toBe("3");
    expect(limited.headers["x-ratelimit-remaining"]).toBe("0");
    // The fourth request of the window, whichever path: /model is refused too.
    expect((await overHttp(url, { method: "GET", path: "/model", headers: {} })).status).toBe(429);
    // Another client (a key) has its own window; health probes are never limited.
    expect((await overHttp(url, predictReq({ "x-api-key": VIEWER_KEY }))).status).toBe(200);
    expect((await overHttp(url, { method: "GET", path: "/health", headers: {} })).status).toBe(200);
    // The address comes from X-Forwarded-For (trust_proxy, the default): a different client there is a different window.
    expect((await overHttp(url, predictReq({ "x-forwarded-for": "203.0.113.9" }))).status).toBe(200);
    expect((await direct.app.inject("/metrics")).body).toMatch(/^input_rejections_total\{reason="rate_limited"\} 2$/m);
  });

  it("closes the connection after a body it refuses (the client may still be sending) and keeps serving", async () => {
    const { url } = await pair({ serving: { body_limit_bytes: BODY_LIMIT, rate_limit: { enabled: false } } });
    const tooLarge = await overHttp(url, { method: "POST", path: "/predict", headers: { "content-type": "application/json", "content-length": String(BODY_LIMIT + 1) }, body: "x".repeat(BODY_LIMIT + 1) });
    expect([tooLarge.status, tooLarge.connection]).toEqual([413, "close"]);
    const badJson = await overHttp(url, { method: "POST", path: "/predict", headers: { "content-type": "application/json" }, body: '{"ta":' });
    expect([badJson.status, badJson.connection, (badJson.body as { error: { type: string } }).error.type]).toEqual([400, "close", "invalid_json"]);
    const refusedRecord = await overHttp(url, { method: "POST", path: "/predict", headers: { "content-type": "application/json" }, body: '{"ta":"hot"}' });
    expect([refusedRecord.status, refusedRecord.connection]).toEqual([400, "keep-alive"]);
    const ok = await overHttp(url, { method: "POST", path: "/predict", headers: { "content-type": "application/json; charset=utf-8" }, body: JSON.stringify(GOOD_RECORD) });
    expect(ok.status).toBe(200);
  });

  it("gives each of many concurrent requests its own answer when answers are written together at the end of an I/O turn", async () => {
    const { url, routed } = await pair({ serving: { rate_limit: { enabled: false } } });
    const many = new Agent({ keepAlive: true, maxSockets: 50 });
    try {
      const requests = Array.from({ length: 300 }, (_, i) => ({ id: `concurrent-${i}`, record: { ...GOOD_RECORD, ta: 15 + (i % 23) * 0.5, rh: 20 + (i % 13) * 5 } }));
      const answers = await Promise.all(
        requests.map(
          (r) =>
            new Promise<Answer>((done, fail) => {
              const req = httpRequest(url + "/predict", { method: "POST", headers: { "content-type": "application/json", "x-request-id": r.id }, agent: many }, (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (d: string) => (text += d));
                res.on("end", () => done(normalise(res.statusCode!, res.headers as Record<string, string>, text)));
              });
              req.on("error", fail);
              req.end(JSON.stringify(r.record));
            }),
        ),
      );
      for (let i = 0; i < requests.length; i++) {
        const r = requests[i]!;
        const reference = await routed.app.inject({ method: "POST", url: "/predict", headers: { "content-type": "application/json", "x-request-id": r.id }, payload: JSON.stringify(r.record) });
        expect(answers[i]).toEqual(normalise(reference.statusCode, reference.headers as Record<string, string>, reference.body));
        expect((answers[i]!.body as { request_id: string }).request_id).toBe(r.id);
      }
    } finally {
      many.destroy();
    }
  });
});
