import { z } from "zod";
import { resolvePhysics, type DatasetConfig, type PreprocessingSchema } from "../config/schema.js";
import { ConfigError } from "../core/errors.js";
import { getColumn, type Column, type Table } from "../data/table.js";
import type { FeatureSpec, PreprocessingParams } from "../model/artifact-schema.js";
import { compileTransform, encodeNumber, transformTableRows, writeCategory, type FeatureMatrix } from "../model/transform.js";

/**
 * Fitting preprocessing on the training rows, and the training-time transform. The serving-time
 * transform lives in pipeline/model/transform.ts (no training code); this module re-uses it so the
 * two cannot disagree on how a value is encoded.
 *
 * Fitting order, per feature column, on the training rows only:
 *  1. outlier bounds from the observed values (IQR: [q1 - k·IQR, q3 + k·IQR] with linearly
 *     interpolated quartiles; z-score: mean ± z·std with the population std);
 *  2. the rows the training transform keeps: rows with an outlier in a `remove` column and rows
 *     missing a value in a `drop` column are left out;
 *  3. on the kept rows (values capped for `cap`), the fill value: mean, median or mode per the
 *     strategy; `interpolate`, `ffill` and `drop` store the median (mode for categories) as the
 *     fallback used at serving, where a single row has no neighbours;
 *  4. category columns: the categories seen in the kept rows, in the config's order when the config
 *     lists them, otherwise sorted; a value not in that list is missing at serving.
 * Derived physics features (dataset.physics) are not fitted: they are computed from the raw inputs of
 * each row (missing stays missing, which the trees route) and follow the encoded inputs.
 */

export type PreprocessingConfig = z.infer<typeof PreprocessingSchema>;
type Strategy = PreprocessingParams["imputation"][string]["strategy"];

export interface PreprocessingInput {
  dataset: DatasetConfig;
  preprocessing: PreprocessingConfig;
}

export interface TransformedTable {
  matrix: FeatureMatrix;
  /** Table row index of each matrix row (rows dropped by the training transform are absent). */
  rows: Int32Array;
}

export interface TransformOptions {
  /** Rows of the table to transform (default: all, in order). */
  rows?: ArrayLike<number>;
  /**
   * "train" applies the training-only steps: drops rows (strategy drop, outlier action remove) and
   * fills interpolate/ffill columns from neighbouring rows. "serve" (default) encodes each row on its
   * own, exactly like transformRecord.
   */
  mode?: "train" | "serve";
  /** Sort key for interpolate/ffill in train mode (default: table order). */
  orderBy?: string;
}

function isNumeric(column: Column): boolean {
  return column.kind !== "category";
}

function strategyFor(name: string, column: Column, config: PreprocessingConfig): Strategy {
  const explicit = config.imputation.per_column[name];
  if (explicit) {
    if (column.kind === "category" && (explicit === "mean" || explicit === "median" || explicit === "interpolate")) {
      throw new ConfigError(`preprocessing.imputation.per_column.${name}: "${explicit}" needs a number column, but "${name}" is a category column (use drop, mode or ffill)`);
    }
    return explicit;
  }
  return isNumeric(column) ? config.imputation.numeric : config.imputation.categorical;
}

/** Quantile with linear interpolation between order statistics (numpy's default); `sorted` ascending. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function mean(values: Float64Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s / values.length;
}

/** Most frequent value; ties go to the smallest value so the result does not depend on row order. */
function modeOf(sorted: Float64Array): number {
  let best = NaN;
  let bestCount = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    if (j - i > bestCount) {
      bestCount = j - i;
      best = sorted[i]!;
    }
    i = j;
  }
  return best;
}

function numericValue(column: Column, row: number): number {
  if (column.kind === "category") return NaN;
  return column.missing[row] === 1 ? NaN : column.values[row]!;
}

function observed(column: Column, rows: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows.length);
  let k = 0;
  for (let i = 0; i < rows.length; i++) {
    const v = numericValue(column, rows[i]!);
    if (!Number.isNaN(v)) out[k++] = v;
  }
  return out.slice(0, k);
}

