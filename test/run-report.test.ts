import { cp, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import axe from "axe-core";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { writeGeneratedCsv } from "../pipeline/data/csv-writer.js";
import type { DeployResult } from "../pipeline/deploy/result.js";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { promote } from "../pipeline/promote/index.js";
import { renderRunReport, writeRunReport, type RunReportInput } from "../pipeline/report/html.js";
import { train } from "../pipeline/train/index.js";
import type { MetricsReport } from "../pipeline/train/report.js";
import { validateDataStep } from "../pipeline/validate-data/run.js";
import type { DataValidationReport } from "../pipeline/validate-data/report.js";
import { validateModel } from "../pipeline/validate-model/index.js";
import type { ModelValidationReport } from "../pipeline/validate-model/report.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { scratchProject } from "./helpers/scratch-project.js";

/**
 * The HTML run report from a real run: the real steps on a small generated hot-summer batch, gated
 * against the committed production model (so drift and the champion comparison are real), then
 * opened in Debian's headless Chromium with every network request intercepted. The screenshot is
 * kept under out/test-artifacts/.
 */

const ARTIFACTS = join(PROJECT_ROOT, "out/test-artifacts");
let scratch: string;
let input: RunReportInput;
let reportPath: string;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const requested: string[] = [];
const intercepted: string[] = [];

async function runRealSteps(): Promise<RunReportInput> {
  scratch = await scratchProject({ prefix: "run-report-", copy: ["models"] });
  const dataPath = "data/batch.csv";
  await mkdir(join(scratch, "data"), { recursive: true });
  await writeGeneratedCsv(join(scratch, dataPath), { rows: 4000, seed: 2024, drift: "hot-summer", buildings: 40 });
  const loaded = await loadConfig("config/quick.yaml", scratch);
  const reporter = recordingReporter();
  const stages: NonNullable<RunReportInput["stages"]> = [];
  const timed = async <T>(name: string, body: () => Promise<T>, code: (v: T) => number): Promise<T> => {
    const t0 = performance.now();
    const v = await body();
    stages.push({ name, exitCode: code(v), seconds: (performance.now() - t0) / 1000 });
    return v;
  };
  const dv = await timed("validate-data", () => validateDataStep({ loaded, dataPath, reference: "production", reporter }), (r) => r.exitCode);
  const trained = await timed("train", () => train({ config: loaded.config, configSha256: loaded.sha256, root: scratch, dataPath, outDir: join(scratch, "out/model"), reporter, gitSha: null }), () => 0);
  const mv = await timed("validate-model", () => validateModel({ config: loaded.config, root: scratch, modelPath: trained.paths.model, champion: "production", dataPath, reporter, measureLatency: false }), (r) => (r.passed ? 0 : 1));
  let promotion: RunReportInput["promotion"] = { skipped: "a promotion gate failed" };
  if (mv.passed) {
    const p = await timed("promote", () => promote({ root: scratch, config: loaded.config, modelPath: join(scratch, "out/model"), validationReport: mv, dataReport: dv.report, reporter, openPr: false }), () => 0);
    promotion = p;
  }
  // A canary that failed at its first step: the deploy result as pipeline/deploy returns it.
  const deploy: DeployResult = {
    environment: "production",
    target: "cloud-run",
    outcome: "rolled_back",
    reason: "canary at 10%: 5xx share 4.00% (8/200; at most 1.00%)",
    model: { name: "thermal-comfort", version: 2, contentSha256: "c".repeat(64) },
    image: "europe-docker.pkg.dev/acme/models/thermal-comfort@sha256:" + "d".repeat(64),
    revision: "thermal-comfort-00002-new",
    serviceUrl: "https://thermal-comfort-abc-ew.a.run.app",
    tagUrl: "https://v2---thermal-comfort-abc-ew.a.run.app",
    tag: "v2",
    firstDeploy: false,
    previousSplit: [{ revision: "thermal-comfort-00001-old", percent: 100 }],
    finalSplit: [{ revision: "thermal-comfort-00001-old", percent: 100 }],
    smoke: { passed: true, checks: [{ name: "ready", passed: true, detail: "3 consecutive 200 on /ready" }] },
    steps: [
      {
        percent: 10,
        judgement: { passed: false, reason: "5xx share 4.00% > 1.00%", checks: [{ name: "5xx share", passed: false, value: 0.04, limit: 0.01, detail: "4.00% 5xx (8/200; at most 1.00%)" }] },
        canaryWindow: { requests: 200, errors5xx: 8 } as never,
        stableWindow: null,
        heldSeconds: 60,
        decidedAt: 1_000_090_000,
      },
    ],
    timings: { startedAt: 1_000_000_000, failedAt: 1_000_090_000, restoredAt: 1_000_094_500, finishedAt: 1_000_095_000 },
    apiRetries: 0,
  };
  return {
    generatedAt: "2026-12-01T00:00:00Z",
    stages,
    dataValidation: dv.report,
    training: trained.metrics,
    modelValidation: mv,
    lineage: trained.model.lineage,
    promotion,
    image: { reference: deploy.image, digest: "sha256:" + "d".repeat(64), engine: "buildah", seconds: 41.2 },
    deploy,
  };
}

beforeAll(async () => {
  input = await runRealSteps();
  reportPath = join(scratch, "out/report.html");
  await writeRunReport(reportPath, input);
  userDataDir = await mkdtemp(join(tmpdir(), "run-report-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1100, height: 900 },
    timeout: 60_000,
  });
  // Every request the page makes is recorded; any that is not the report itself is refused.
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    if (url === pathToFileURL(reportPath).href) return route.continue();
    intercepted.push(url);
    return route.abort();
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("request", (r) => requested.push(r.url()));
  await page.goto(pathToFileURL(reportPath).href);
}, 240_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const numbers = (attr: (string | null)[]) => attr.map((v) => Number(v));

describe("the run report in headless Chromium", () => {
  it("draws the confusion matrix: one cell per class pair, with the counts and row shares of the candidate", async () => {
    const mv = input.modelValidation!;
    const classes = input.training!.classes;
    const cells = page.locator('svg[data-chart="confusion"] rect.cell');
    expect(await cells.count()).toBe(classes.length ** 2);
    expect(numbers(await cells.evaluateAll((els) => els.map((e) => e.getAttribute("data-value"))))).toEqual(mv.metrics.challenger.confusion_matrix.flat());
    const shares = numbers(await cells.evaluateAll((els) => els.map((e) => e.getAttribute("data-share"))));
    mv.metrics.challenger.confusion_matrix.forEach((row, i) => {
      const total = row.reduce((a, b) => a + b, 0);
      row.forEach((v, j) => expect(shares[i * classes.length + j]).toBeCloseTo(v / total, 3));
    });
    // Drawn: every cell has a real box on the page.
    for (const box of await cells.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width))) expect(box).toBeGreaterThan(20);
  });

  it("draws the metrics against production: candidate and champion bars, taller for the larger value", async () => {
    const { challenger, champion } = input.modelValidation!.metrics;
    expect(champion).not.toBeNull();
    const bars = page.locator('svg[data-chart="metrics"] rect.bar');
    expect(await bars.count()).toBe(6);
    const drawn = await bars.evaluateAll((els) => els.map((e) => ({ group: e.getAttribute("data-group")!, series: e.getAttribute("data-series")!, value: Number(e.getAttribute("data-value")), height: e.getBoundingClientRect().height })));
    for (const m of ["accuracy", "balanced_accuracy", "macro_f1"] as const) {
      const [cand, prod] = drawn.filter((d) => d.group === m);
      expect(cand!.series).toBe("candidate");
      expect(prod!.series).toMatch(/^production v1$/);
      expect(cand!.value).toBe(challenger[m]);
      expect(prod!.value).toBe(champion![m]);
      // The bar heights keep the values' ratio (one axis for all bars).
      expect(cand!.height / prod!.height).toBeCloseTo(cand!.value / prod!.value, 1);
    }
  });

  it("draws the permutation importance, longest bar for the most important feature", async () => {
    const perm = Object.entries(input.training!.importance.permutation).sort((a, b) => b[1].mean - a[1].mean);
    const bars = page.locator('svg[data-chart="importance"] rect.bar');
    expect(await bars.count()).toBe(perm.length);
    const drawn = await bars.evaluateAll((els) => els.map((e) => ({ label: e.getAttribute("data-label")!, width: e.getBoundingClientRect().width })));
    expect(drawn.map((d) => d.label)).toEqual(perm.map(([f]) => f));
    for (let i = 1; i < drawn.length; i++) expect(drawn[i]!.width).toBeLessThanOrEqual(drawn[i - 1]!.width + 0.01);
    expect(drawn[0]!.width).toBeGreaterThan(50);
  });

  it("draws drift per feature against its threshold; the drifted features are the flagged bars", async () => {
    const drift = input.dataValidation!.drift;
    const measured = drift.columns.filter((c) => c.method !== "skipped");
    expect(measured.length).toBeGreaterThan(3);
    // The hot-summer batch really drifted against production's reference.
    expect(drift.drifted).toBeGreaterThan(0);
    const bars = page.locator('svg[data-chart="drift"] rect.bar');
    expect(await bars.count()).toBe(measured.length);
    expect(await page.locator('svg[data-chart="drift"] line.threshold').count()).toBe(measured.length);
    const flagged = await page.locator('svg[data-chart="drift"] rect.bar.flagged').evaluateAll((els) => els.map((e) => e.getAttribute("data-label")));
    expect(flagged.sort()).toEqual(measured.filter((c) => c.drifted).map((c) => c.column).sort());
    const values = await bars.evaluateAll((els) => els.map((e) => [e.getAttribute("data-label"), Number(e.getAttribute("data-value"))] as const));
    for (const [label, value] of values) {
      const c = measured.find((m) => m.column === label)!;
      expect(value).toBe(c.method === "psi" ? c.psi : c.effect);
    }
  });

  it("shows every gate, the lineage, the promotion and the rolled-back deploy", async () => {
    const mv = input.modelValidation!;
    expect(await page.locator("table.gates tbody tr").count()).toBe(mv.gates.length);
    expect(await page.locator("table.gates .badge.fail").count()).toBe(mv.gates.filter((g) => !g.passed && !g.skipped).length);
    const lineage = await page.locator("#lineage").innerText();
    expect(lineage).toContain(input.lineage!.data_sha256);
    expect(lineage).toContain(input.lineage!.config_sha256);
    const promotion = await page.locator("#promotion").innerText();
    if (mv.passed) expect(promotion).toMatch(/thermal-comfort v2 registered as validated; the pull request would archive production v1/);
    else expect(promotion).toMatch(/Skipped: a promotion gate failed/);
    const deploy = await page.locator("#deploy").innerText();
    expect(deploy).toMatch(/rolled back/);
    expect(deploy).toContain("failed check → traffic restored\n4.5 s");
    expect(await page.locator("table.canary tbody tr").count()).toBe(1);
    expect(await page.locator("table.stages tbody tr").count()).toBe(input.stages!.length);
  });

  it("loads nothing: no request leaves the page, and the CSP forbids it", async () => {
    expect(intercepted).toEqual([]);
    expect(requested).toEqual([pathToFileURL(reportPath).href]);
    // A fetch from inside the page is refused by the report's own Content-Security-Policy.
    const blocked = await page.evaluate(async () => {
      try {
        await fetch("https://example.com/beacon");
        return false;
      } catch {
        return true;
      }
    });
    expect(blocked).toBe(true);
    expect(intercepted).toEqual([]);
  });

  it("has no serious accessibility violations (axe-core)", async () => {
    await page.evaluate(axe.source);
    const results = await page.evaluate(async () => {
      // Runs in the page: its globals are the browser's (this file is typed for node).
      const w = globalThis as unknown as { document: unknown; axe: { run(ctx: unknown, o: object): Promise<{ passes: unknown[]; violations: { id: string; impact: string | null; nodes: { target: string[] }[] }[] }> } };
      return w.axe.run(w.document, { resultTypes: ["violations"] });
    });
    expect(results.passes.length).toBeGreaterThan(10);
    const serious = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => ({ id: v.id, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
    expect(serious).toEqual([]);
  });

  it("keeps a screenshot and the report under out/test-artifacts/", async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const png = join(ARTIFACTS, "run-report.png");
    await page.screenshot({ path: png, fullPage: true });
    await cp(reportPath, join(ARTIFACTS, "run-report.html"));
    expect((await stat(png)).size).toBeGreaterThan(20_000);
  });
});

describe("renderRunReport as a pure function", () => {
  const v1 = async <T>(file: string) => JSON.parse(await readFile(join(PROJECT_ROOT, "models/thermal-comfort/v1", file), "utf8")) as T;

  it("is deterministic and self-contained: no scripts, no external sources, every link an anchor", async () => {
    const committed: RunReportInput = {
      dataValidation: await v1<DataValidationReport>("data-validation-report.json"),
      training: await v1<MetricsReport>("metrics.json"),
      modelValidation: await v1<ModelValidationReport>("validation-report.json"),
      lineage: (await v1<ModelArtifact>("model.json")).lineage,
    };
    const html = renderRunReport(committed);
    expect(renderRunReport(committed)).toBe(html);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/\s(src|srcset|action|xlink:href)=/i);
    expect([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.charAt(0))).toEqual(Array(8).fill("#"));
    // v1 was the first model: no drift reference and no champion, and the report says so.
    expect(html).toContain("Not computed: no reference given");
    expect(html).toContain("Held-out metrics of the candidate (no production model to compare with)");
  });

  it("escapes every text it is given", () => {
    const html = renderRunReport({ stages: [{ name: '<img src=x onerror="alert(1)">', exitCode: 0, seconds: 1 }], promotion: { name: "m&m</script>", version: 1, replaced: null } });
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(html).toContain("m&amp;m&lt;/script&gt;");
    expect(html).not.toContain("<img");
  });

  it("a run that stopped early says where, section by section", async () => {
    const html = renderRunReport({ stoppedAt: "validate-data", stages: [{ name: "validate-data", exitCode: 1, seconds: 0.4 }], dataValidation: await v1<DataValidationReport>("data-validation-report.json") });
    expect(html).toContain("stopped at validate-data (exit 1)");
    expect(html).toContain("Training did not run: the loop stopped at validate-data.");
    expect(html).toContain("Model validation did not run: the loop stopped at validate-data.");
    expect(html).toContain("Deploy did not run: the loop stopped at validate-data.");
  });

  it("nothing to promote and a skipped image build", () => {
    const html = renderRunReport({ promotion: { name: "thermal-comfort", version: 1, changed: false, sameAs: 1, replaced: null }, image: { skipped: "neither buildah nor docker is installed" }, deploy: { skipped: "no image" } });
    expect(html).toContain("nothing to promote");
    expect(html).toContain("thermal-comfort has the same content as v1: no new version.");
    expect(html).toContain("Image build skipped: neither buildah nor docker is installed.");
  });

  it("writeRunReport writes exactly what renderRunReport returns", async () => {
    const dir = await mkdtemp(join(tmpdir(), "report-write-"));
    const report = { promotion: { name: "m", version: 3, replaced: 2 } };
    await writeRunReport(join(dir, "nested/report.html"), report);
    expect(await readFile(join(dir, "nested/report.html"), "utf8")).toBe(renderRunReport(report));
    await rm(dir, { recursive: true, force: true });
  });
});
