import { describe, expect, it } from "vitest";
import { profileTable } from "../pipeline/data/profile.js";
import type { Table } from "../pipeline/data/table.js";
import { detectDrift, ksDistance, psi } from "../pipeline/validate-data/drift.js";
import { chiSquareSurvival, gammaQ, kolmogorovSurvival, ksPValue, lnGamma } from "../pipeline/validate-data/stats.js";
import { generateRows, normal, rng, tableOf, testConfig } from "./validate-data-fixtures.js";

describe("distribution functions", () => {
  it("matches tabulated values", () => {
    expect(lnGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(lnGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    // χ² critical values at 5% (any statistics table): df 1 → 3.8415, df 10 → 18.307, df 30 → 43.773
    expect(chiSquareSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 8);
    expect(chiSquareSurvival(18.307038053275146, 10)).toBeCloseTo(0.05, 8);
    expect(chiSquareSurvival(43.77297182574219, 30)).toBeCloseTo(0.05, 8);
    // df 2 is an exponential: P(X ≥ x) = exp(−x/2)
    expect(chiSquareSurvival(1, 2)).toBeCloseTo(Math.exp(-0.5), 12);
    expect(gammaQ(1, 3)).toBeCloseTo(Math.exp(-3), 12);
    // Kolmogorov: the 5% critical value 1.3581; Q(1) = 0.27000
    expect(kolmogorovSurvival(1.3580986393225505)).toBeCloseTo(0.05, 6);
    expect(kolmogorovSurvival(1)).toBeCloseTo(0.26999967, 6);
    expect(kolmogorovSurvival(0.1)).toBe(1);
    expect(ksPValue(0.5, 1e6, 1e6)).toBeLessThan(1e-12);
  });

  it("PSI is 0 for equal shares and grows with the shift", () => {
    expect(psi([10, 20, 30], [1, 2, 3])).toBeCloseTo(0, 12);
    const small = psi([50, 50], [55, 45]);
    const large = psi([50, 50], [90, 10]);
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(10 * small);
    // an empty bin uses the epsilon share, not a division by zero
    expect(Number.isFinite(psi([50, 50, 0], [40, 40, 20]))).toBe(true);
  });

  it("KS distance against a percentile ECDF is near 0 for the same sample and exact for a shift", () => {
    const r = rng(5);
    const sample = Float64Array.from({ length: 20000 }, () => r()).sort();
    const quantiles = Array.from({ length: 101 }, (_, k) => k / 100); // U(0,1)
    expect(ksDistance(sample, quantiles)).toBeLessThan(0.015);
    const shifted = sample.map((x) => x + 0.3);
    expect(ksDistance(shifted, quantiles)).toBeCloseTo(0.3, 1);
  });
});

function bothMethods(table: Table, reference: ReturnType<typeof profileTable>, numeric: "ks" | "psi", categorical: "chi2" | "psi") {
  const config = testConfig({ drift: { numeric_method: numeric, categorical_method: categorical } });
  return detectDrift(table, ["ta", "rh", "season"], reference, config.drift, { source: "test" });
}

describe("drift", () => {
  const reference = profileTable(tableOf(generateRows({ rows: 4000, seed: 1 })), ["ta", "rh", "season"], { bins: 10 });
  const same = tableOf(generateRows({ rows: 4000, seed: 2 }));
  const hot = tableOf(generateRows({ rows: 4000, seed: 3, taMean: 26.5, seasonWeights: [0.05, 0.15, 0.6, 0.2] }));

  for (const [numeric, categorical] of [
    ["ks", "chi2"],
    ["psi", "psi"],
  ] as const) {
    it(`${numeric}/${categorical}: an identically distributed batch (other seed) is not flagged`, () => {
      const d = bothMethods(same, reference, numeric, categorical);
      expect(d.compared).toBe(3);
      expect(d.columns.filter((c) => c.drifted)).toEqual([]);
      expect(d.passed).toBe(true);
    });

    it(`${numeric}/${categorical}: a hot-summer batch is flagged on ta and season, not rh`, () => {
      const d = bothMethods(hot, reference, numeric, categorical);
      const flagged = d.columns.filter((c) => c.drifted).map((c) => c.column);
      expect(flagged.sort()).toEqual(["season", "ta"]);
      expect(d.drifted_share).toBeCloseTo(2 / 3, 12);
      expect(d.passed).toBe(false); // 2/3 > max_drifted_share 0.3
    });
  }

  it("reports every statistic whatever the gate method", () => {
    const d = bothMethods(hot, reference, "psi", "psi");
    const ta = d.columns.find((c) => c.column === "ta")!;
    const season = d.columns.find((c) => c.column === "season")!;
    expect(ta.psi).toBeGreaterThan(0.2);
    expect(ta.statistic).toBeGreaterThan(0.1);
    expect(ta.p_value).toBeLessThan(1e-6);
    expect(season.statistic).toBeGreaterThan(100); // χ²
    expect(season.effect).toBeGreaterThan(0.1); // Cramér's V
  });

  it("at large n a trivial shift is significant but not flagged by KS thanks to the effect-size floor", () => {
    const n = 200_000;
    const make = (seed: number, shift: number): Table => {
      const r = rng(seed);
      const values = Float64Array.from({ length: n }, () => 24 + shift + 2.5 * normal(r));
      return { rowCount: n, columns: new Map([["ta", { kind: "number", name: "ta", values, missing: new Uint8Array(n) }]]) };
    };
    const ref = profileTable(make(11, 0), ["ta"], { bins: 10 });
    const current = make(12, 0.1); // 0.1 °C: 0.04 standard deviations
    const config = testConfig({ drift: { numeric_method: "ks", alpha: 0.01, ks_min_effect: 0.1 } });
    const d = detectDrift(current, ["ta"], ref, config.drift, { source: "test" });
    const ta = d.columns[0]!;
    expect(ta.p_value).toBeLessThan(0.01);
    expect(ta.statistic).toBeLessThan(0.05);
    expect(ta.drifted).toBe(false);
    // The same data with the floor removed would have been flagged: the floor is what decides.
    const bare = detectDrift(current, ["ta"], ref, { ...config.drift, ks_min_effect: 0 }, { source: "test" });
    expect(bare.columns[0]!.drifted).toBe(true);
  });

  it("notes columns the reference does not have, or has with another type", () => {
    const ref = profileTable(tableOf(generateRows({ rows: 200, seed: 1 })), ["ta"], { bins: 10 });
    const wrong = { ...ref, columns: { ...ref.columns, season: ref.columns.ta! } };
    const d = detectDrift(same, ["ta", "rh", "season"], wrong, testConfig().drift, { source: "test" });
    expect(d.compared).toBe(1);
    expect(d.notes.join("\n")).toMatch(/"rh" is not in the reference profile/);
    expect(d.notes.join("\n")).toMatch(/"season" is numeric in the reference but categorical here/);
  });
});
