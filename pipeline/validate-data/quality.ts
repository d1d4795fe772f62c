import type { PipelineConfig } from "../config/schema.js";
import { presentValues, quantileSorted } from "../data/profile.js";
import type { CategoryColumn, Column, Table } from "../data/table.js";
import type { ColumnSummary, Issue } from "./report.js";
import { outlierShape, type OutlierShape } from "./outlier-shape.js";
import { quantilesBySelection } from "./select.js";

/**
 * The quality checks: missing values, all-missing and constant columns, duplicate rows, outliers
 * (IQR and z-score) and label imbalance, in a few passes over the typed columns.
 *
 * Duplicate rows are compared on `validation.duplicates.columns` when the config names them, else
 * on every column except identifiers: the columns in `dataset.identifiers`, and any column that
 * nothing uses (not a feature, the label, the group or a slice column) and that is categorical or
 * integer-valued with all its non-missing values distinct: record ids, survey numbers. So a
 * record exported twice under two ids still counts as a duplicate, while two readings that differ
 * only in a feature never do. Dates are never identifiers (two surveys on different days differ).
 *
 * The score (0..1) is a weighted mean of five measured shares, so that it moves with how bad the
 * data is rather than with how many checks happen to exist:
 *   completeness 0.30 · (1 − mean missing share of features and label)
 *   validity     0.25 · (1 − share of schema violations per row, capped at 1)
 *   uniqueness   0.15 · (1 − duplicate row share)
 *   consistency  0.15 · (1 − mean outlier share of numeric features, configured method)
 *   balance      0.15 · min(1, smallest class share × number of classes)   (1 = uniform classes)
 */
export const SCORE_WEIGHTS = { completeness: 0.3, validity: 0.25, uniqueness: 0.15, consistency: 0.15, balance: 0.15 } as const;

export interface LabelBins {
  codes: Int32Array;
  classes: string[];
  counts: number[];
}

export interface QualityResult {
  issues: Issue[];
  columns: ColumnSummary[];
  duplicates: { count: number; share: number; excluded_columns: string[] };
  label: { column: string; classes: { name: string; count: number; share: number }[]; missing: number; unknown: number } | null;
  components: Record<keyof typeof SCORE_WEIGHTS, number>;
  /** Sorted non-missing values of the numeric columns that were fully sorted (for profiles and KS). */
  sorted: Map<string, Float64Array>;
}

interface NumericStats {
  present: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  integral: boolean;
}

function numericStats(values: Float64Array, missing: Uint8Array): NumericStats {
  let present = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let integral = true;
  for (let i = 0; i < values.length; i++) {
    if (missing[i] === 1) continue;
    const v = values[i]!;
    present++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    if (integral && v !== Math.floor(v)) integral = false;
  }
  const mean = present > 0 ? sum / present : NaN;
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    if (missing[i] === 1) continue;
    const d = values[i]! - mean;
    ss += d * d;
  }
  // Sample standard deviation (ddof = 1), as pandas computes it.
  const std = present > 1 ? Math.sqrt(ss / (present - 1)) : NaN;
  return { present, min: present ? min : NaN, max: present ? max : NaN, mean, std, integral };
}

function categoryCounts(column: CategoryColumn): { present: number; distinct: number; maxCount: number } {
  const counts = new Int32Array(column.categories.length);
  let present = 0;
  for (let i = 0; i < column.codes.length; i++) {
    const c = column.codes[i]!;
    if (c >= 0) {
      counts[c]!++;
      present++;
    }
  }
  let distinct = 0;
  let maxCount = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i]! > 0) distinct++;
    if (counts[i]! > maxCount) maxCount = counts[i]!;
  }
  return { present, distinct, maxCount };
}

/** True when every non-missing value of an integer-valued numeric column is distinct. */
function allDistinctIntegers(values: Float64Array, missing: Uint8Array, stats: NumericStats): boolean {
  if (!stats.integral || stats.present < 2) return false;
  const span = stats.max - stats.min + 1;
  if (span < stats.present) return false;
  if (span <= 4 * stats.present + 1024) {
    const seen = new Uint8Array(span);
    for (let i = 0; i < values.length; i++) {
      if (missing[i] === 1) continue;
      const k = values[i]! - stats.min;
      if (seen[k] === 1) return false;
      seen[k] = 1;
    }
    return true;
  }
  const sorted = presentValues({ kind: "number", name: "", values, missing }).sort();
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) return false;
  return true;
}

/**
 * Duplicate rows: rows whose typed values are equal in every compared column, counted like
 * pandas' `duplicated()` (each row equal to an earlier one counts once). Rows are compared by a
 * 64-bit hash of their values (two independent 32-bit murmur3 streams); for a million rows the
 * chance that any two different rows collide is about 3·10⁻⁸.
 */
