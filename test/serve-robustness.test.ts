import { connect } from "node:net";
import autocannon from "autocannon";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "../pipeline/serve/app.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { GOOD_RECORD } from "./helpers/serve.js";
import { serveArbitraries, type GeneratedRequest } from "./helpers/serve-arbitraries.js";

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

const { request } = serveArbitraries(BODY_LIMIT);

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
