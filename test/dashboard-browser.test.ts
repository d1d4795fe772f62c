import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import axe from "axe-core";
import type { FastifyInstance } from "fastify";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { readDataset } from "../pipeline/data/csv.js";
import { writeGeneratedCsv } from "../pipeline/data/csv-writer.js";
import { cellText, isMissing } from "../pipeline/data/table.js";
import { createServer } from "../pipeline/serve/app.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { startActionsStandIn, type ActionsStandIn } from "./helpers/github-actions-standin.js";

/**
 * The dashboard as a person sees it: Debian's Chromium, headless, against a real listening server
 * with the production model, after real predictions; Retrain clicked against the GitHub stand-in
 * (Prism with GitHub's description). The screenshot is kept under out/test-artifacts/.
 */

const VIEWER = "viewer-key-dashboard-0001";
const ADMIN = "admin-key-dashboard-000001";
const REPO = "octo-org/octo-repo";
const ARTIFACTS = join(PROJECT_ROOT, "out/test-artifacts");

let app: FastifyInstance;
let origin: string;
let standIn: ActionsStandIn;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
let dataDir: string;
const requested: string[] = [];
const consoleErrors: string[] = [];

interface DriftJson {
  verdict: string;
  features: { feature: string; statistic: number | null; threshold: number | null; drifted: boolean | null }[];
}
interface MetricsJson {
  live: { predictions_total: number; by_class: Record<string, number>; confidence: { counts: number[] } };
}

async function api<T>(path: string): Promise<T> {
  const r = await fetch(origin + path, { headers: { authorization: `Bearer ${VIEWER}` } });
  expect(r.status).toBe(200);
  return (await r.json()) as T;
}

async function seriousViolations(): Promise<{ id: string; impact: string; nodes: string[] }[]> {
  // Evaluated through the DevTools protocol: the page's CSP (rightly) refuses an injected <script>.
  await page.evaluate(axe.source);
  // A string expression: the test is compiled without the DOM library, the page has it.
  const results = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as { passes: unknown[]; violations: { id: string; impact: string | null; nodes: { target: string[] }[] }[] };
  // axe really ran its rules on the page (color contrast, names, landmarks, …)
  expect(results.passes.length).toBeGreaterThan(10);
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact!, nodes: v.nodes.map((n) => n.target.join(" ")) }));
}

beforeAll(async () => {
  standIn = await startActionsStandIn();
  const loaded = await loadConfig(join(PROJECT_ROOT, "config/pipeline.yaml"), PROJECT_ROOT);
  app = await createServer({
    model: "production",
    root: PROJECT_ROOT,
    drift: loaded.config.drift,
    serving: { rate_limit: { enabled: false }, monitoring: { drift: { size: 600, min_rows: 300 }, retrain: { status_cache_seconds: 0 } } },
    env: { PIPELINE_API_KEYS: `viewer:${VIEWER},admin:${ADMIN}`, GITHUB_API_URL: standIn.url, GITHUB_REPOSITORY: REPO, GITHUB_TOKEN: "ghs_dashboardtesttoken0000000" },
    logDestination: new Writable({ write: (_c, _e, cb) => cb() }) as never,
    processMetrics: false,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address() as { port: number };
  origin = `http://127.0.0.1:${address.port}`;

  // Live data first: 600 predictions of a hot summer (drifted inputs), feedback for some, one audit metric.
  dataDir = await mkdtemp(join(tmpdir(), "dashboard-data-"));
  const csv = join(dataDir, "hot.csv");
  await writeGeneratedCsv(csv, { rows: 600, seed: 41, drift: "hot-summer", buildings: 150 });
  const table = (await readDataset(csv, loaded.config.dataset)).table;
  const features = loaded.config.dataset.features;
  const records = Array.from({ length: table.rowCount }, (_, i) => {
    const r: Record<string, unknown> = {};
    for (const f of features) {
      const c = table.columns.get(f)!;
      if (!isMissing(c, i)) r[f] = c.kind === "category" ? cellText(c, i) : c.values[i]!;
    }
    return r;
  });
  for (let start = 0; start < records.length; start += 200) {
    const r = await fetch(`${origin}/predict/batch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ records: records.slice(start, start + 200) }) });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { predictions: { request_id: string; class: string }[] };
    for (const p of body.predictions.slice(0, 20)) {
      const f = await fetch(`${origin}/monitoring/feedback`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${VIEWER}` }, body: JSON.stringify({ request_id: p.request_id, actual: p.class === "warm" ? "warm" : "neutral" }) });
      expect(f.status).toBe(201);
    }
  }
  const m = await fetch(`${origin}/monitoring/metrics`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ name: "audit_accuracy", value: 0.82, source: "labelled audit" }) });
  expect(m.status).toBe(201);

  userDataDir = await mkdtemp(join(tmpdir(), "dashboard-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("request", (r) => requested.push(r.url()));
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
});

