/**
 * Predicted Mean Vote and Predicted Percentage of Dissatisfied per ISO 7730:2005 (Fanger's
 * steady-state heat balance). The clothing surface temperature has no closed form, so it is found
 * by the fixed-point iteration the standard's Annex D program uses; the generator calls this once
 * per row, so it allocates nothing but its result.
 */

export interface PmvInput {
  /** Air temperature, °C. */
  ta: number;
  /** Mean radiant temperature, °C. */
  tr: number;
  /** Relative air speed, m/s. */
  vel: number;
  /** Relative humidity, %. */
  rh: number;
  /** Metabolic rate, met (1 met = 58.15 W/m²). */
  met: number;
  /** Clothing insulation, clo (1 clo = 0.155 m²K/W). */
  clo: number;
  /** External work, met; 0 for nearly all activities. */
  wme?: number;
}

export interface PmvResult {
  pmv: number;
  /** Percent, 5..100. */
  ppd: number;
}

const W_PER_MET = 58.15;
const M2K_PER_CLO = 0.155;
const TOLERANCE = 0.00015;
const MAX_ITERATIONS = 150;

/** Water vapour partial pressure in Pa from air temperature and relative humidity (ISO 7730 Annex D). */
export function vapourPressure(ta: number, rh: number): number {
  return rh * 10 * Math.exp(16.6536 - 4030.183 / (ta + 235));
}

export function ppdFromPmv(pmv: number): number {
  const p2 = pmv * pmv;
  return 100 - 95 * Math.exp(-0.03353 * p2 * p2 - 0.2179 * p2);
}

export function pmv(input: PmvInput): PmvResult {
  const value = pmvValue(input.ta, input.tr, input.vel, input.rh, input.met, input.clo, input.wme ?? 0);
  return { pmv: value, ppd: ppdFromPmv(value) };
}

/** PMV from positional arguments: no allocation, for callers in a hot loop. */
export function pmvValue(ta: number, tr: number, vel: number, rh: number, met: number, clo: number, wme = 0): number {
  const pa = vapourPressure(ta, rh);
  const icl = M2K_PER_CLO * clo;
  const m = met * W_PER_MET;
  const w = wme * W_PER_MET;
  const mw = m - w;
  const fcl = icl <= 0.078 ? 1 + 1.29 * icl : 1.05 + 0.645 * icl;
  // Forced convection; natural convection (hcn) wins at low air speed.
  const hcf = 12.1 * Math.sqrt(Math.max(vel, 0));
  const taa = ta + 273;
  const tra = tr + 273;
  const tra2 = (tra / 100) * (tra / 100);
  const tra4 = tra2 * tra2;

  const p1 = icl * fcl;
  const p2 = p1 * 3.96;
  const p3 = p1 * 100;
  const p4 = p1 * taa;
  const p5 = 308.7 - 0.028 * mw + p2 * tra4;

  // Iterate on the clothing surface temperature (in units of 100 K) until it settles.
  const tcla = taa + (35.5 - ta) / (3.5 * icl + 0.1);
  let xn = tcla / 100;
  let xf = tcla / 50;
  let hc = hcf;
  let n = 0;
  while (Math.abs(xn - xf) > TOLERANCE) {
    xf = (xf + xn) / 2;
    const hcn = 2.38 * Math.sqrt(Math.sqrt(Math.abs(100 * xf - taa)));
    hc = hcf > hcn ? hcf : hcn;
    const xf2 = xf * xf;
    xn = (p5 + p4 * hc - p2 * xf2 * xf2) / (100 + p3 * hc);
    if (++n > MAX_ITERATIONS) {
      throw new RangeError(`PMV iteration did not converge for ta=${ta} tr=${tr} vel=${vel} rh=${rh} met=${met} clo=${clo}`);
    }
  }
  const tcl = 100 * xn - 273;

  const hl1 = 3.05 * 0.001 * (5733 - 6.99 * mw - pa); // skin diffusion
  const hl2 = mw > W_PER_MET ? 0.42 * (mw - W_PER_MET) : 0; // sweating
  const hl3 = 1.7 * 0.00001 * m * (5867 - pa); // latent respiration
  const hl4 = 0.0014 * m * (34 - ta); // dry respiration
  const xn2 = xn * xn;
  const hl5 = 3.96 * fcl * (xn2 * xn2 - tra4); // radiation
  const hl6 = fcl * hc * (tcl - ta); // convection
  const ts = 0.303 * Math.exp(-0.036 * m) + 0.028;
  return ts * (mw - hl1 - hl2 - hl3 - hl4 - hl5 - hl6);
}
