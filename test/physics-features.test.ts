import { describe, expect, it } from "vitest";
import { pmvValue, ppdFromPmv } from "../pipeline/data/pmv.js";
import { adaptiveComfortDeviation, operativeTemperature, physicsColumns, pmvPpd } from "../pipeline/model/physics.js";

describe("physics features", () => {
  it("operative temperature weights air and radiant temperature by air speed (ASHRAE 55)", () => {
    expect(operativeTemperature(24, 28, 0.1)).toBe(0.5 * 24 + 0.5 * 28);
    expect(operativeTemperature(24, 28, 0.3)).toBeCloseTo(0.6 * 24 + 0.4 * 28, 12);
    expect(operativeTemperature(24, 28, 0.8)).toBeCloseTo(0.7 * 24 + 0.3 * 28, 12);
    // Without tr the usual assumption tr = ta; without air speed, still air.
    expect(operativeTemperature(24, Number.NaN, 0.8)).toBe(24);
    expect(operativeTemperature(24, 28, Number.NaN)).toBe(26);
    expect(operativeTemperature(Number.NaN, 28, 0.1)).toBeNaN();
  });

  it("adaptive deviation is t_op - (0.31 t_out + 17.8), missing outside the model's 10..33.5 °C", () => {
    expect(adaptiveComfortDeviation(26, 20)).toBeCloseTo(26 - (0.31 * 20 + 17.8), 12);
    expect(adaptiveComfortDeviation(26, 9.9)).toBeNaN();
    expect(adaptiveComfortDeviation(26, 34)).toBeNaN();
    expect(adaptiveComfortDeviation(Number.NaN, 20)).toBeNaN();
  });

  it("PMV/PPD are ISO 7730's, with tr = ta and 0.1 m/s when those are missing, NaN without ta, rh, met or clo", () => {
    const full = pmvPpd(22, 24, 0.2, 50, 1.2, 0.7);
    expect(full.pmv).toBe(pmvValue(22, 24, 0.2, 50, 1.2, 0.7));
    expect(full.ppd).toBe(ppdFromPmv(full.pmv));
    expect(pmvPpd(22, Number.NaN, Number.NaN, 50, 1.2, 0.7).pmv).toBe(pmvValue(22, 22, 0.1, 50, 1.2, 0.7));
    for (const bad of [pmvPpd(Number.NaN, 24, 0.2, 50, 1.2, 0.7), pmvPpd(22, 24, 0.2, Number.NaN, 1.2, 0.7), pmvPpd(22, 24, 0.2, 50, Number.NaN, 0.7), pmvPpd(22, 24, 0.2, 50, 1.2, Number.NaN)]) {
      expect(bad.pmv).toBeNaN();
      expect(bad.ppd).toBeNaN();
    }
  });

  it("the column form (training) equals the per-row functions (serving) on every row, missing values included", () => {
    const ta = Float64Array.from([22, 25, Number.NaN, 30, 19]);
    const tr = Float64Array.from([24, Number.NaN, 20, 31, 18]);
    const rh = Float64Array.from([50, 40, 45, Number.NaN, 70]);
    const vel = Float64Array.from([0.1, 0.5, Number.NaN, 0.9, 0.05]);
    const clo = Float64Array.from([0.7, 0.5, 0.6, 0.4, 1.0]);
    const met = Float64Array.from([1.2, 1.1, 1.0, 1.3, 1.0]);
    const tOut = Float64Array.from([15, 28, 5, 31, Number.NaN]);
    const cols = physicsColumns({ ta, tr, rh, vel, clo, met, t_out: tOut });
    for (let i = 0; i < ta.length; i++) {
      const p = pmvPpd(ta[i]!, tr[i]!, vel[i]!, rh[i]!, met[i]!, clo[i]!);
      const top = operativeTemperature(ta[i]!, tr[i]!, vel[i]!);
      expect(Object.is(cols.pmv[i], p.pmv)).toBe(true);
      expect(Object.is(cols.ppd[i], p.ppd)).toBe(true);
      expect(Object.is(cols.t_op[i], top)).toBe(true);
      expect(Object.is(cols.adaptive_dev[i], adaptiveComfortDeviation(top, tOut[i]!))).toBe(true);
    }
    expect(cols.pmv[2]).toBeNaN();
    expect(cols.pmv[3]).toBeNaN();
    expect(cols.adaptive_dev[4]).toBeNaN();
  });
});
