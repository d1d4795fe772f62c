import { readFileSync } from "node:fs";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GateFailure, InputError, UsageError } from "../pipeline/core/errors.js";
import { sha256Hex } from "../pipeline/core/hash.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { resolveToken } from "../pipeline/promote/github.js";
import { promote } from "../pipeline/promote/index.js";
import { moveProduction } from "../pipeline/promote/stage.js";
import type { ModelVersion, Registry, Tag } from "../pipeline/registry/schema.js";
import { readMetricsView } from "../pipeline/promote/metrics-view.js";
import { renderPrBody } from "../pipeline/promote/pr-body.js";
import { rollback } from "../pipeline/promote/rollback.js";
import { checkRegistry } from "../pipeline/registry/check.js";
import { readRegistry } from "../pipeline/registry/store.js";
import { ValidationReportViewSchema } from "../pipeline/promote/source.js";
import { ModelValidationReportSchema } from "../pipeline/validate-model/report.js";
import { MetricsReportSchema } from "../pipeline/train/report.js";
import { DriftReportSchema } from "../pipeline/validate-data/report.js";
import { boundValidationReport, dataReport, modelArtifact, testConfig, validationReport, writeModelDir } from "./helpers/registry-fixtures.js";

const tmp = (p = "promote-test-") => mkdtemp(join(tmpdir(), p));
const clock = () => new Date("2026-11-21T12:00:00.000Z");

async function promoteInto(root: string, seed: number, extra: Partial<Parameters<typeof promote>[0]> = {}) {
  const modelDir = await writeModelDir(join(await tmp("train-out-"), "out"), { seed });
  const reporter = recordingReporter();
  const result = await promote({ root, config: testConfig(), modelPath: modelDir, validationReport: await boundValidationReport(modelDir, testConfig()), reporter, openPr: false, clock, ...extra });
  return { result, reporter, modelDir };
}

