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

export type PhysicsFeature = (typeof PHYSICS_FEATURES)[number];

/** The inputs physics features read, in the order a derivation holds them (PhysicsRowWriter's `inputs`). */
export const PHYSICS_INPUTS = ["ta", "tr", "rh", "vel", "clo", "met", "t_out"] as const;
export type PhysicsInput = (typeof PHYSICS_INPUTS)[number];

export const PHYSICS_INPUT_MEANING: Record<PhysicsInput, string> = {
  ta: "air temperature, °C",
  tr: "mean radiant temperature, °C",
  rh: "relative humidity, %",
  vel: "air speed, m/s",
  clo: "clothing insulation, clo",
  met: "metabolic rate, met",
  t_out: "outdoor (running mean) temperature, °C",
};

/**
 * Which inputs each feature cannot do without (`needs`: the functions above return NaN without them, so
 * a config must map them) and which it uses when a row has them (`uses`: tr = ta and still air otherwise).
 */
export const PHYSICS_FEATURE_INPUTS: Record<PhysicsFeature, { needs: readonly PhysicsInput[]; uses: readonly PhysicsInput[] }> = {
  pmv: { needs: ["ta", "rh", "met", "clo"], uses: ["tr", "vel"] },
  ppd: { needs: ["ta", "rh", "met", "clo"], uses: ["tr", "vel"] },
  t_op: { needs: ["ta"], uses: ["tr", "vel"] },
  adaptive_dev: { needs: ["ta", "t_out"], uses: ["tr", "vel"] },
};

/**
 * A derivation as model.json carries it (preprocessing.physics): the derived features in the order they
 * follow the encoded inputs, and the model feature each physics input is read from (an unmapped input
 * is missing on every row).
 */
export interface PhysicsDerivation {
  features: { name: string; kind: PhysicsFeature }[];
  inputs: Partial<Record<PhysicsInput, string>>;
}

/** Writes one row's derived values from its inputs (PHYSICS_INPUTS order, NaN = missing) to out[at], out[at + 1], … */
export type PhysicsRowWriter = (inputs: Float64Array, out: Float64Array, at: number) => void;

/**
 * The one place derived values are computed, for a table row in training and a checked record in serving
 * alike, so both give the same numbers bit for bit. PMV is iterated once for pmv and ppd together, and only
 * when one of them is asked for.
 */
export function physicsRowWriter(kinds: readonly PhysicsFeature[]): PhysicsRowWriter {
  const wantsPmv = kinds.includes("pmv") || kinds.includes("ppd");
  const wantsTop = kinds.includes("t_op") || kinds.includes("adaptive_dev");
  return (inputs, out, at) => {
    const ta = inputs[0]!;
    const tr = inputs[1]!;
    const vel = inputs[3]!;
    const p = wantsPmv ? pmvPpd(ta, tr, vel, inputs[2]!, inputs[5]!, inputs[4]!) : null;
    const top = wantsTop ? operativeTemperature(ta, tr, vel) : Number.NaN;
    for (let j = 0; j < kinds.length; j++) {
      const kind = kinds[j]!;
      out[at + j] = kind === "pmv" ? p!.pmv : kind === "ppd" ? p!.ppd : kind === "t_op" ? top : adaptiveComfortDeviation(top, inputs[6]!);
    }
  };
}
