import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { readDataset } from "../pipeline/data/csv.js";
import type { DriftMode } from "../pipeline/data/generator.js";
import { generateDataset } from "../pipeline/data/manifest.js";
import { parseProfile } from "../pipeline/data/profile.js";
import { profileWithGroups } from "../pipeline/data/profile-groups.js";
import type { DataProfile, NumericProfile } from "../pipeline/data/profile-schema.js";
import { train } from "../pipeline/train/index.js";
import { checkDataset, resolveReference, type DataValidationReport } from "../pipeline/validate-data/index.js";
import { designEffect } from "../pipeline/validate-data/drift-calibration.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

/**
 * Issue 11, case 1: batches from the real generator (buildings, campaigns, seasons; rows clustered
 * by building) with seeds the project never used, validated against the production model's
 * reference (the committed v1, which has no per-group summaries: effective-n calibration) and
 * against a freshly trained reference (per-group summaries: group bootstrap).
 */

let dir: string;
let config: PipelineConfig;
let production: DataProfile;
let fresh: DataProfile;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "realdata-drift-"));
  config = (await loadConfig("config/pipeline.yaml", PROJECT_ROOT)).config;
  const ref = await resolveReference("production", { root: PROJECT_ROOT, modelName: config.model.name });
  production = ref.profile!;
  // A freshly trained model on the committed data: its reference_profile is what train stores.
  const small: PipelineConfig = {
    ...config,
    training: { ...config.training, permutation_importance_repeats: 0, candidates: [{ name: "tree-d6", algorithm: "decision_tree", params: { ...config.training.candidates[0]!.params, max_depth: 6 } } as PipelineConfig["training"]["candidates"][number]] },
  };
  const trained = await train({ config: small, configSha256: "0".repeat(64), root: PROJECT_ROOT, outDir: join(dir, "model"), reporter: recordingReporter() });
  fresh = trained.model.reference_profile;
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function batch(rows: number, seed: number, drift: DriftMode = "none") {
  const out = join(dir, `batch-${rows}-${seed}-${drift}.csv`);
  await generateDataset({ out, root: dir, options: { rows, seed, drift } });
  const read = await readDataset(out, config.dataset);
  await rm(out);
  return read;
}

interface Tally {
  passed: number;
  driftPassed: number;
  drifted: number;
  compared: number;
  outlierErrors: number;
  reports: DataValidationReport[];
}

async function tally(rows: number, seeds: number[], drift: DriftMode = "none", tested: PipelineConfig = config): Promise<Record<"production" | "fresh", Tally>> {
  const empty = (): Tally => ({ passed: 0, driftPassed: 0, drifted: 0, compared: 0, outlierErrors: 0, reports: [] });
  const out = { production: empty(), fresh: empty() };
  for (const seed of seeds) {
    const read = await batch(rows, seed, drift);
    for (const [name, reference] of [["production", production], ["fresh", fresh]] as const) {
      const { report } = checkDataset(read, tested, { reference, referenceSource: name });
      const t = out[name];
      if (report.passed) t.passed++;
      if (report.drift.passed) t.driftPassed++;
      t.drifted += report.drift.drifted;
      t.compared += report.drift.compared;
      t.outlierErrors += report.issues.filter((i) => i.check === "outliers" && i.severity === "error").length;
      t.reports.push(report);
    }
  }
  for (const [name, t] of Object.entries(out)) {
    const strong = t.reports.filter((r) => r.drift.failed_by?.includes("strong_drift")).length;
    console.info(`drift ${rows} rows ${drift}, ${name}: ${t.passed}/${seeds.length} batches pass validate-data, drift passes ${t.driftPassed}/${seeds.length} (${strong} failed by strong drift), ${t.drifted}/${t.compared} column verdicts drifted`);
  }
  return out;
}