/** Fits all preprocessing parameters on `trainRows` of `table`. */
export function fitPreprocessing(table: Table, config: PreprocessingInput, trainRows: ArrayLike<number>): PreprocessingParams {
  const { dataset, preprocessing } = config;
  const outlierCfg = preprocessing.outliers;
  const imputation: PreprocessingParams["imputation"] = {};
  const outliers: PreprocessingParams["outliers"] = {};
  const strategies = new Map<string, Strategy>();

  for (const name of dataset.features) {
    const column = getColumn(table, name);
    strategies.set(name, strategyFor(name, column, preprocessing));
    if (!isNumeric(column) || outlierCfg.method === "none") continue;
    const values = observed(column, trainRows).sort();
    if (values.length === 0) continue;
    let lower: number;
    let upper: number;
    if (outlierCfg.method === "iqr") {
      const q1 = quantileSorted(values, 0.25);
      const q3 = quantileSorted(values, 0.75);
      lower = q1 - outlierCfg.iqr_k * (q3 - q1);
      upper = q3 + outlierCfg.iqr_k * (q3 - q1);
    } else {
      const m = mean(values);
      let ss = 0;
      for (let i = 0; i < values.length; i++) ss += (values[i]! - m) ** 2;
      const sd = Math.sqrt(ss / values.length);
      lower = m - outlierCfg.z_threshold * sd;
      upper = m + outlierCfg.z_threshold * sd;
    }
    outliers[name] = { method: outlierCfg.method, action: outlierCfg.action, lower, upper };
  }

  const kept = keptRows(table, dataset.features, strategies, outliers, trainRows);

  const categories: PreprocessingParams["categories"] = {};
  for (const name of dataset.features) {
    const column = getColumn(table, name);
    const strategy = strategies.get(name)!;
    if (column.kind === "category") {
      const counts = new Int32Array(column.categories.length);
      for (let i = 0; i < kept.length; i++) {
        const code = column.codes[kept[i]!]!;
        if (code >= 0) counts[code]!++;
      }
      const seen = column.categories.filter((_, code) => counts[code]! > 0);
      const spec = dataset.columns[name];
      const order = spec?.type === "category" && spec.categories ? spec.categories : [];
      const rank = new Map(order.map((c, i) => [c, i]));
      const fitted = [...seen].sort((a, b) => {
        const ra = rank.get(a) ?? Infinity;
        const rb = rank.get(b) ?? Infinity;
        if (ra !== rb) return ra - rb;
        return a < b ? -1 : a > b ? 1 : 0;
      });
      categories[name] = fitted;
      let mode: string | null = null;
      let modeCount = 0;
      for (const c of fitted) {
        const n = counts[column.categories.indexOf(c)]!;
        if (n > modeCount) {
          modeCount = n;
          mode = c;
        }
      }
      imputation[name] = { strategy, value: mode };
    } else {
      const bounds = outliers[name];
      const values = observed(column, kept);
      if (bounds?.action === "cap") {
        for (let i = 0; i < values.length; i++) values[i] = Math.min(bounds.upper, Math.max(bounds.lower, values[i]!));
      }
      values.sort();
      let value: number | null = null;
      if (values.length > 0) value = strategy === "mean" ? mean(values) : strategy === "mode" ? modeOf(values) : quantileSorted(values, 0.5);
      imputation[name] = { strategy, value };
    }
  }

  const physics = resolvePhysics(dataset);
  if (physics.issues.length > 0) throw new ConfigError(`dataset.${physics.issues[0]!.path.join(".")}: ${physics.issues[0]!.message}`);
  const params: PreprocessingParams = { imputation, outliers, encoding: preprocessing.encoding, categories, encoded_features: [], ...(physics.derivation ? { physics: physics.derivation } : {}) };
  params.encoded_features = compileTransform(params, featureSpecs(table, dataset, params, kept)).names;
  return params;
}

/** Rows the training transform keeps: no outlier in a `remove` column, no missing value in a `drop` column. */
function keptRows(
  table: Table,
  features: string[],
  strategies: Map<string, Strategy>,
  outliers: PreprocessingParams["outliers"],
  rows: ArrayLike<number>,
): Int32Array {
  const checks = features.map((name) => ({ column: getColumn(table, name), drop: strategies.get(name) === "drop", bounds: outliers[name]?.action === "remove" ? outliers[name] : undefined }));
  const active = checks.filter((c) => c.drop || c.bounds);
  const out = new Int32Array(rows.length);
  let k = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    let keep = true;
    for (const c of active) {
      const missing = c.column.kind === "category" ? c.column.codes[r]! < 0 : c.column.missing[r] === 1;
      if (missing) {
        if (c.drop) keep = false;
      } else if (c.bounds && c.column.kind !== "category") {
        const v = c.column.values[r]!;
        if (v < c.bounds.lower || v > c.bounds.upper) keep = false;
      }
      if (!keep) break;
    }
    if (keep) out[k++] = r;
  }
  return out.slice(0, k);
}

/**
 * The artifact's feature list: number features with the config's range (or the observed range of the
 * training rows, marked as such: the physics derivation treats only a configured range as validity),
 * category features with their fitted categories.
 */
export function featureSpecs(table: Table, dataset: DatasetConfig, params: Pick<PreprocessingParams, "categories">, trainRows: ArrayLike<number>): FeatureSpec[] {
  return dataset.features.map((name): FeatureSpec => {
    const column = getColumn(table, name);
    if (column.kind === "category") return { name, type: "category", categories: params.categories[name] ?? [] };
    const spec = dataset.columns[name];
    if (spec?.type === "number" && spec.range) return { name, type: "number", range: [spec.range[0], spec.range[1]], range_source: "config" };
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < trainRows.length; i++) {
      const v = numericValue(column, trainRows[i]!);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return lo <= hi ? { name, type: "number", range: [lo, hi], range_source: "training" } : { name, type: "number" };
  });
}

