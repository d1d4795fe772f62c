import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type LoadedConfig } from "../pipeline/config/load.js";
import { ConfigError } from "../pipeline/core/errors.js";
import { readDataset } from "../pipeline/data/csv.js";
import { writeGeneratedCsv } from "../pipeline/data/csv-writer.js";
import { cellText, isMissing, type Table } from "../pipeline/data/table.js";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { loadModel } from "../pipeline/model/load.js";
import { createOctokit } from "../pipeline/promote/github.js";
import { createServer } from "../pipeline/serve/app.js";
import { createDriftAlarm } from "../pipeline/serve/monitoring/drift-alarm.js";
import { monitoringRoutes } from "../pipeline/serve/monitoring/routes.js";
import { createMonitor } from "../pipeline/serve/monitoring/state.js";
import { trainingWorkflow } from "../pipeline/serve/monitoring/training-workflow.js";
import { labelScores } from "../pipeline/train/metrics.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { startActionsStandIn, type ActionsStandIn } from "./helpers/github-actions-standin.js";
import { startScriptedServer } from "./helpers/github-mock.js";

const VIEWER = "viewer-key-0123456789";
const ADMIN = "admin-key-0123456789abcdef";
const KEYS = `viewer:${VIEWER},admin:${ADMIN}`;
const REPO = "octo-org/octo-repo";
const as = (key: string) => ({ authorization: `Bearer ${key}` });

let loaded: LoadedConfig;
let model: ModelArtifact;
let dir: string;
let normal: Record<string, unknown>[];
let hot: Record<string, unknown>[];
let standIn: ActionsStandIn;
const servers: FastifyInstance[] = [];

function recordsOf(table: Table, features: string[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < table.rowCount; i++) {
    const r: Record<string, unknown> = {};
    for (const f of features) {
      const c = table.columns.get(f)!;
      if (!isMissing(c, i)) r[f] = c.kind === "category" ? cellText(c, i) : c.values[i]!;
    }
    out.push(r);
  }
  return out;
}

async function rows(name: string, drift: "none" | "hot-summer", n: number, seed: number): Promise<Record<string, unknown>[]> {
  const path = join(dir, `${name}.csv`);
  // Many buildings: a handful would make even undrifted inputs differ from the reference by building.
  await writeGeneratedCsv(path, { rows: n, seed, drift, buildings: Math.ceil(n / 4) });
  const read = await readDataset(path, loaded.config.dataset);
  return recordsOf(read.table, model.features.map((f) => f.name));
}

/** Server log lines of internal errors (printed when a request unexpectedly fails). */
const internalErrors: string[] = [];
const quiet = () =>
  new Writable({
    write: (chunk: Buffer, _e, cb) => {
      const line = chunk.toString();
      if (line.includes('"internal_error"')) internalErrors.push(line);
      cb();
    },
  });

async function server(options: { env?: NodeJS.ProcessEnv; monitoring?: Record<string, unknown> } = {}): Promise<FastifyInstance> {
  const app = await createServer({
    model: "production",
    root: PROJECT_ROOT,
    drift: loaded.config.drift,
    serving: { rate_limit: { enabled: false }, monitoring: { retrain: { status_cache_seconds: 0 }, ...options.monitoring } },
    env: { PIPELINE_API_KEYS: KEYS, ...options.env },
    logDestination: quiet() as never,
    processMetrics: false,
  });
  servers.push(app);
  return app;
}

const gitHubEnv = () => ({ GITHUB_API_URL: standIn.url, GITHUB_REPOSITORY: REPO, GITHUB_TOKEN: "ghs_monitoringtesttoken000000" });

async function predictBatch(app: FastifyInstance, records: Record<string, unknown>[]) {
  const r = await app.inject({ method: "POST", url: "/predict/batch", payload: { records } });
  expect(r.statusCode, `${r.body}\n${internalErrors.join("\n")}`).toBe(200);
  return r.json() as { predictions: { request_id: string; class: string }[] };
}

