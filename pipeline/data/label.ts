import type { DatasetConfig, LabelBinning } from "../config/schema.js";
import { ConfigError } from "../core/errors.js";
import { normalizeCategory } from "./csv-values.js";
import { getColumn, type Table } from "./table.js";

export interface BinnedLabel {
  /** Class index per row; -1 = missing (or a value outside the configured classes). */
  codes: Int32Array;
  classes: string[];
  /** Rows per class, in `classes` order. */
  counts: number[];
}

/** Round half away from zero (Math.round rounds -2.5 to -2), then clamp to the 7-point scale. */
function sevenPointIndex(v: number): number {
  const r = Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
  return Math.min(3, Math.max(-3, r)) + 3;
}

function threeClassIndex(v: number, coolBelow: number, warmAbove: number): number {
  return v < coolBelow ? 0 : v > warmAbove ? 2 : 1;
}

/**
 * Class of one value (a sanity case, a PMV baseline, a served prediction's ground truth):
 * the class name, or null for a missing / unparseable / unknown value. For categorical
 * binning without configured classes any non-empty value is its own class.
 */
export function binLabelValue(value: number | string, binning: LabelBinning): string | null {
  if (binning.kind === "categorical") {
    const text = normalizeCategory(String(value));
    if (text === "") return null;
    if (!binning.classes) return text;
    return binning.classes.find((c) => normalizeCategory(c) === text) ?? null;
  }
  const v = typeof value === "number" ? value : value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(v)) return null;
  if (binning.kind === "seven_point") return binning.classes[sevenPointIndex(v)]!;
  return binning.classes[threeClassIndex(v, binning.cool_below, binning.warm_above)]!;
}

/** Bins the label column as the config says; the class order is the config's (or, for an open categorical label, the data's). */
export function binLabel(table: Table, dataset: DatasetConfig): BinnedLabel {
  const { column: name, binning } = dataset.label;
  const column = getColumn(table, name);
  const n = table.rowCount;
  const codes = new Int32Array(n);
  let classes: string[];

  if (binning.kind === "categorical") {
    if (column.kind !== "category") throw new ConfigError(`dataset.label.binning: categorical binning needs a category column, but "${name}" is a ${column.kind} column`);
    // Map each category code once, then rows through the small lookup.
    let toClass: Int32Array;
    if (binning.classes) {
      classes = [...binning.classes];
      const byKey = new Map(classes.map((c, i) => [normalizeCategory(c), i]));
      toClass = Int32Array.from(column.categories, (c) => byKey.get(normalizeCategory(c)) ?? -1);
    } else {
      classes = [...column.categories];
      toClass = Int32Array.from(column.categories, (_, i) => i);
    }
    for (let i = 0; i < n; i++) {
      const c = column.codes[i]!;
      codes[i] = c < 0 ? -1 : toClass[c]!;
    }
  } else {
    if (column.kind !== "number") throw new ConfigError(`dataset.label.binning: ${binning.kind} binning needs a number column, but "${name}" is a ${column.kind} column`);
    classes = [...binning.classes];
    const { values, missing } = column;
    if (binning.kind === "seven_point") {
      for (let i = 0; i < n; i++) codes[i] = missing[i] === 1 || !Number.isFinite(values[i]!) ? -1 : sevenPointIndex(values[i]!);
    } else {
      const { cool_below: lo, warm_above: hi } = binning;
      for (let i = 0; i < n; i++) codes[i] = missing[i] === 1 || !Number.isFinite(values[i]!) ? -1 : threeClassIndex(values[i]!, lo, hi);
    }
  }

  const counts = new Array<number>(classes.length).fill(0);
  for (let i = 0; i < n; i++) if (codes[i]! >= 0) counts[codes[i]!]!++;
  return { codes, classes, counts };
}