const seeds = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe("drift that knows its own noise (issue 11, case 1)", () => {
  it("the committed v1 profile still loads and has no group summaries; a freshly trained one has them within budget", async () => {
    const v1 = JSON.parse(await readFile(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"), "utf8")) as { reference_profile: unknown };
    const profile = parseProfile(v1.reference_profile, "v1");
    expect(profile.groups).toBeUndefined();
    expect(fresh.groups).toBeDefined();
    expect(fresh.groups!.column).toBe("building_id");
    expect(fresh.groups!.rows.length).toBe(fresh.groups!.count); // ~80 training buildings: under the budget
    expect(fresh.groups!.rows.reduce((a, b) => a + b, 0)).toBe(fresh.rows);
    // The budget: more groups than max_groups keeps a subset of that size, and still counts them all.
    const read = await batch(5000, 77);
    const capped = profileWithGroups(read.table, config.dataset.features, { bins: 10, group: "building_id", maxGroups: 7 });
    expect(capped.groups!.rows).toHaveLength(7);
    expect(capped.groups!.count).toBeGreaterThan(7);
    const ta = capped.columns.ta as NumericProfile;
    expect(capped.groups!.columns.ta!.counts).toHaveLength(7 * ta.histogram.counts.length);
  }, 60_000);

  it("5,000-row batches with no drift pass at >= 19 of 20 new seeds against both references, <= 5% column verdicts", async () => {
    const t = await tally(5000, seeds(1101, 20));
    for (const name of ["production", "fresh"] as const) {
      expect(t[name].passed, name).toBeGreaterThanOrEqual(19);
      expect(t[name].drifted / t[name].compared, name).toBeLessThanOrEqual(0.05);
      expect(t[name].outlierErrors, name).toBe(0); // met's second mode is not an outlier (case 2)
    }
    // The report says how each verdict was calibrated: statistic, threshold, calibrated threshold, method.
    const prod = t.production.reports[0]!.drift;
    expect(prod.calibration!.method).toBe("effective_n");
    expect(prod.calibration!.description).toMatch(/no per-group summaries/);
    const fr = t.fresh.reports[0]!.drift;
    expect(fr.calibration!.method).toBe("group_bootstrap");
    expect(fr.calibration!.current_groups).toBe(25);
    for (const c of [...prod.columns, ...fr.columns]) {
      expect(c.psi).not.toBeNull();
      expect(c.calibrated_threshold).not.toBeNull();
      expect(c.threshold).toBeGreaterThanOrEqual(config.drift.psi_threshold);
      expect(c.drifted).toBe(c.psi! >= c.threshold! || c.strong === true);
    }
    // Both calibrations give calibrated p-values, so the strong-drift rule is on, and it never fired.
    for (const r of [...t.production.reports, ...t.fresh.reports]) {
      expect(r.drift.strong).toMatchObject({ active: true, alpha: config.drift.strong.alpha, min_effect: config.drift.strong.min_effect, columns: [] });
      expect(r.drift.failed_by).toEqual([]);
    }
  }, 180_000);

  it("20,000-row batches with no drift pass at >= 19 of 20 new seeds against both references, <= 5% column verdicts", async () => {
    const t = await tally(20000, seeds(1201, 20));
    for (const name of ["production", "fresh"] as const) {
      expect(t[name].passed, name).toBeGreaterThanOrEqual(19);
      expect(t[name].drifted / t[name].compared, name).toBeLessThanOrEqual(0.05);
      for (const r of t[name].reports) expect(r.drift.strong!.columns, name).toEqual([]);
    }
  }, 300_000);

  it("both drift modes fail validation at 5,000 rows; a new building stock by the strong-drift rule", async () => {
    const hot = await tally(5000, seeds(1301, 5), "hot-summer");
    const stock = await tally(5000, seeds(1401, 10), "building-stock");
    const shareOnly = await tally(5000, seeds(1401, 10), "building-stock", { ...config, drift: { ...config.drift, strong: { ...config.drift.strong, enabled: false } } });
    for (const name of ["production", "fresh"] as const) {
      // A hot summer moves season, outdoor temperature, clothing and indoor temperatures: validation fails.
      expect(hot[name].driftPassed, name).toBe(0);
      for (const r of hot[name].reports) expect(r.drift.columns.filter((c) => c.drifted).map((c) => c.column), name).toEqual(expect.arrayContaining(["season", "t_out"]));
      // A new building stock moves the building-level columns (two to four of ten features): the
      // drifted share often stays under its limit, but the building type or cooling type moved
      // beyond doubt (calibrated p < 0.001 counting one row per building, Cramér's V >= 0.3).
      const flagged = stock[name].reports.filter((r) => r.drift.columns.some((c) => c.drifted)).length;
      expect(flagged, name).toBeGreaterThanOrEqual(8);
      expect(stock[name].passed, name).toBeLessThanOrEqual(2);
      expect(stock[name].drifted / stock[name].compared, name).toBeGreaterThan(0.1);
      for (const r of stock[name].reports.filter((x) => x.drift.failed_by!.includes("strong_drift"))) {
        const strong = r.drift.columns.filter((c) => c.strong);
        expect(strong.map((c) => c.column), name).toEqual(r.drift.strong!.columns);
        for (const c of strong) {
          expect(c.drifted).toBe(true);
          expect(c.p_value!).toBeLessThan(config.drift.strong.alpha);
          expect(c.effect!).toBeGreaterThanOrEqual(config.drift.strong.min_effect);
          // The report names the rule that fired, with its evidence, as an error on the column.
          const issue = r.issues.find((i) => i.check === "drift" && i.column === c.column)!;
          expect(issue.severity).toBe("error");
          expect(issue.message).toMatch(/strong drift, fails validation by itself \(drift\.strong\): (KS|chi-square) p \S+ < 0\.001 with effective sizes \d+ \/ \d+, (KS D|Cramér's V) [\d.]+ ≥ 0\.3/);
        }
      }
      // Without the rule each batch is judged on the drifted share alone: the ones that failed by
      // strong drift only now pass (a strongly drifted column also counts in the share, so the
      // share can only be lower without the rule).
      expect(shareOnly[name].reports.every((r) => r.drift.strong!.active === false)).toBe(true);
      stock[name].reports.forEach((r, i) => {
        const plain = shareOnly[name].reports[i]!;
        expect(plain.drift.drifted_share, name).toBeLessThanOrEqual(r.drift.drifted_share);
        if (plain.drift.failed_by!.includes("drifted_share")) expect(r.drift.failed_by, name).toContain("drifted_share");
        if (r.drift.failed_by!.length === 1 && r.drift.failed_by![0] === "strong_drift") expect(plain.drift.passed, name).toBe(true);
      });
      expect(shareOnly[name].passed, name).toBeGreaterThan(stock[name].passed);
    }
  }, 240_000);

  it("KS and chi-square use the calibrated effective sizes: unchanged batches pass, a hot summer fails", async () => {
    const tests = { ...config, drift: { ...config.drift, numeric_method: "ks" as const, categorical_method: "chi2" as const } };
    for (const reference of [production, fresh]) {
      for (const seed of [1501, 1502, 1503]) {
        const { report } = checkDataset(await batch(5000, seed), tests, { reference });
        expect(report.drift.passed).toBe(true);
        // A building-level column counts about one row per building (25 in a batch of 5,000).
        const type = report.drift.columns.find((c) => c.column === "building_type")!;
        expect(type.effective_n!.current).toBeLessThan(0.1 * type.current_count);
        for (const c of report.drift.columns) {
          expect(c.effective_n!.current).toBeLessThanOrEqual(c.current_count);
          expect(c.drifted).toBe((c.p_value! < tests.drift.alpha && c.effect! >= (c.method === "ks" ? tests.drift.ks_min_effect : tests.drift.chi2_min_effect)) || c.strong === true);
        }
      }
      const { report } = checkDataset(await batch(5000, 1504, "hot-summer"), tests, { reference });
      expect(report.drift.passed).toBe(false);
    }
  }, 120_000);

  it("the design effect of a batch is about 1 for independent rows and about the group size for a building-level column", () => {
    // 10 groups of 50 rows, 2 bins: shares independent of the group → deff ≈ 1; one bin per group → deff = 50.
    const independent: number[] = [];
    const alike: number[] = [];
    for (let g = 0; g < 10; g++) {
      independent.push(25 + ((g % 3) - 1), 25 - ((g % 3) - 1));
      alike.push(g % 2 === 0 ? 50 : 0, g % 2 === 0 ? 0 : 50);
    }
    expect(designEffect(independent, 10, 2)).toBeLessThan(1.5);
    expect(designEffect(alike, 10, 2)).toBeCloseTo(50, 0);
  });
});
