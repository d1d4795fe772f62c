import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { productionVersion } from "../pipeline/registry/query.js";
import { readRegistry } from "../pipeline/registry/store.js";
import { decideTraining } from "../pipeline/train/decision.js";
import { DataValidationReportSchema, type DataValidationReport } from "../pipeline/validate-data/report.js";
import { PROJECT_ROOT, runCli } from "./helpers/cli.js";

let dir: string;
let report: DataValidationReport;
let reportPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "train-decision-"));
  reportPath = join(dir, "data-validation.json");
  // A real report of the committed data against the committed production model.
  const r = await runCli(["validate-data", "--reference", "production", "--out", reportPath], { env: { PIPELINE_QUIET: "1" } });
  expect(r.code, r.stderr).toBe(0);
  report = DataValidationReportSchema.parse(JSON.parse(await readFile(reportPath, "utf8")));
}, 120_000);

describe("the weekly skip rule", () => {
  it("skips a scheduled run on production's own data without drift, and says why", async () => {
    const production = productionVersion(await readRegistry(PROJECT_ROOT), "thermal-comfort");
    expect(report.data.sha256).toBe(production!.data.sha256);
    const d = decideTraining({ report, production, trigger: "schedule", force: false });
    expect(d.train).toBe(false);
    expect(d.reason).toMatch(/v1 was trained on .* no drift/);
  });

  it("trains when forced, when asked by a person or by the service, or without production", async () => {
    const production = productionVersion(await readRegistry(PROJECT_ROOT), "thermal-comfort");
    expect(decideTraining({ report, production, trigger: "schedule", force: true })).toEqual({ train: true, reason: "forced" });
    expect(decideTraining({ report, production, trigger: "workflow_dispatch", force: false }).train).toBe(true);
    expect(decideTraining({ report, production, trigger: "repository_dispatch", force: false }).reason).toBe("requested by repository_dispatch");
    expect(decideTraining({ report, production: undefined, trigger: "schedule", force: false }).train).toBe(true);
  });

  it("trains on the schedule when the data changed or drifted", async () => {
    const production = productionVersion(await readRegistry(PROJECT_ROOT), "thermal-comfort")!;
    const changed = { ...report, data: { ...report.data, sha256: "0".repeat(64) } };
    expect(decideTraining({ report: changed, production, trigger: "schedule", force: false }).reason).toMatch(/data changed since v1/);
    const column = { ...report.drift.columns[0]!, drifted: true };
    const drifted = { ...report, drift: { ...report.drift, drifted: 1, columns: [column, ...report.drift.columns.slice(1)] } };
    expect(decideTraining({ report: drifted, production, trigger: "schedule", force: false })).toEqual({ train: true, reason: `drift against production's reference in ${column.column}` });
  });
});

describe("pipeline train-decision", () => {
  it("prints key=value lines for GITHUB_OUTPUT and appends the reason to the summary", async () => {
    const summary = join(dir, "summary.md");
    await writeFile(summary, "# earlier step\n");
    const r = await runCli(["train-decision", "--data-report", reportPath, "--event", "schedule", "--summary", summary], { env: { PIPELINE_QUIET: "1" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^train=false\nreason=the data is the one v1 was trained on/);
    const md = await readFile(summary, "utf8");
    expect(md.startsWith("# earlier step\n")).toBe(true);
    expect(md).toContain("**Training skipped:**");
    const forced = await runCli(["train-decision", "--data-report", reportPath, "--event", "schedule", "--force"], { env: { PIPELINE_QUIET: "1" } });
    expect(forced.stdout).toContain("train=true\nreason=forced\n");
  });

  it("refuses an unknown event and a file that is not a report, with exit 2", async () => {
    const bad = await runCli(["train-decision", "--data-report", reportPath, "--event", "cron"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--event: expected one of schedule, workflow_dispatch, repository_dispatch, push, local, got "cron"');
    const notReport = join(dir, "other.json");
    await writeFile(notReport, JSON.stringify({ hello: 1 }));
    const r = await runCli(["train-decision", "--data-report", notReport]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not a validate-data report");
  });
});