/** Row order for interpolate/ffill: by `orderBy` (missing keys last), ties and default in table order. */
function sequenceOrder(table: Table, rows: Int32Array, orderBy: string | undefined): Int32Array {
  if (!orderBy) return rows;
  const column = getColumn(table, orderBy);
  const key = (r: number) => (column.kind === "category" ? (column.codes[r]! < 0 ? NaN : column.codes[r]!) : column.missing[r] === 1 ? NaN : column.values[r]!);
  const order = Array.from(rows);
  const keys = new Map(order.map((r) => [r, key(r)]));
  const labels = column.kind === "category" ? column.categories : null;
  order.sort((a, b) => {
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    const ma = Number.isNaN(ka);
    const mb = Number.isNaN(kb);
    if (ma || mb) return ma === mb ? a - b : ma ? 1 : -1;
    if (labels) {
      const sa = labels[ka]!;
      const sb = labels[kb]!;
      if (sa !== sb) return sa < sb ? -1 : 1;
      return a - b;
    }
    return ka !== kb ? ka - kb : a - b;
  });
  return Int32Array.from(order);
}

/**
 * Transforms rows of a table into the encoded feature matrix. In "serve" mode (the default) each row
 * is encoded on its own, exactly like transformRecord; in "train" mode the training-only steps run
 * (see TransformOptions).
 */
export function transformTable(table: Table, params: PreprocessingParams, features: FeatureSpec[], options: TransformOptions = {}): TransformedTable {
  const all = options.rows ? Int32Array.from(options.rows) : Int32Array.from({ length: table.rowCount }, (_, i) => i);
  if ((options.mode ?? "serve") === "serve") return { matrix: transformTableRows(table, params, features, all), rows: all };

  const strategies = new Map<string, Strategy>(features.map((f) => [f.name, params.imputation[f.name]?.strategy ?? "median"]));
  const rows = keptRows(table, features.map((f) => f.name), strategies, params.outliers, all);
  const matrix = transformTableRows(table, params, features, rows);
  const plan = compileTransform(params, features);
  const sequential = plan.steps.filter((s) => {
    const strategy = strategies.get(s.name);
    return strategy === "interpolate" || strategy === "ffill";
  });
  if (sequential.length === 0) return { matrix, rows };

  const order = sequenceOrder(table, rows, options.orderBy);
  const position = new Map<number, number>();
  rows.forEach((r, i) => position.set(r, i));
  const seq = Int32Array.from(order, (r) => position.get(r)!);

  for (const step of sequential) {
    const column = getColumn(table, step.name);
    const strategy = strategies.get(step.name)!;
    // Raw values in sequence order (NaN = missing), outliers already capped.
    const values = new Float64Array(seq.length);
    for (let i = 0; i < seq.length; i++) {
      const r = rows[seq[i]!]!;
      if (step.kind === "number") {
        const v = numericValue(column, r);
        values[i] = Number.isNaN(v) ? NaN : encodeNumber(step, v);
      } else {
        const code = column.kind === "category" && column.codes[r]! >= 0 ? step.exact.get(column.categories[column.codes[r]!]!) ?? -1 : -1;
        values[i] = code >= 0 ? code : NaN;
      }
    }
    const filled = strategy === "ffill" || step.kind === "category" ? forwardFill(values) : interpolate(values);
    for (let i = 0; i < seq.length; i++) {
      const target = seq[i]!;
      const v = filled[i]!;
      if (step.kind === "number") matrix.features[step.column]![target] = Number.isNaN(v) ? step.fallback : v;
      else writeCategory(step, Number.isNaN(v) ? -1 : v, (c, x) => void (matrix.features[c]![target] = x));
    }
  }
  return { matrix, rows };
}

/** Carries the last observed value forward; leading gaps stay NaN (the caller uses the fallback). */
export function forwardFill(values: Float64Array): Float64Array {
  const out = Float64Array.from(values);
  let last = NaN;
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i]!)) out[i] = last;
    else last = out[i]!;
  }
  return out;
}

/**
 * Linear interpolation by position between the nearest observed values before and after a gap;
 * gaps at either end take the nearest observed value; an all-missing sequence stays NaN.
 */
export function interpolate(values: Float64Array): Float64Array {
  const out = Float64Array.from(values);
  let prev = -1;
  for (let i = 0; i <= out.length; i++) {
    if (i < out.length && Number.isNaN(out[i]!)) continue;
    if (i - prev > 1) {
      const from = prev >= 0 ? out[prev]! : NaN;
      const to = i < out.length ? out[i]! : NaN;
      for (let j = prev + 1; j < i; j++) {
        if (prev < 0) out[j] = to;
        else if (i >= out.length) out[j] = from;
        else out[j] = from + ((to - from) * (j - prev)) / (i - prev);
      }
    }
    prev = i;
  }
  return out;
}
