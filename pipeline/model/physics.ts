import { pmvValue, ppdFromPmv } from "../data/pmv.js";

/**
 * Features derived from a row's inputs by thermal-comfort physics, for training and serving alike (this
 * module is serving-safe: no training code). Every function returns NaN (a missing value, which the trees
 * route like any other) when an input it needs is missing or outside the model's domain.
 */

/**
 * Operative temperature (ASHRAE 55 Appendix A): the mean of air and mean radiant temperature weighted by
 * air speed, A = 0.5 below 0.2 m/s, 0.6 below 0.6 m/s, 0.7 up to 1 m/s (and above). Without tr it is ta
 * (the usual field-study assumption tr = ta); a missing air speed counts as still air.
 */
export function operativeTemperature(ta: number, tr: number, vel: number): number {
  if (Number.isNaN(ta)) return Number.NaN;
  if (Number.isNaN(tr)) return ta;
  const v = Number.isNaN(vel) ? 0 : vel;
  const a = v < 0.2 ? 0.5 : v < 0.6 ? 0.6 : 0.7;
  return a * ta + (1 - a) * tr;
}

/**
 * Deviation of the operative temperature from the ASHRAE 55 adaptive comfort temperature,
 * t_comf = 0.31 * t_pma + 17.8, with the prevailing mean outdoor temperature t_pma (the running mean of
 * outdoor temperature; the outdoor temperature stands in for it when that is all a row has). The adaptive
 * model is defined for t_pma in [10, 33.5] °C; outside it the deviation is missing.
 */
export function adaptiveComfortDeviation(top: number, tOutMean: number): number {
  if (Number.isNaN(top) || Number.isNaN(tOutMean) || tOutMean < 10 || tOutMean > 33.5) return Number.NaN;
  return top - (0.31 * tOutMean + 17.8);
}

/**
 * ISO 7730 PMV and PPD; tr defaults to ta and a missing air speed to 0.1 m/s (still air) as in field
 * studies. Missing ta, rh, met or clo, or an iteration that does not converge, give NaN.
 */
export function pmvPpd(ta: number, tr: number, vel: number, rh: number, met: number, clo: number): { pmv: number; ppd: number } {
  if (Number.isNaN(ta) || Number.isNaN(rh) || Number.isNaN(met) || Number.isNaN(clo) || met <= 0 || clo < 0) return { pmv: Number.NaN, ppd: Number.NaN };
  try {
    const v = pmvValue(ta, Number.isNaN(tr) ? ta : tr, Number.isNaN(vel) ? 0.1 : vel, rh, met, clo);
    return Number.isFinite(v) ? { pmv: v, ppd: ppdFromPmv(v) } : { pmv: Number.NaN, ppd: Number.NaN };
  } catch {
    return { pmv: Number.NaN, ppd: Number.NaN };
  }
}

export const PHYSICS_FEATURES = ["pmv", "ppd", "t_op", "adaptive_dev"] as const;

/** The derived columns for rows of (ta, tr, rh, vel, clo, met, t_out) columns, NaN = missing. */
export function physicsColumns(c: { ta: Float64Array; tr: Float64Array; rh: Float64Array; vel: Float64Array; clo: Float64Array; met: Float64Array; t_out: Float64Array }): Record<(typeof PHYSICS_FEATURES)[number], Float64Array> {
  const n = c.ta.length;
  const out = { pmv: new Float64Array(n), ppd: new Float64Array(n), t_op: new Float64Array(n), adaptive_dev: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    const p = pmvPpd(c.ta[i]!, c.tr[i]!, c.vel[i]!, c.rh[i]!, c.met[i]!, c.clo[i]!);
    out.pmv[i] = p.pmv;
    out.ppd[i] = p.ppd;
    const top = operativeTemperature(c.ta[i]!, c.tr[i]!, c.vel[i]!);
    out.t_op[i] = top;
    out.adaptive_dev[i] = adaptiveComfortDeviation(top, c.t_out[i]!);
  }
  return out;
}
