import type { LabelBinning } from "../config/schema.js";
import { binLabelValue } from "../data/label.js";
import { MISSING_TOKENS, parseNumberText } from "../data/csv-values.js";
import type { CategoryColumn } from "../data/table.js";
import { kFold } from "../train/split.js";

/**
 * Label leakage for `pipeline init`: columns that carry the label itself rather than what predicts
 * it (another answer the same person gave in the same questionnaire, a recoding of the label, a
 * comfort index reported next to it). A model trained with them looks excellent and cannot be
 * used: at prediction time the answer does not exist yet.
 *
 * Two signals. **Measured**: each candidate feature on its own, as a lookup table from its value
 * (numbers in quantile bins) to the label's class shares, fitted on some groups and scored on the
 * others. Its held-out information gain, 1 − cross-entropy / H(label), is the share of the label's
 * uncertainty that the one column removes on rows (buildings) it never saw. Held out by group
 * because a building-level column (a city, a latitude) can memorise the buildings it was fitted
 * on; that is not predictive power, and in-sample measures (Cramér's V, plug-in mutual
 * information) reward it. **Named**: a column named like another response of the same person
 * (`*_preference`, `*_acceptability`, `*comfort*`, votes), like a comfort index computed for
 * comparison (`pmv`, `ppd`), or like the label itself. Measurement catches a leak whatever it is
 * called; names catch the responses whose association is no larger than an honest input's (on
 * ASHRAE DB II thermal_acceptability gains 0.044, air temperature 0.047), which no threshold on
 * association can separate.
 */

/**
 * A column that alone removes at least half of the label's uncertainty on held-out groups is
 * close to a copy of it. On ASHRAE DB II the best honest input removes 0.05–0.09, the other vote
 * thermal_preference 0.29; on the project's generator (whose label is PMV plus noise) air
 * temperature 0.09 and PMV itself 0.21.
 */
export const NEAR_COPY_GAIN = 0.5;
/**
 * Far above what the rest reach: at least DOMINANT_RATIO times the gain of the next column and at
 * least DOMINANT_MIN_GAIN. 0.15 is above every honest single input measured on DB II and the
 * generator (at most 0.09); the ratio 3 sits between the generator's PMV (2.3× air temperature,
 * a function of the inputs rather than another vote) and DB II's thermal_preference (5.4× the best
 * other feature).
 */
export const DOMINANT_MIN_GAIN = 0.15;
export const DOMINANT_RATIO = 4;
/**
 * "The rest" must carry information for "far above the rest" to mean anything: the column a
 * dominant one is compared with must remove at least this share of the label's uncertainty.
 * Without the floor a lone informative input among columns of noise (held-out gain at or below 0)
 * would look dominant; that case is left to the names and to review.
 */
export const REST_MIN_GAIN = 0.02;
/** Held-out folds: groups (or rows when there are no groups) are dealt into this many folds. */
const FOLDS = 5;
/** Numeric columns are binned at their deciles for the lookup. */
const NUMERIC_BINS = 10;
/** Fewer rows with both the column and the label present than this, and nothing is measured. */
const MIN_MEASURED_ROWS = 50;
/** Pseudo-count of the shrinkage of a bin's class shares towards the training fold's shares. */
const SHRINKAGE = 1;

/** Name tokens of another response of the same person at the same time (comfort-survey vocabulary). */
const RESPONSE_TOKENS = new Set(["preference", "acceptability", "acceptable", "comfort", "satisfaction", "sensation", "vote", "tsv", "tpv", "tcv", "tav"]);
/** Name tokens of comfort indices reported next to the vote (ISO 7730): a baseline to compare with, not an input. */
const INDEX_TOKENS = new Set(["pmv", "ppd"]);
/**
 * Comfort indices whose short names are common words (`set`: standard effective temperature), so
 * they count only as the whole name, optionally with a method suffix (`set_ce`): a `thermostat_set`
 * or `set_point` column is an input, not an index.
 */
const WHOLE_NAME_INDICES = new Set(["set", "setce", "et", "etstar"]);

export type LeakageRule = "near_copy" | "dominant" | "name";

export interface LeakageMeasure {
  column: string;
  /** Rows where both the column and the label are present (what the measures below are over). */
  rows: number;
  /** Held-out normalised information gain of the one-column lookup; null when too few rows. */
  gain: number | null;
  /** Held-out accuracy of the lookup's most likely class, and of always answering the majority class. */
  accuracy: number | null;
  majority: number | null;
}