describe("promote (working tree)", () => {
  it("registers the first version as validated production with its files and card", async () => {
    const root = await tmp();
    const { result, reporter, modelDir } = await promoteInto(root, 1);
    expect(result).toMatchObject({ name: "thermal-comfort", version: 1, dir: "models/thermal-comfort/v1", replaced: null, branch: null, pullRequest: null });
    const copied = await readFile(join(root, "models/thermal-comfort/v1/model.json"));
    expect(copied.equals(await readFile(join(modelDir, "model.json")))).toBe(true);
    for (const f of ["metrics.json", "report.md", "validation-report.json", "card.md"]) expect((await stat(join(root, "models/thermal-comfort/v1", f))).size).toBeGreaterThan(0);
    const registry = await readRegistry(root);
    const v1 = registry.models["thermal-comfort"]!.versions[0]!;
    expect(v1).toMatchObject({
      version: 1,
      created_at: "2026-11-21T12:00:00.000Z",
      artifact: { path: "models/thermal-comfort/v1/model.json", sha256: sha256Hex(copied) },
      data: { path: "data/thermal-comfort.csv", rows: 100 },
      trainer: { name: "gitops-ml-pipeline-cart", version: "0.1.0", seed: 1, candidate: "tree-d10" },
      tags: ["validated", "production"],
    });
    expect(v1.metrics.macro_f1).toBeCloseTo(0.49);
    expect(Object.keys(v1.metrics).sort()).toEqual(["accuracy", "balanced_accuracy", "cv_macro_f1", "cv_std", "ece", "log_loss", "macro_f1"]);
    expect(await checkRegistry(root, registry)).toEqual({ ok: true, problems: [] });
    expect(reporter.outputs).toMatchObject({ model: "thermal-comfort", version: "1" });
    const card = await readFile(join(root, "models/thermal-comfort/v1/card.md"), "utf8");
    for (const heading of ["## Intended use", "## Data", "## Metrics", "## Slices", "## Limitations", "## Lineage"]) expect(card).toContain(heading);
    expect(card).toContain("Predicts thermal sensation.");
    expect(card).toMatch(/\| summer \| 40 \|/);
    expect(card).toContain("Class **warm** has recall 0.4500");
    expect(card).toContain("- Slice **season = winter** scores macro-F1 0.3500 against 0.4900 overall (60 test rows).");
    expect(card).not.toContain("Slice **season = summer**");
  });

  it("moves production to the next version and archives the old one; versions only grow", async () => {
    const root = await tmp();
    await promoteInto(root, 1);
    const before = await readRegistry(root);
    const { result } = await promoteInto(root, 2);
    expect(result).toMatchObject({ version: 2, replaced: 1 });
    const registry = await readRegistry(root);
    expect(registry.models["thermal-comfort"]!.versions.map((v) => [v.version, v.tags])).toEqual([
      [1, ["validated", "archived"]],
      [2, ["validated", "production"]],
    ]);
    expect(await checkRegistry(root, registry, { previous: before })).toEqual({ ok: true, problems: [] });
    const card = await readFile(join(root, "models/thermal-comfort/v2/card.md"), "utf8");
    expect(card).toContain("| v2 | production v1 |");
  });

  it("registers the same artifact twice never: nothing to promote, nothing written", async () => {
    const root = await tmp();
    const { modelDir } = await promoteInto(root, 1);
    await promoteInto(root, 2);
    const before = await readFile(join(root, "models/registry.yaml"));
    const reporter = recordingReporter();
    const result = await promote({ root, config: testConfig(), modelPath: modelDir, validationReport: await boundValidationReport(modelDir, testConfig()), reporter, openPr: false });
    expect(result).toMatchObject({ changed: false, sameAs: 1, version: 1, files: [] });
    expect(reporter.outputs.changed).toBe("false");
    expect(reporter.infos.join("\n")).toMatch(/nothing to promote: this is the same model as thermal-comfort@v1 \[validated, archived\] \(identical artifact\); nothing was written \(to make it production again: pipeline rollback thermal-comfort --to v1\)/);
    expect((await readFile(join(root, "models/registry.yaml"))).equals(before)).toBe(true);
  });

  it("refuses a model whose validation report failed, writing nothing", async () => {
    const root = await tmp();
    const modelDir = await writeModelDir(join(await tmp(), "out"));
    const error = await promote({ root, config: testConfig(), modelPath: modelDir, validationReport: validationReport(false), reporter: recordingReporter(), openPr: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GateFailure);
    expect((error as Error).message).toMatch(/\(champion:macro_f1\)$/);
    await expect(stat(join(root, "models"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("names the field of an invalid model.json and the missing directory", async () => {
    const root = await tmp();
    const dir = await tmp();
    const broken = { ...modelArtifact(), classes: "cool" };
    await writeFile(join(dir, "model.json"), JSON.stringify(broken));
    const error = await promote({ root, config: testConfig(), modelPath: dir, reporter: recordingReporter(), openPr: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/model\.json: not a valid model artifact\n {2}classes: expected a list, got "cool"/);
    await expect(promote({ root, config: testConfig(), modelPath: join(dir, "nope"), reporter: recordingReporter(), openPr: false })).rejects.toThrow(/no such model directory/);
  });

  it("without a validation report refuses, unless --unvalidated registers it untagged", async () => {
    const root = await tmp();
    const modelDir = await writeModelDir(join(await tmp(), "out"));
    const refused = await promote({ root, config: testConfig(), modelPath: join(modelDir, "model.json"), reporter: recordingReporter(), openPr: false }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GateFailure);
    expect((refused as Error).message).toMatch(/no validate-model report/);
    const reporter = recordingReporter();
    const result = await promote({ root, config: testConfig(), modelPath: join(modelDir, "model.json"), reporter, openPr: false, unvalidated: true });
    expect(result).toMatchObject({ changed: true, validated: false, version: 1, replaced: null });
    expect(reporter.warnings.join("\n")).toMatch(/untagged, never validated/);
    expect((await readRegistry(root)).models["thermal-comfort"]!.versions[0]!.tags).toEqual([]);
  });
});

describe("fixtures follow the producers' schemas (train, validate-model, validate-data)", () => {
  it("parse with the schemas promote's inputs are written with", async () => {
    const dir = await writeModelDir(join(await tmp(), "out"));
    expect(() => MetricsReportSchema.parse(JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")))).not.toThrow();
    expect(() => ModelValidationReportSchema.parse(validationReport())).not.toThrow();
    expect(() => DriftReportSchema.parse(dataReport().drift)).not.toThrow();
  });
});

describe("moveProduction", () => {
  const v = (version: number, tags: Tag[]) => ({ version, tags }) as unknown as ModelVersion;
  const reg = (...versions: ModelVersion[]): Registry => ({ version: 1, models: { m: { versions } } });
  const tagsOf = (r: Registry) => r.models.m!.versions.map((x) => x.tags.join("+"));

  it("archives the base's production and clears production proposed only on a stacked branch", () => {
    const base = reg(v(1, ["validated", "archived"]), v(2, ["validated", "production"]));
    // An open PR moved production to v1 on its branch; a new change stacked on that branch moves it to v3.
    const branch = reg(v(1, ["validated", "production"]), v(2, ["validated", "archived"]), v(3, ["validated"]));
    const moved = moveProduction(branch, "m", 3, base);
    expect(moved.replaced).toBe(2);
    expect(tagsOf(moved.registry)).toEqual(["validated+archived", "validated+archived", "validated+production"]);
    expect(tagsOf(moveProduction(base, "m", 1).registry)).toEqual(["validated+production", "validated+archived"]);
  });
});

describe("token resolution", () => {
  it("prefers --token-env, then PROMOTION_TOKEN, GH_TOKEN, GITHUB_TOKEN, and tells the kinds apart", () => {
    expect(resolveToken({ GITHUB_TOKEN: "ghs_a" })).toEqual({ value: "ghs_a", kind: "github_token" });
    expect(resolveToken({ GITHUB_TOKEN: "ghs_a", PROMOTION_TOKEN: "ghs_app" })).toEqual({ value: "ghs_app", kind: "app" });
    expect(resolveToken({ PROMOTION_TOKEN: "github_pat_x" })).toEqual({ value: "github_pat_x", kind: "pat" });
    expect(resolveToken({ MINE: "ghs_b", MINE_KIND: "github_token" }, "MINE")).toEqual({ value: "ghs_b", kind: "github_token" });
    expect(resolveToken({ MINE: "ghs_b" }, "MINE", "pat")).toEqual({ value: "ghs_b", kind: "pat" });
    expect(resolveToken({})).toBeNull();
    expect(() => resolveToken({}, "MISSING")).toThrow(/--token-env MISSING: the environment variable is not set/);
    expect(() => resolveToken({ T: "x" }, "T", "root")).toThrow(/expected one of app, pat, github_token/);
  });
});

describe("PR body", () => {
  it("has the champion/challenger table with deltas, charts, drift, gates, lineage and a checklist", async () => {
    const dir = await writeModelDir(join(await tmp(), "out"), { seed: 3 });
    const artifact = modelArtifact({ seed: 3 });
    const metricsJson: unknown = JSON.parse(await readFile(join(dir, "metrics.json"), "utf8"));
    const base = { created_at: "2026-11-01T00:00:00Z", data: { path: "d.csv", sha256: "a".repeat(64), rows: 10 }, config_sha256: "b".repeat(64), git_sha: null, trainer: { name: "cart", version: "1", seed: 1, candidate: "tree-d10" }, deployments: [] };
    const champion = { ...base, version: 1, artifact: { path: "models/m/v1/model.json", sha256: "c".repeat(64) }, metrics: { macro_f1: 0.5, accuracy: 0.6, log_loss: 0.8 }, tags: ["validated" as const, "production" as const] };
    const challenger = { ...base, version: 2, artifact: { path: "models/m/v2/model.json", sha256: "d".repeat(64) }, metrics: { macro_f1: 0.52, accuracy: 0.58, log_loss: 0.7 }, tags: ["validated" as const, "production" as const] };
    const body = renderPrBody({
      name: "m",
      kind: "promotion",
      challenger,
      champion,
      challengerView: readMetricsView([metricsJson, artifact.metrics], artifact.classes),
      artifact,
      validation: ValidationReportViewSchema.parse(validationReport()),
      drift: dataReport().drift,
    });
    expect(body).toContain("| macro_f1 | 0.5000 | 0.5200 | +0.0200 🟢 |");
    expect(body).toContain("| accuracy | 0.6000 | 0.5800 | −0.0200 🔴 |");
    expect(body).toContain("| log_loss | 0.8000 | 0.7000 | −0.1000 🟢 |");
    expect(body).toContain('```mermaid\nxychart-beta\n  title "Held-out metrics: v1 (first bar) vs v2"\n  x-axis ["macro_f1", "accuracy"]\n  y-axis "score" 0 --> 1\n  bar [0.5, 0.6]\n  bar [0.52, 0.58]\n```');
    expect(body).toContain("| **cool** | 30 | 8 | 2 |");
    expect(body).toContain('title "Top features"\n  x-axis ["ta", "season"]\n  y-axis "importance" 0 --> 0.22\n  bar [0.2, 0.01]');
    expect(body).toContain("1 of 2 compared columns drifted.");
    expect(body).toContain("| ta | ⚠️ yes | method psi, psi 0.31 |");
    expect(body).toContain("| season | no | method psi, psi 0.02 |");
    expect(body).toContain("validate-model: **passed**");
    expect(body).toContain("| absolute:macro_f1 | ✅ pass | macro_f1 0.50 >= 0.45 |");
    expect(body).toContain("| latency | ⏭️ skipped | latency not measured |");
    expect(body).toContain("| season | winter | 60 | 0.4700 | 0.4600 | 0.0100 | ✅ |");
    expect(body).toContain("## Lineage");
    expect(body).toContain("- [ ] No slice");
    expect(body.startsWith("<!-- gitops-ml-pipeline:promotion model=m version=2 -->")).toBe(true);
  });
});

describe("rollback (working tree)", () => {
  it("moves production back to the previous version by default, and checks --to", async () => {
    const root = await tmp();
    await promoteInto(root, 1);
    await promoteInto(root, 2);
    await promoteInto(root, 3);
    const before = await readRegistry(root);
    const reporter = recordingReporter();
    const result = await rollback({ root, config: testConfig(), name: "thermal-comfort", reporter, openPr: false });
    expect(result).toMatchObject({ from: 3, to: 2 });
    const after = await readRegistry(root);
    expect(after.models["thermal-comfort"]!.versions.map((v) => v.tags)).toEqual([
      ["validated", "archived"],
      ["validated", "production"],
      ["validated", "archived"],
    ]);
    expect(await checkRegistry(root, after, { previous: before })).toEqual({ ok: true, problems: [] });
    await expect(rollback({ root, config: testConfig(), name: "thermal-comfort", to: 2, reporter, openPr: false })).rejects.toThrow(/already production/);
    await expect(rollback({ root, config: testConfig(), name: "thermal-comfort", to: 9, reporter, openPr: false })).rejects.toBeInstanceOf(UsageError);
    await expect(rollback({ root, config: testConfig(), name: "nope", reporter, openPr: false })).rejects.toThrow(/no model "nope"/);
    const to1 = await rollback({ root, config: testConfig(), name: "thermal-comfort", to: 1, reporter, openPr: false });
    expect(to1).toMatchObject({ from: 2, to: 1 });
  });
});