function expectEnvelope(r: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number, type: string) {
  expect(r.statusCode).toBe(status);
  const body = r.json() as { error: { message: string; type: string; timestamp: string; request_id: string } };
  expect(body.error.type).toBe(type);
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(Number.isNaN(Date.parse(body.error.timestamp))).toBe(false);
  expect(body.error.request_id).toBe(r.headers["x-request-id"]);
  return body;
}

beforeAll(async () => {
  loaded = await loadConfig(join(PROJECT_ROOT, "config/pipeline.yaml"), PROJECT_ROOT);
  model = await loadModel(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"));
  dir = await mkdtemp(join(tmpdir(), "monitoring-routes-"));
  normal = await rows("normal", "none", 400, 31);
  hot = await rows("hot", "hot-summer", 400, 32);
  standIn = await startActionsStandIn();
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await standIn?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("monitoring endpoints through createServer", () => {
  it("viewer routes need a key when keys exist; admin routes need the admin role", async () => {
    const app = await server();
    expectEnvelope(await app.inject({ method: "GET", url: "/monitoring/metrics" }), 401, "unauthorized");
    expectEnvelope(await app.inject({ method: "GET", url: "/monitoring/drift", headers: as("not-a-key-at-all-000") }), 401, "unauthorized");
    expect((await app.inject({ method: "GET", url: "/monitoring/metrics", headers: as(VIEWER) })).statusCode).toBe(200);
    const metric = { name: "audit_accuracy", value: 0.8, source: "audit" };
    expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/metrics", headers: as(VIEWER), payload: metric }), 403, "forbidden");
    expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/run-pipeline", headers: as(VIEWER), payload: {} }), 403, "forbidden");
    expect((await app.inject({ method: "POST", url: "/monitoring/metrics", headers: as(ADMIN), payload: metric })).statusCode).toBe(201);
    // the page itself holds no data and needs no key
    const page = await app.inject({ method: "GET", url: "/dashboard" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
  });

  it("records predictions, pages through them and takes feedback into live accuracy", async () => {
    const app = await server({ monitoring: { ring_size: 300 } });
    const sent = await predictBatch(app, normal.slice(0, 150));
    const single = await app.inject({ method: "POST", url: "/predict", payload: normal[150] });
    const singleId = (single.json() as { request_id: string }).request_id;

    const first = await app.inject({ method: "GET", url: "/monitoring/predictions?limit=100", headers: as(VIEWER) });
    const page1 = first.json() as { items: { request_id: string; class: string; input: Record<string, unknown> }[]; total: number; next_before: number };
    expect(page1.total).toBe(151);
    expect(page1.items[0]!.request_id).toBe(singleId);
    expect(page1.items[1]!.request_id).toBe(sent.predictions[149]!.request_id);
    expect(page1.items[1]!.input.ta).toBe(normal[149]!.ta);
    const page2 = (await app.inject({ method: "GET", url: `/monitoring/predictions?limit=100&before=${page1.next_before}`, headers: as(VIEWER) })).json() as { items: { request_id: string }[]; next_before: number | null };
    expect(page2.items).toHaveLength(51);
    expect(page2.next_before).toBeNull();
    expect(new Set([...page1.items, ...page2.items].map((p) => p.request_id)).size).toBe(151);
    const badQuery = expectEnvelope(await app.inject({ method: "GET", url: "/monitoring/predictions?limit=0", headers: as(VIEWER) }), 400, "invalid_input");
    expect(JSON.stringify(badQuery)).toContain("limit");

    // feedback: each sent prediction gets a label; live accuracy must equal the metric on those pairs
    const classes = model.classes;
    const actual = (i: number) => classes[(i * 7) % classes.length]!;
    for (let i = 0; i < 150; i++) {
      const r = await app.inject({ method: "POST", url: "/monitoring/feedback", headers: as(VIEWER), payload: { request_id: sent.predictions[i]!.request_id, actual: actual(i) } });
      expect(r.statusCode).toBe(201);
    }
    const expected = labelScores(
      sent.predictions.map((_, i) => classes.indexOf(actual(i))),
      sent.predictions.map((p) => classes.indexOf(p.class)),
      classes.length,
    );
    const live = ((await app.inject({ method: "GET", url: "/monitoring/metrics", headers: as(VIEWER) })).json() as { live: { feedback: { n: number; accuracy: number; macro_f1: number }; predictions_total: number }; model_metrics: Record<string, unknown>; model: { version: string } });
    expect(live.live.feedback.n).toBe(150);
    expect(live.live.feedback.accuracy).toBeCloseTo(expected.accuracy, 12);
    expect(live.live.feedback.macro_f1).toBeCloseTo(expected.macro_f1, 12);
    expect(live.live.predictions_total).toBe(151);
    expect(live.model.version).toBe("1");
    expect(live.model_metrics.macro_f1).toBe(model.metrics.macro_f1);

    // refusals name what is wrong
    expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/feedback", headers: as(VIEWER), payload: { request_id: "never-sent", actual: "cool" } }), 404, "not_found");
    const unknownClass = expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/feedback", headers: as(VIEWER), payload: { request_id: singleId, actual: "freezing" } }), 400, "invalid_input") as unknown as { error: { fields: { field: string; message: string }[] } };
    expect(unknownClass.error.fields[0]!.field).toBe("actual");
    expect(unknownClass.error.fields[0]!.message).toContain("cool, neutral, warm");
    const missing = expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/feedback", headers: as(VIEWER), payload: { actual: "cool" } }), 400, "invalid_input") as unknown as { error: { fields: { field: string }[] } };
    expect(missing.error.fields.map((f) => f.field)).toEqual(["request_id"]);
    expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/feedback", headers: as(VIEWER), payload: { request_id: sent.predictions[0]!.request_id, actual: "cool" } }), 409, "conflict");
    expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/feedback", headers: { ...as(VIEWER), "content-type": "application/xml" }, payload: "<actual>cool</actual>" }), 415, "unsupported_media_type");
  });

  it("externally recorded metrics are validated and shown with their time and source", async () => {
    const app = await server();
    const bad = expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/metrics", headers: as(ADMIN), payload: { name: "Audit Accuracy", value: "high", source: "" } }), 400, "invalid_input") as unknown as { error: { fields: { field: string }[] } };
    expect(bad.error.fields.map((f) => f.field).sort()).toEqual(["name", "source", "value"]);
    const ok = await app.inject({ method: "POST", url: "/monitoring/metrics", headers: as(ADMIN), payload: { name: "audit_accuracy", value: 0.83, source: "labelled audit 2026-11", time: "2026-11-30T12:00:00Z" } });
    expect(ok.statusCode).toBe(201);
    const m = (await app.inject({ method: "GET", url: "/monitoring/metrics", headers: as(VIEWER) })).json() as { live: { external: { latest: { name: string; value: number; source: string; time: string }[] } } };
    expect(m.live.external.latest).toEqual([expect.objectContaining({ name: "audit_accuracy", value: 0.83, source: "labelled audit 2026-11", time: "2026-11-30T12:00:00Z" })]);
  });

  it("drift: no verdict below the minimum window, then per-feature statistics that /metrics exports as drift_score", async () => {
    const app = await server({ monitoring: { drift: { size: 400, min_rows: 300 } } });
    await predictBatch(app, hot.slice(0, 299));
    const below = (await app.inject({ method: "GET", url: "/monitoring/drift", headers: as(VIEWER) })).json() as { verdict: string; features: { drifted: boolean | null }[] };
    expect(below.verdict).toBe("insufficient_data");
    expect(below.features.every((f) => f.drifted === null)).toBe(true);
    expect((await app.inject({ method: "GET", url: "/metrics" })).body).not.toMatch(/^drift_score\{/m);

    await predictBatch(app, hot.slice(299, 400));
    const drift = (await app.inject({ method: "GET", url: "/monitoring/drift", headers: as(VIEWER) })).json() as { verdict: string; window: { rows: number }; features: { feature: string; statistic: number; threshold: number; drifted: boolean }[] };
    expect(drift.window.rows).toBe(400);
    expect(drift.verdict).toBe("drifted");
    expect(drift.features.filter((f) => f.drifted).length).toBeGreaterThan(0);
    const text = (await app.inject({ method: "GET", url: "/metrics" })).body;
    for (const f of drift.features) {
      const line = new RegExp(`^drift_score\\{feature="${f.feature}"\\} (\\S+)$`, "m").exec(text);
      expect(line, f.feature).not.toBeNull();
      expect(Number(line![1])).toBeCloseTo(f.statistic, 9);
    }
  });

  it("the JSONL log holds every prediction once the server has closed", async () => {
    const path = join(dir, "served.jsonl");
    const app = await server({ monitoring: { log: { path } } });
    const sent = await predictBatch(app, normal.slice(0, 25));
    await app.close();
    const lines = (await readFile(path, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { request_id: string; class: string; time: string });
    expect(lines.map((l) => l.request_id)).toEqual(sent.predictions.map((p) => p.request_id));
    expect(lines.map((l) => l.class)).toEqual(sent.predictions.map((p) => p.class));
    expect(lines.every((l) => !Number.isNaN(Date.parse(l.time)))).toBe(true);
  });

  it("a bad serving.monitoring section is a ConfigError naming the key", () => {
    expect(() => createMonitor({ model, config: { drift: { min_rows: -1 } } })).toThrow(ConfigError);
    expect(() => createMonitor({ model, config: { drift: { min_rows: -1 } } })).toThrow(/serving\.monitoring\.drift\.min_rows/);
    expect(() => createMonitor({ model, config: { ring_sise: 10 } })).toThrow(/unknown key "ring_sise"/);
  });
});

describe("retraining through GitHub (Prism serving GitHub's OpenAPI description)", () => {
  it("dispatches the training workflow, answers 409 while that run is queued, and again 202 once it finished", async () => {
    const app = await server({ env: gitHubEnv(), monitoring: { retrain: { status_cache_seconds: 0, inputs: { data: "data/thermal-comfort.csv" } } } });
    const before = (await app.inject({ method: "GET", url: "/monitoring/pipeline-status", headers: as(VIEWER) })).json() as { configured: boolean; run: unknown; repo: string };
    expect(before).toMatchObject({ configured: true, run: null, repo: REPO });

    const started = await app.inject({ method: "POST", url: "/monitoring/run-pipeline", headers: as(ADMIN), payload: {} });
    expect(started.statusCode).toBe(202);
    const body = started.json() as { status: string; run: { id: number; url: string }; url: string; workflow: string; ref: string };
    expect(body.workflow).toBe("train.yml");
    expect(body.ref).toBe("main");
    const run = standIn.runs.at(-1)!;
    expect(body.run.id).toBe(run.id);
    expect(body.url).toBe(`https://github.com/${REPO}/actions/runs/${run.id}`);
    expect(run.inputs).toEqual({ data: "data/thermal-comfort.csv" });
    const dispatch = standIn.requests.filter((r) => r.path.endsWith("/dispatches") && r.path.includes("/actions/"));
    expect(dispatch.at(-1)!.path).toBe(`/repos/${REPO}/actions/workflows/train.yml/dispatches`);
    expect(dispatch.at(-1)!.body).toEqual({ ref: "main", inputs: { data: "data/thermal-comfort.csv" }, return_run_details: true });

    const again = await app.inject({ method: "POST", url: "/monitoring/run-pipeline", headers: as(ADMIN), payload: {} });
    const conflict = expectEnvelope(again, 409, "run_in_progress") as unknown as { run: { id: number; status: string; url: string } };
    expect(conflict.run).toMatchObject({ id: run.id, status: "queued", url: body.url });
    expect(standIn.runs.length).toBe(dispatch.length); // no second dispatch

    const status = (await app.inject({ method: "GET", url: "/monitoring/pipeline-status", headers: as(VIEWER) })).json() as { run: { id: number; status: string }; active: boolean };
    expect(status.run).toMatchObject({ id: run.id, status: "queued" });
    expect(status.active).toBe(true);

    standIn.complete(run.id);
    const done = (await app.inject({ method: "GET", url: "/monitoring/pipeline-status", headers: as(VIEWER) })).json() as { run: { id: number; status: string; conclusion: string }; active: boolean };
    expect(done.run).toMatchObject({ id: run.id, status: "completed", conclusion: "success" });
    expect(done.active).toBe(false);
    const next = await app.inject({ method: "POST", url: "/monitoring/run-pipeline", headers: as(ADMIN), payload: {} });
    expect(next.statusCode).toBe(202);
    expect((next.json() as { run: { id: number } }).run.id).toBe(run.id + 1);

    const bad = expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/run-pipeline", headers: as(ADMIN), payload: { inputs: { data: 5 } } }), 400, "invalid_input");
    expect(JSON.stringify(bad)).toContain("inputs.data");
    // every request matched GitHub's description
    expect(standIn.requests.flatMap((r) => r.violations)).toEqual([]);
    expect(standIn.requests.every((r) => r.prismStatus < 400)).toBe(true);
  });

  it("without a token run-pipeline is 503 and pipeline-status says why; a GitHub error is a 502", async () => {
    const app = await server({ env: { GITHUB_REPOSITORY: REPO } });
    expectEnvelope(await app.inject({ method: "POST", url: "/monitoring/run-pipeline", headers: as(ADMIN), payload: {} }), 503, "not_configured");
    const status = (await app.inject({ method: "GET", url: "/monitoring/pipeline-status", headers: as(VIEWER) })).json() as { configured: boolean; reason: string };
    expect(status.configured).toBe(false);
    expect(status.reason).toContain("token");

    const github = await startScriptedServer(() => ({ status: 404, body: { message: "Not Found", documentation_url: "https://docs.github.com/rest" } }));
    try {
      const broken = await server({ env: { GITHUB_API_URL: github.url, GITHUB_REPOSITORY: REPO, GITHUB_TOKEN: "ghs_secretvalue_never_shown" } });
      const r = await broken.inject({ method: "POST", url: "/monitoring/run-pipeline", headers: as(ADMIN), payload: {} });
      const e = expectEnvelope(r, 502, "upstream_error");
      expect(e.error.message).toContain("404");
      expect(r.body).not.toContain("ghs_secretvalue_never_shown");
    } finally {
      await github.stop();
    }
  });

  it("sustained drift sends one repository_dispatch drift-detected per interval", async () => {
    let clock = Date.parse("2026-12-01T09:00:00Z");
    const monitor = createMonitor({ model, drift: loaded.config.drift, now: () => clock, config: { drift: { size: 400, min_rows: 300 } } });
    const octokit = createOctokit({ token: "ghs_monitoringtesttoken000000", baseUrl: standIn.url, throttle: false, retries: 0 });
    const workflow = trainingWorkflow(octokit, { owner: "octo-org", repo: "octo-repo" }, { workflow: "train.yml", ref: "main" });
    const alarm = createDriftAlarm({ config: { enabled: true, event_type: "drift-detected", sustain_seconds: 600, interval_seconds: 3600, check_seconds: 60 }, drift: () => monitor.drift(), send: (t, p) => workflow.repositoryDispatch(t, p), now: () => clock });
    const sentBefore = standIn.repositoryDispatches.length;
    const feed = (records: Record<string, unknown>[]) =>
      records.forEach((input, i) => monitor.recordPrediction({ request_id: `d-${clock}-${i}`, time: clock, input, class: "warm", probabilities: { cool: 0, neutral: 0, warm: 1 }, confidence: 1, latency_ms: 0.1, model_version: "1" }));

    feed(normal);
    expect(await alarm.check()).toBe("quiet");
    feed(hot);
    expect(await alarm.check()).toBe("waiting");
    clock += 601_000;
    expect(await alarm.check()).toBe("sent");
    clock += 60_000;
    expect(await alarm.check()).toBe("throttled");
    expect(standIn.repositoryDispatches.length).toBe(sentBefore + 1);
    const event = standIn.repositoryDispatches.at(-1)!;
    expect(event.event_type).toBe("drift-detected");
    const payload = event.client_payload as { drifted_features: { feature: string }[]; window_rows: number };
    expect(payload.window_rows).toBe(400);
    expect(payload.drifted_features.map((f) => f.feature)).toEqual(monitor.drift().features.filter((f) => f.drifted).map((f) => f.feature));
    // a quiet check resets the clock of "sustained"
    feed(normal);
    expect(await alarm.check()).toBe("quiet");
    expect(alarm.state().drifted_since).toBeNull();
    clock += 3600_000;
    feed(hot);
    expect(await alarm.check()).toBe("waiting");
    expect(standIn.requests.flatMap((r) => r.violations)).toEqual([]);
  });

  it("the server's own drift check sends the event once while drift lasts", async () => {
    const app = await server({ env: gitHubEnv(), monitoring: { drift: { size: 400, min_rows: 300 }, drift_dispatch: { enabled: true, sustain_seconds: 0, check_seconds: 0.05, interval_seconds: 3600 } } });
    const sentBefore = standIn.repositoryDispatches.length;
    await predictBatch(app, hot);
    const deadline = Date.now() + 20_000;
    while (standIn.repositoryDispatches.length === sentBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(standIn.repositoryDispatches.length).toBe(sentBefore + 1);
    // twenty more checks inside the interval send nothing more
    await new Promise((r) => setTimeout(r, 1000));
    expect(standIn.repositoryDispatches.length).toBe(sentBefore + 1);
    const drift = (await app.inject({ method: "GET", url: "/monitoring/drift", headers: as(VIEWER) })).json() as { alarm: { last_sent: string | null; enabled: boolean } };
    expect(drift.alarm.enabled).toBe(true);
    expect(drift.alarm.last_sent).not.toBeNull();
  });
  it("the stand-in refuses what GitHub's description refuses (so the checks above mean something)", async () => {
    const r = await fetch(`${standIn.url}/repos/${REPO}/actions/workflows/train.yml/dispatches`, { method: "POST", headers: { "content-type": "application/json", authorization: "token x" }, body: JSON.stringify({ inputs: { data: "x" } }) });
    expect(r.status).toBe(422);
    expect(standIn.requests.at(-1)!.violations.length).toBeGreaterThan(0);
    expect(standIn.runs.every((run) => run.ref === "main")).toBe(true);
  });
});

describe("the plugin on a bare fastify instance", () => {
  it("keeps admin routes closed without an authorize hook, and answers in the error envelope", async () => {
    const app = Fastify();
    servers.push(app);
    const monitor = createMonitor({ model });
    await app.register(monitoringRoutes, { monitor, model: { name: model.name, version: "1", content_sha256: "x".repeat(64), metrics: model.metrics }, dashboard: false });
    const r = await app.inject({ method: "POST", url: "/monitoring/metrics", payload: { name: "x", value: 1, source: "s" } });
    expect(r.statusCode).toBe(403);
    expect((r.json() as { error: { type: string; request_id: string } }).error).toMatchObject({ type: "forbidden", request_id: expect.any(String) });
    expect((await app.inject({ method: "GET", url: "/monitoring/drift" })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/dashboard" })).statusCode).toBe(404);
  });
});