export interface LeakageVerdict extends LeakageMeasure {
  flagged: boolean;
  rules: LeakageRule[];
  /** Name hint: the token or the label name the column's name matched. */
  nameHint: string | null;
  /** dominant: the column it was compared with (the next by gain among those not named like a leak). */
  comparedWith: { column: string; gain: number } | null;
}

export interface LeakageAssessment {
  /** How the rows were held out: by the group key, or by row when there is none. */
  heldOut: "groups" | "rows";
  folds: number;
  labelClasses: string[];
  verdicts: LeakageVerdict[];
}

export interface LeakageInput {
  /** Every column as read, as text (pipeline/init/infer.ts reads them so). */
  columns: ReadonlyMap<string, CategoryColumn>;
  rows: number;
  label: string;
  binning: LabelBinning;
  /** Candidate features and whether each is numeric. */
  candidates: { name: string; numeric: boolean }[];
  group: string[];
  seed: number;
}

export function assessLeakage(input: LeakageInput): LeakageAssessment {
  const labelColumn = input.columns.get(input.label);
  if (!labelColumn) throw new Error(`label column "${input.label}" was not read`);
  const { classOf, classes } = labelClasses(labelColumn, input.binning);
  const labelled: number[] = [];
  for (let r = 0; r < input.rows; r++) if (classOf[r]! >= 0) labelled.push(r);
  const { foldOf, folds, heldOut } = assignFolds(input, labelled, classOf);
  const measures = input.candidates.map((c) => measureColumn(c.name, binColumn(input.columns.get(c.name)!, c.numeric), classOf, classes.length, foldOf, folds));
  return { heldOut, folds, labelClasses: classes, verdicts: judge(measures, input.label) };
}

/** Class index per row (-1 = no label), with the classes in binning order. */
function labelClasses(column: CategoryColumn, binning: LabelBinning): { classOf: Int32Array; classes: string[] } {
  const classes: string[] = [];
  const index = new Map<string, number>();
  if (binning.kind !== "categorical" || binning.classes) {
    const listed = binning.kind === "categorical" ? binning.classes! : binning.classes;
    listed.forEach((c, i) => index.set(c, i));
    classes.push(...listed);
  }
  const perCategory = column.categories.map((text) => {
    if (MISSING_TOKENS.has(text.trim())) return -1;
    const value = binning.kind === "categorical" ? text : parseNumberText(text);
    const cls = binLabelValue(value, binning);
    if (cls === null) return -1;
    let i = index.get(cls);
    if (i === undefined) {
      i = classes.length;
      classes.push(cls);
      index.set(cls, i);
    }
    return i;
  });
  const classOf = Int32Array.from(column.codes, (code) => (code < 0 ? -1 : perCategory[code]!));
  return { classOf, classes };
}

/**
 * Fold per labelled row (-1 = not labelled). By group when there is a group key with at least two
 * groups: rows of one building are alike, and a lookup scored on buildings it was fitted on
 * measures memory, not prediction. A row missing part of the key is a group of its own, as in splits.
 */
function assignFolds(input: LeakageInput, labelled: number[], classOf: Int32Array): { foldOf: Int32Array; folds: number; heldOut: "groups" | "rows" } {
  const foldOf = new Int32Array(input.rows).fill(-1);
  let groups: Int32Array | undefined;
  if (input.group.length > 0) {
    const parts = input.group.map((g) => input.columns.get(g)!);
    const ids = new Map<string, number>();
    groups = new Int32Array(labelled.length);
    let next = 0;
    labelled.forEach((r, i) => {
      const codes = parts.map((p) => p.codes[r]!);
      if (codes.some((c, j) => c < 0 || MISSING_TOKENS.has(parts[j]!.categories[c]!.trim()))) {
        groups![i] = next++;
        return;
      }
      const key = codes.join("\u0000");
      let id = ids.get(key);
      if (id === undefined) ids.set(key, (id = next++));
      groups![i] = id;
    });
    if (next < 2) groups = undefined;
    else if (next < FOLDS) return deal(foldOf, labelled, kFold(labelled.length, next, { seed: input.seed, groups }), "groups");
  }
  if (labelled.length < FOLDS) return { foldOf, folds: 0, heldOut: groups ? "groups" : "rows" };
  const splits = kFold(labelled.length, FOLDS, groups ? { seed: input.seed, groups } : { seed: input.seed, stratify: Int32Array.from(labelled, (r) => classOf[r]!) });
  return deal(foldOf, labelled, splits, groups ? "groups" : "rows");
}

function deal(foldOf: Int32Array, labelled: number[], splits: { test: Int32Array }[], heldOut: "groups" | "rows") {
  splits.forEach((s, f) => {
    for (const i of s.test) foldOf[labelled[i]!] = f;
  });
  return { foldOf, folds: splits.length, heldOut };
}