afterAll(async () => {
  await context?.close();
  await app?.close();
  await standIn?.stop();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("dashboard in headless Chromium", () => {
  it("asks for a key, then draws its charts from the live data", async () => {
    await page.goto(`${origin}/dashboard`);
    await page.locator("#load-status", { hasText: "needs an API key" }).waitFor({ timeout: 20_000 });
    await page.fill("#api-key", VIEWER);
    await page.click("#key-form button[type=submit]");
    await page.waitForSelector("body[data-loaded]", { timeout: 20_000 });

    const metrics = await api<MetricsJson>("/monitoring/metrics");
    const drift = await api<DriftJson>("/monitoring/drift");
    expect(metrics.live.predictions_total).toBe(600);
    expect(drift.verdict).toBe("drifted");

    await expect.poll(() => page.textContent("#model-version")).toBe("v1");
    // class chart: one bar segment per class and time bucket, adding up to every prediction
    const classBars = await page.$$eval(".class-bar", (bars) => bars.map((b) => ({ cls: b.getAttribute("data-class")!, n: Number(b.getAttribute("data-count")) })));
    const byClass: Record<string, number> = {};
    for (const b of classBars) byClass[b.cls] = (byClass[b.cls] ?? 0) + b.n;
    const expectedByClass = Object.fromEntries(Object.entries(metrics.live.by_class).filter(([, n]) => n > 0));
    expect(byClass).toEqual(expectedByClass);
    // drift chart: a bar per feature with the endpoint's statistic, red where drifted
    const driftBars = await page.$$eval(".drift-bar", (bars) => bars.map((b) => ({ feature: b.getAttribute("data-feature")!, statistic: Number(b.getAttribute("data-statistic")), drifted: b.getAttribute("data-drifted"), fill: b.getAttribute("fill") })));
    expect(driftBars.map((b) => b.feature).sort()).toEqual(drift.features.map((f) => f.feature).sort());
    for (const f of drift.features) {
      const bar = driftBars.find((b) => b.feature === f.feature)!;
      expect(bar.statistic).toBeCloseTo(f.statistic!, 9);
      expect(bar.drifted).toBe(String(f.drifted));
      expect(bar.fill).toBe(f.drifted ? "#b3261e" : "#0b57d0");
    }
    await expect.poll(() => page.textContent("#drift-verdict")).toMatch(/^Drifted: \d+ of 10 features/);
    // latency and confidence charts
    expect(await page.locator(".latency-point[data-series=p95]").count()).toBeGreaterThan(0);
    const confidence = await page.$$eval(".confidence-bar", (bars) => bars.map((b) => Number(b.getAttribute("data-count"))));
    expect(confidence).toEqual(metrics.live.confidence.counts);
    // recent predictions: the newest first
    const newest = (await api<{ items: { request_id: string }[] }>("/monitoring/predictions?limit=1")).items[0]!.request_id;
    expect(await page.getAttribute("#prediction-rows tr:first-child", "data-request-id")).toBe(newest);
    expect(await page.locator("#prediction-rows tr").count()).toBe(20);
    expect(await page.textContent("#external-rows")).toContain("audit_accuracy");
    expect(await page.textContent("#pipeline-status")).toContain("no runs yet");

    await mkdir(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
  });

  it("has no serious or critical accessibility violations (axe-core)", async () => {
    expect(await seriousViolations()).toEqual([]);
  });

  it("Retrain asks for an admin key, dispatches the training workflow and links the run", async () => {
    // a wrong key is refused and said so
    await page.click("#retrain");
    await expect.poll(() => page.evaluate('document.getElementById("retrain-dialog").open')).toBe(true);
    await page.fill("#admin-key", VIEWER);
    await page.click("#retrain-confirm");
    await page.locator("#retrain-result", { hasText: "Not started (403)" }).waitFor({ timeout: 20_000 });
    expect(standIn.runs).toHaveLength(0);

    await page.click("#retrain");
    await page.fill("#admin-key", ADMIN);
    expect(await seriousViolations()).toEqual([]); // the open dialog too
    await page.click("#retrain-confirm");
    const link = page.locator("#retrain-link");
    await link.waitFor({ timeout: 20_000 });
    expect(standIn.runs).toHaveLength(1);
    const run = standIn.runs[0]!;
    expect(await link.getAttribute("href")).toBe(`https://github.com/${REPO}/actions/runs/${run.id}`);
    expect(await page.textContent("#retrain-result")).toContain("Training workflow started");
    await page.locator("#pipeline-status", { hasText: "queued" }).waitFor({ timeout: 20_000 });

    // a second click while the run is queued links that run instead of starting another
    await page.click("#retrain");
    await page.fill("#admin-key", ADMIN);
    await page.click("#retrain-confirm");
    await page.locator("#retrain-result", { hasText: "already queued" }).waitFor({ timeout: 20_000 });
    expect(standIn.runs).toHaveLength(1);
    expect(standIn.requests.flatMap((r) => r.violations)).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-retrain.png"), fullPage: true });
  });

  it("loaded nothing from anywhere but the server, and the CSP refused nothing", () => {
    expect(requested.length).toBeGreaterThan(4);
    expect(requested.filter((u) => !u.startsWith(origin + "/"))).toEqual([]);
    expect(consoleErrors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
  });
});