export function countDuplicateRows(table: Table, columns: Column[]): number {
  const n = table.rowCount;
  if (n < 2) return 0;
  const h1 = new Uint32Array(n).fill(0x9747b28c);
  const h2 = new Uint32Array(n).fill(0x2545f491);
  for (const column of columns) {
    if (column.kind === "category") {
      const { codes } = column;
      for (let i = 0; i < n; i++) {
        const w = codes[i]!;
        h1[i] = mix(h1[i]!, w, 0xcc9e2d51, 0x1b873593);
        h2[i] = mix(h2[i]!, w, 0x85ebca6b, 0xc2b2ae35);
      }
    } else {
      const { values, missing } = column;
      const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
      for (let i = 0; i < n; i++) {
        let lo = words[2 * i]!;
        let hi = words[2 * i + 1]!;
        if (missing[i] === 1) {
          lo = 0x7ff80001;
          hi = 0x7ff80001;
        } else if (values[i] === 0) {
          lo = 0; // +0 and −0 are the same value
          hi = 0;
        }
        // Each stream folds the 64 bits its own way, so a value pair that collides in one fold
        // is independent of a collision in the other.
        h1[i] = mix(h1[i]!, lo ^ Math.imul(hi, 0x9e3779b1), 0xcc9e2d51, 0x1b873593);
        h2[i] = mix(h2[i]!, hi ^ Math.imul(lo, 0x7feb352d), 0x85ebca6b, 0xc2b2ae35);
      }
    }
  }
  // Open addressing over the (h1, h2) pairs, stored side by side so a probe touches one cache
  // line. (0, 0) marks an empty slot; a row hashing to it is moved to (0, 1).
  let size = 1;
  while (size < 2 * n) size <<= 1;
  const mask = size - 1;
  const slots = new Uint32Array(2 * size);
  let duplicates = 0;
  for (let i = 0; i < n; i++) {
    const a = fmix(h1[i]!);
    let b = fmix(h2[i]!);
    if (a === 0 && b === 0) b = 1;
    let s = a & mask;
    for (;;) {
      const sa = slots[2 * s]!;
      const sb = slots[2 * s + 1]!;
      if (sa === 0 && sb === 0) {
        slots[2 * s] = a;
        slots[2 * s + 1] = b;
        break;
      }
      if (sa === a && sb === b) {
        duplicates++;
        break;
      }
      s = (s + 1) & mask;
    }
  }
  return duplicates;
}