/** Bin per row (-1 = missing): a category's code, or a number's decile. Bins are cut without the label. */
function binColumn(column: CategoryColumn, numeric: boolean): { bins: Int32Array; count: number } {
  const present = column.categories.map((t) => !MISSING_TOKENS.has(t.trim()) && t.trim() !== "");
  if (!numeric) {
    return { bins: Int32Array.from(column.codes, (c) => (c >= 0 && present[c] ? c : -1)), count: column.categories.length };
  }
  const values = column.categories.map((t, i) => (present[i] ? parseNumberText(t) : NaN));
  const rowsPer = new Float64Array(values.length);
  for (const c of column.codes) if (c >= 0) rowsPer[c]!++;
  const order = values.map((_, i) => i).filter((i) => Number.isFinite(values[i]!) && rowsPer[i]! > 0).sort((a, b) => values[a]! - values[b]!);
  const total = order.reduce((a, i) => a + rowsPer[i]!, 0);
  // Cut points at the deciles of the rows' values; tied deciles merge, so a column of few values
  // gets one bin per value, which is what a lookup on it should see.
  const binOfCategory = new Int32Array(values.length).fill(-1);
  let bin = 0;
  let seen = 0;
  let nextCut = total / NUMERIC_BINS;
  for (const i of order) {
    if (seen >= nextCut && seen > 0) {
      bin++;
      while (nextCut <= seen) nextCut += total / NUMERIC_BINS;
    }
    binOfCategory[i] = bin;
    seen += rowsPer[i]!;
  }
  return { bins: Int32Array.from(column.codes, (c) => (c >= 0 ? binOfCategory[c]! : -1)), count: bin + 1 };
}

function measureColumn(name: string, x: { bins: Int32Array; count: number }, classOf: Int32Array, k: number, foldOf: Int32Array, folds: number): LeakageMeasure {
  const rowsByFold: number[][] = Array.from({ length: folds }, () => []);
  let rows = 0;
  for (let r = 0; r < classOf.length; r++) {
    if (classOf[r]! < 0 || x.bins[r]! < 0 || foldOf[r]! < 0) continue;
    rowsByFold[foldOf[r]!]!.push(r);
    rows++;
  }
  if (rows < MIN_MEASURED_ROWS || folds < 2) return { column: name, rows, gain: null, accuracy: null, majority: null };
  const overall = new Float64Array(k);
  const table = new Float64Array(x.count * k);
  const fold = (f: number, sign: 1 | -1) => {
    for (const r of rowsByFold[f]!) {
      table[x.bins[r]! * k + classOf[r]!]! += sign;
      overall[classOf[r]!]! += sign;
    }
  };
  for (let f = 0; f < folds; f++) fold(f, 1);
  const totals = Float64Array.from(overall);
  let crossEntropy = 0;
  let correct = 0;
  let majorityCorrect = 0;
  const prior = new Float64Array(k);
  for (let f = 0; f < folds; f++) {
    // Fit on the other folds: take this fold's rows out of the counts, score them, put them back.
    fold(f, -1);
    const trainRows = overall.reduce((a, b) => a + b, 0);
    let majorityClass = 0;
    for (let c = 0; c < k; c++) {
      // A class the training folds never saw still gets a little mass (add-one on the prior).
      prior[c] = (overall[c]! + 1) / (trainRows + k);
      if (overall[c]! > overall[majorityClass]!) majorityClass = c;
    }
    for (const r of rowsByFold[f]!) {
      const b = x.bins[r]! * k;
      let inBin = 0;
      for (let c = 0; c < k; c++) inBin += table[b + c]!;
      let best = 0;
      let bestShare = -1;
      for (let c = 0; c < k; c++) {
        const share = (table[b + c]! + SHRINKAGE * prior[c]!) / (inBin + SHRINKAGE);
        if (share > bestShare) [best, bestShare] = [c, share];
      }
      const y = classOf[r]!;
      crossEntropy -= Math.log((table[b + y]! + SHRINKAGE * prior[y]!) / (inBin + SHRINKAGE));
      if (best === y) correct++;
      if (majorityClass === y) majorityCorrect++;
    }
    fold(f, 1);
  }
  let entropy = 0;
  for (let c = 0; c < k; c++) if (totals[c]! > 0) entropy -= (totals[c]! / rows) * Math.log(totals[c]! / rows);
  const gain = entropy > 0 ? 1 - crossEntropy / rows / entropy : 0;
  return { column: name, rows, gain, accuracy: correct / rows, majority: majorityCorrect / rows };
}

/** Lower-case words of a column name: snake, kebab, spaces, camelCase and digits all split. */
function nameTokens(name: string): string[] {
  return name
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter((t) => t !== "");
}

/** Why a column's name suggests a leak, or null. */
export function leakageNameHint(column: string, label: string): string | null {
  const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
  const c = squash(column);
  const l = squash(label);
  if (l.length >= 3 && c.includes(l)) return `contains the label's name (${label})`;
  if (WHOLE_NAME_INDICES.has(c)) return `named like a comfort index computed from the inputs ("${column}")`;
  for (const t of nameTokens(column)) {
    if (RESPONSE_TOKENS.has(t)) return `named like another response of the same person ("${t}")`;
    if (INDEX_TOKENS.has(t)) return `named like a comfort index reported with the vote ("${t}")`;
  }
  return null;
}

function judge(measures: LeakageMeasure[], label: string): LeakageVerdict[] {
  const verdicts: LeakageVerdict[] = measures.map((m) => {
    const nameHint = leakageNameHint(m.column, label);
    const rules: LeakageRule[] = [];
    if (nameHint) rules.push("name");
    if (m.gain !== null && m.gain >= NEAR_COPY_GAIN) rules.push("near_copy");
    return { ...m, nameHint, rules, flagged: false, comparedWith: null };
  });
  // Dominant: among measured columns not named like a leak (a suspect is no yardstick), sorted
  // by gain, the last gap where a column reaches DOMINANT_MIN_GAIN and DOMINANT_RATIO times the
  // next one, and the next one is informative itself (REST_MIN_GAIN). The columns above the gap
  // are far above the rest; the first below it is the yardstick they are reported against.
  const ranked = verdicts.filter((v) => v.gain !== null && v.nameHint === null).sort((a, b) => b.gain! - a.gain!);
  let cut = -1;
  for (let i = 0; i + 1 < ranked.length; i++) {
    const gain = ranked[i]!.gain!;
    const next = ranked[i + 1]!.gain!;
    if (next >= REST_MIN_GAIN && gain >= DOMINANT_MIN_GAIN && gain >= DOMINANT_RATIO * next) cut = i;
  }
  const yardstick = ranked[cut + 1];
  const above = (v: LeakageVerdict) =>
    yardstick !== undefined && yardstick.gain! >= REST_MIN_GAIN && v.gain !== null && v.gain >= DOMINANT_MIN_GAIN && v.gain >= DOMINANT_RATIO * yardstick.gain!;
  // Columns named like a leak are judged against the same yardstick, so the report says whether
  // the measurement alone would have caught them too.
  for (const v of [...ranked.slice(0, cut + 1), ...verdicts.filter((v) => v.nameHint !== null && above(v))]) {
    v.rules.push("dominant");
    v.comparedWith = yardstick ? { column: yardstick.column, gain: yardstick.gain! } : null;
  }
  for (const v of verdicts) v.flagged = v.rules.length > 0;
  return verdicts;
}

function pct(x: number): string {
  return `${Math.round(100 * x)}%`;
}

/** Three decimals; a gain that rounds to zero prints as 0.000, not -0.000. */
export function gainText(g: number): string {
  return (Math.abs(g) < 0.0005 ? 0 : g).toFixed(3);
}

/** One line on what was measured for a column (for the config's comments and the warning). */
export function describeMeasure(v: LeakageMeasure, heldOut: "groups" | "rows"): string {
  if (v.gain === null) return `not measured (${v.rows} rows with both it and the label)`;
  const where = heldOut === "groups" ? "held-out groups" : "held-out rows";
  return `alone predicts the label with ${pct(v.accuracy!)} accuracy on ${where} (majority class ${pct(v.majority!)}), information gain ${gainText(v.gain)}`;
}

/** Why a verdict flagged its column: the rules that fired, with their thresholds. */
export function describeVerdict(v: LeakageVerdict, heldOut: "groups" | "rows"): string {
  const why: string[] = [];
  if (v.rules.includes("near_copy")) why.push(`gain >= ${NEAR_COPY_GAIN}: nearly a copy of the label`);
  if (v.rules.includes("dominant")) {
    const c = v.comparedWith!;
    why.push(`far above the rest: ${(v.gain! / c.gain).toFixed(1)}x the best other feature (${c.column}, ${gainText(c.gain)}); rule: gain >= ${DOMINANT_MIN_GAIN} and >= ${DOMINANT_RATIO}x the best of the rest`);
  }
  if (v.nameHint) why.push(v.nameHint);
  return `${describeMeasure(v, heldOut)}; ${why.join("; ")}`;
}