function mix(h: number, word: number, c1: number, c2: number): number {
  let k = Math.imul(word, c1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, c2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(x < 0.001 && x > 0 ? 3 : 1)}%`;
}

export interface QualityOptions {
  /** Numeric columns to sort fully (for a profile or KS); the rest use quickselect for quartiles. */
  sortColumns: Set<string>;
  /** Violations per row (upper bound: violations / rows), from the schema check. */
  violationShare: number;
  /** Configured columns absent from the file (the reader fills them with missing values); reported by the schema check. */
  absent?: Set<string>;
}

export function checkQuality(table: Table, config: PipelineConfig, label: LabelBins | null, options: QualityOptions): QualityResult {
  const { dataset, validation, preprocessing } = config;
  const n = table.rowCount;
  const issues: Issue[] = [];
  const columns: ColumnSummary[] = [];
  const sorted = new Map<string, Float64Array>();
  const features = new Set(dataset.features);
  const important = new Set([...dataset.features, dataset.label.column]);
  for (const [name, spec] of Object.entries(dataset.columns)) if (spec.required) important.add(name);
  // Columns the model, the splits or the slices use: never treated as identifiers, whatever their values.
  const meaningful = new Set([...dataset.features, dataset.label.column, ...(dataset.group ? [dataset.group] : []), ...dataset.slices]);
  // dataset.identifiers are identifiers whatever their values (an id with a few repeats is still an
  // id); validation.duplicates.columns, when given, are the only columns compared.
  const declared = new Set(dataset.identifiers);
  const onlyCompare = validation.duplicates.columns ? new Set(validation.duplicates.columns) : null;
  const outlierShares: number[] = [];
  const missingShares: number[] = [];
  const compared: Column[] = [];
  const excluded: string[] = [];

  for (const [name, column] of table.columns) {
    const summary: ColumnSummary = {
      name,
      kind: column.kind,
      missing: 0,
      missing_share: 0,
      distinct: null,
      min: null,
      max: null,
      mean: null,
      std: null,
      outliers_iqr: null,
      outliers_z: null,
      identifier: false,
    };
    let present: number;
    let constant: boolean;
    if (column.kind === "category") {
      const c = categoryCounts(column);
      present = c.present;
      summary.distinct = c.distinct;
      constant = c.distinct === 1;
      // An identifier: every row its own value, and not a column the model or the splits use.
      summary.identifier = declared.has(name) || (!meaningful.has(name) && c.present >= 2 && c.maxCount === 1);
    } else {
      const s = numericStats(column.values, column.missing);
      present = s.present;
      constant = present > 0 && s.min === s.max;
      if (present > 0) {
        summary.min = s.min;
        summary.max = s.max;
        summary.mean = s.mean;
        summary.std = Number.isNaN(s.std) ? null : s.std;
      }
      summary.identifier = declared.has(name) || (column.kind === "number" && !meaningful.has(name) && allDistinctIntegers(column.values, column.missing, s));
      if (column.kind === "number" && features.has(name) && present > 0) {
        const o = validation.outliers;
        const counts = countOutliers(name, column.values, column.missing, s, o.iqr_k, o.z_threshold, options.sortColumns.has(name), sorted, o.spike_share);
        summary.outliers_iqr = counts.iqr;
        summary.outliers_z = counts.z;
        const shape = counts.shape;
        summary.outliers = o.method === "iqr" ? shape.outliers : counts.z;
        summary.outlier_tail = o.method === "iqr" ? shape.tail : null;
        if (shape.spikes.length > 0) summary.spikes = shape.spikes.map((x) => ({ value: x.value, share: x.share }));
        const chosen = summary.outliers;
        const share = chosen / present;
        outlierShares.push(share);
        if (shape.spikes.length > 0) issues.push(spikeIssue(name, shape));
        if (o.method === "iqr" && shape.tail > 0 && shape.tail / present > o.max_share / 5) {
          issues.push({
            check: "outliers",
            column: name,
            severity: "info",
            message: `${name}: ${shape.tail} values (${pct(shape.tail / present)}) beyond the IQR fences continue the body without a gap: a tail or a second mode, not counted as outliers`,
            value: shape.tail / present,
            threshold: null,
            recommendation: `nothing to fix if ${name} really has a second mode (another activity, a warmer climate); preprocessing.outliers caps it at training unless method is none`,
          });
        }
        if (chosen > 0) {
          const over = share > o.max_share;
          const how = o.method === "iqr" ? `outside the IQR fences (k = ${o.iqr_k}${shape.spikes.length ? ", spikes left out of the quartiles" : ""}) and beyond a gap from the body` : `beyond |z| > ${o.z_threshold}`;
          issues.push({
            check: "outliers",
            column: name,
            severity: over ? "error" : "info",
            message: `${name}: ${chosen} values (${pct(share)}) ${how}; plain IQR rule flags ${counts.iqr}, z-score rule ${counts.z}`,
            value: share,
            threshold: o.max_share,
            recommendation: outlierRecommendation(name, shape, over, o.method),
          });
        }      } else if (options.sortColumns.has(name) && column.kind === "number") {
        sorted.set(name, presentValues(column).sort());
      }
    }
    summary.missing = n - present;
    summary.missing_share = n > 0 ? (n - present) / n : 0;
    if (important.has(name)) missingShares.push(summary.missing_share);
    if (onlyCompare ? !onlyCompare.has(name) : summary.identifier) excluded.push(name);
    else compared.push(column);
    columns.push(summary);

    if (options.absent?.has(name)) continue;
    if (n > 0 && present === 0) {
      issues.push({
        check: "all_missing",
        column: name,
        severity: important.has(name) ? "error" : "warning",
        message: `${name}: every value is missing`,
        value: 1,
        threshold: null,
        recommendation: important.has(name) ? `fix the export of ${name} (the model needs it)` : `drop ${name} from dataset.columns`,
      });
      continue;
    }
    const limit = validation.missing.per_column[name] ?? validation.missing.max_share;
    if (summary.missing_share > limit) {
      // The threshold gates the columns the pipeline uses; a gap in a column nothing reads is a warning.
      issues.push({
        check: "missing",
        column: name,
        severity: meaningful.has(name) || important.has(name) ? "error" : "warning",
        message: `${name}: ${pct(summary.missing_share)} missing, above ${pct(limit)}`,
        value: summary.missing_share,
        threshold: limit,
        recommendation: missingRecommendation(name, column.kind, summary.missing_share, config),
      });
    }
    if (constant && validation.constant_columns !== "ignore" && n > 1) {
      issues.push({
        check: "constant",
        column: name,
        severity: validation.constant_columns,
        message: `${name}: a single value in every non-missing row`,
        value: 1,
        threshold: null,
        recommendation: features.has(name) ? `remove ${name} from dataset.features (it cannot inform the model)` : `drop ${name}`,
      });
    }
  }

  // Duplicates
  const duplicateCount = countDuplicateRows(table, compared);
  const duplicateShare = n > 0 ? duplicateCount / n : 0;
  if (duplicateCount > 0) {
    const over = duplicateShare > validation.duplicates.max_share;
    issues.push({
      check: "duplicates",
      severity: over ? "error" : "warning",
      message: `${duplicateCount} duplicate rows (${pct(duplicateShare)})${onlyCompare ? `, comparing only ${[...onlyCompare].join(", ")} (validation.duplicates.columns)` : excluded.length ? `, comparing all columns except the identifiers ${excluded.join(", ")}` : ""}`,
      value: duplicateShare,
      threshold: validation.duplicates.max_share,
      recommendation: preprocessing.drop_duplicates ? "duplicates are dropped before training (preprocessing.drop_duplicates)" : "drop duplicate rows (preprocessing.drop_duplicates: true) and check the export for repeated records",
    });
  }

  // Label
  let labelSummary: QualityResult["label"] = null;
  let balance = 1;
  const labelColumn = table.columns.get(dataset.label.column);
  if (label && labelColumn) {
    let missingLabel = 0;
    let unknown = 0;
    for (let i = 0; i < n; i++) {
      if (label.codes[i]! >= 0) continue;
      if (labelColumn.kind === "category" ? labelColumn.codes[i]! < 0 : labelColumn.missing[i] === 1) missingLabel++;
      else unknown++;
    }
    const labelled = label.counts.reduce((a, b) => a + b, 0);
    const classes = label.classes.map((name, i) => ({ name, count: label.counts[i] ?? 0, share: labelled > 0 ? (label.counts[i] ?? 0) / labelled : 0 }));
    labelSummary = { column: dataset.label.column, classes, missing: missingLabel, unknown };
    if (unknown > 0) {
      issues.push({
        check: "unknown_label",
        column: dataset.label.column,
        severity: "error",
        message: `${dataset.label.column}: ${unknown} values bin to no class of ${label.classes.join(", ")}`,
        value: unknown,
        threshold: 0,
        recommendation: `fix the label values or extend dataset.label.binning.classes`,
      });
    }
    if (missingLabel > 0 && missingLabel < n) {
      issues.push({
        check: "missing_label",
        column: dataset.label.column,
        severity: "warning",
        message: `${dataset.label.column}: ${missingLabel} rows (${pct(missingLabel / n)}) have no label`,
        value: missingLabel / n,
        threshold: null,
        recommendation: "drop rows without a label before training (a label is never imputed)",
      });
    }
    if (labelled > 0 && classes.length > 0) {
      const smallest = classes.reduce((a, b) => (b.share < a.share ? b : a));
      balance = Math.min(1, smallest.share * classes.length);
      for (const c of classes) {
        if (c.share < validation.imbalance.min_class_share) {
          issues.push({
            check: "imbalance",
            column: dataset.label.column,
            severity: "error",
            message: `class "${c.name}" is ${pct(c.share)} of labelled rows (${c.count}), below ${pct(validation.imbalance.min_class_share)}`,
            value: c.share,
            threshold: validation.imbalance.min_class_share,
            recommendation: `collect more data for class ${c.name}; meanwhile train with class_weight: balanced`,
          });
        }
      }
    }
  }

  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const components = {
    completeness: 1 - mean(missingShares),
    validity: 1 - Math.min(1, options.violationShare),
    uniqueness: 1 - duplicateShare,
    consistency: 1 - mean(outlierShares),
    balance,
  };
  return { issues, columns, duplicates: { count: duplicateCount, share: duplicateShare, excluded_columns: excluded }, label: labelSummary, components, sorted };
}

export function scoreOf(components: Record<keyof typeof SCORE_WEIGHTS, number>): number {
  let s = 0;
  for (const [k, w] of Object.entries(SCORE_WEIGHTS)) s += w * components[k as keyof typeof SCORE_WEIGHTS];
  return Math.min(1, Math.max(0, s));
}

function missingRecommendation(name: string, kind: Column["kind"], share: number, config: PipelineConfig): string {
  if (name === config.dataset.label.column) return "drop rows without a label; a label is never imputed";
  if (share > 0.5) return `drop ${name} or fix its source: more than half of it would be invented by imputation`;
  const strategy = config.preprocessing.imputation.per_column[name] ?? (kind === "category" ? config.preprocessing.imputation.categorical : config.preprocessing.imputation.numeric);
  return strategy === "drop" ? `drop rows where ${name} is missing` : `impute ${name} with ${strategy === "ffill" ? "forward fill" : strategy}`;
}

function countOutliers(
  name: string,
  values: Float64Array,
  missing: Uint8Array,
  s: NumericStats,
  k: number,
  zThreshold: number,
  sortFully: boolean,
  sortedOut: Map<string, Float64Array>,
  spikeShare: number,
): { iqr: number; z: number; shape: OutlierShape } {
  let copy = presentValues({ kind: "number", name, values, missing });
  let q1: number;
  let q3: number;
  let isSorted = false;
  if (sortFully) {
    copy.sort();
    isSorted = true;
    sortedOut.set(name, copy);
    q1 = quantileSorted(copy, 0.25);
    q3 = quantileSorted(copy, 0.75);
  } else {
    [q1, q3] = quantilesBySelection(copy, [0.25, 0.75]) as [number, number];
  }
  const iqr = q3 - q1;
  const lowFence = q1 - k * iqr;
  const highFence = q3 + k * iqr;
  const zLow = s.mean - zThreshold * s.std;
  const zHigh = s.mean + zThreshold * s.std;
  const useZ = Number.isFinite(s.std) && s.std > 0;
  // With IQR = 0 (most values equal) the fences collapse onto the median and every other value
  // would be an "outlier"; the plain IQR rule is not applicable then and counts none.
  const useIqr = iqr > 0;
  let nIqr = 0;
  let nZ = 0;
  for (let i = 0; i < values.length; i++) {
    if (missing[i] === 1) continue;
    const v = values[i]!;
    if (useIqr && (v < lowFence || v > highFence)) nIqr++;
    if (useZ && (v < zLow || v > zHigh)) nZ++;
  }
  // The shape-aware rule needs the sorted values; it only changes anything when the plain rule
  // flags values or collapses, so clean continuous columns skip the sort.
  let shape: OutlierShape;
  if (nIqr > 0 || !useIqr) {
    if (!isSorted) copy = copy.sort();
    shape = outlierShape(copy, k, spikeShare);
  } else {
    shape = { outliers: 0, tail: 0, spikes: [], outlyingSpikes: [], discrete: false, distinct: 0, low: lowFence, high: highFence, separated: 0 };
  }
  return { iqr: nIqr, z: nZ, shape };
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

function spikeIssue(name: string, shape: OutlierShape): Issue {
  const list = shape.spikes.map((x) => `${fmt(x.value)} (${pct(x.share)})`).join(", ");
  const outlying = shape.outlyingSpikes.length > 0;
  const kind = shape.discrete ? `${name} takes few distinct values (${shape.distinct}; a coded or rounded scale)` : `value spike${shape.spikes.length > 1 ? "s" : ""} in ${name}`;
  return {
    check: "spikes",
    column: name,
    severity: outlying ? "warning" : "info",
    message: `${kind}: ${list} of the values; the IQR fences are computed ${shape.discrete ? "from all values, with the spread at least the range of the spikes" : "without them"}`,
    value: shape.spikes.reduce((a, x) => a + x.share, 0),
    threshold: null,
    recommendation: outlying
      ? `${shape.outlyingSpikes.map((x) => fmt(x.value)).join(", ")} lies outside the fences: likely a placeholder, default or error code written instead of a missing value; map it to missing`
      : shape.spikes.some((x) => x.value === 0)
        ? `a spike at 0 is usually real (still air, nothing worn) or the instrument's floor; nothing to fix unless the instrument cannot read 0`
        : `a spike is usually a coded scale, a rounding or a default of the survey form; nothing to fix if the values are real`,
  };
}

function outlierRecommendation(name: string, shape: OutlierShape, over: boolean, method: "iqr" | "zscore"): string {
  const cap = `cap them at the ${method === "iqr" ? "IQR fences" : "z-score limits"} (preprocessing.outliers.action: cap)`;
  if (!over) return `cap ${name} outliers (preprocessing.outliers.action: cap)`;
  if (shape.outlyingSpikes.length > 0) return `${name} has a repeated value outside the fences (${shape.outlyingSpikes.map((x) => fmt(x.value)).join(", ")}): likely a placeholder or error code; map it to missing, then ${cap}`;
  if (shape.separated > 0) return `the outlying values of ${name} form a separate cluster beyond a gap: likely a unit or scale error (e.g. °F among °C, or a sensor fault) in part of the data; fix the source, then ${cap}`;
  return `check the sensor or unit of ${name}; then ${cap}`;
}
