import { basename, dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../config/load.js";
import type { LabelBinning, PipelineConfig } from "../config/schema.js";
import { writeFileAtomic } from "../core/atomic.js";
import { UsageError } from "../core/errors.js";
import { inferDataset, type Inference, type InferredColumn } from "./infer.js";
import { assessLeakage, describeVerdict, gainText, type LeakageAssessment, type LeakageVerdict } from "./leakage.js";

/**
 * `pipeline init`: a complete, commented config for a new dataset, inferred from the file. Each
 * inferred value carries a comment saying what it was inferred from, so the person who reviews
 * the file knows which lines are facts about the data and which are the project's defaults.
 */

export interface InitInput {
  dataPath: string;
  label: string;
  group?: string[];
  /** Columns to keep as features although init flags them as likely label leakage (--keep-feature). */
  keepFeatures?: string[];
  /** Where the config will be written (dataset.path is written relative to its directory); null = stdout. */
  outPath: string | null;
  /** Working directory (paths on the command line resolve from it). */
  root: string;
}

export interface InitResult {
  text: string;
  config: PipelineConfig;
  inference: Inference;
  leakage: LeakageAssessment;
  /** For the person running init: each column left out as likely leakage, and overrides that did nothing. */
  warnings: string[];
}

/** A category column with more distinct values than this is an open set (ids, cities), not a list. */
const MAX_LISTED_CATEGORIES = 50;
/** A feature may miss at most this share of its values; a column missing more is left out of the features. */
const MAX_FEATURE_MISSING = 0.5;
/** A column with at least this many distinct values per non-missing row identifies records. */
const NEAR_UNIQUE = 0.95;
/** Robust ranges: the 0.1%..99.9% span of the values, widened by this share of it on each side. */
const RANGE_MARGIN = 0.25;
/** Seed of the held-out folds of the leakage measurement: the written config's split seed. */
const SPLIT_SEED = 42;

export async function initConfig(input: InitInput): Promise<InitResult> {
  const dataAbs = resolve(input.root, input.dataPath);
  const inference = await inferDataset(dataAbs);
  const byName = new Map(inference.columns.map((c) => [c.name, c]));
  const label = byName.get(input.label);
  if (!label) throw new UsageError(`--label: "${input.label}" is not a column of ${input.dataPath} (columns: ${[...byName.keys()].join(", ")})`);
  const group = input.group ?? [];
  for (const g of group) if (!byName.has(g)) throw new UsageError(`--group: "${g}" is not a column of ${input.dataPath}`);
  const keepFeatures = input.keepFeatures ?? [];
  for (const k of keepFeatures) if (!byName.has(k)) throw new UsageError(`--keep-feature: "${k}" is not a column of ${input.dataPath}`);
  const outDir = input.outPath ? dirname(resolve(input.root, input.outPath)) : input.root;
  const { text, leakage, warnings } = renderConfig(inference, label, group, { dataPath: relativePath(outDir, dataAbs), file: basename(input.dataPath), keepFeatures });
  const raw = parseYaml(text) as unknown;
  // The file must load exactly as written: a config init cannot parse is a bug here, not the user's.
  const config = parseConfig(raw, input.outPath ?? "<pipeline init>");
  if (input.outPath) await writeFileAtomic(resolve(input.root, input.outPath), text);
  return { text, config, inference, leakage, warnings };
}

function relativePath(from: string, to: string): string {
  const rel = relative(from, to);
  return (rel === "" || isAbsolute(rel) ? to : rel).split(sep).join("/");
}

/** YAML-safe scalar: plain names stay plain, everything else is JSON-quoted (JSON is YAML). */
function q(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.\- ]*$/.test(s) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(s) && !s.endsWith(" ") ? s : JSON.stringify(s);
}

function num(x: number): string {
  return String(Number(x.toPrecision(6)));
}

/** Round a bound outwards to a step of about 1/100 of the span, so ranges read like a person wrote them. */
function roundOut(x: number, span: number, down: boolean): number {
  const step = 10 ** Math.floor(Math.log10(Math.max(span, 1e-9) / 100));
  return (down ? Math.floor(x / step) : Math.ceil(x / step)) * step;
}

function robustRange(c: InferredColumn): [number, number] {
  const lo0 = c.q001!;
  const hi0 = c.q999!;
  const span = hi0 - lo0 > 0 ? hi0 - lo0 : Math.max(Math.abs(hi0), 1);
  let lo = lo0 - RANGE_MARGIN * span;
  const hi = hi0 + RANGE_MARGIN * span;
  // Non-negative quantities (speeds, counts, shares) stay non-negative.
  if (c.min! >= 0) lo = Math.max(0, lo);
  return [roundOut(lo, span, true), roundOut(hi, span, false)];
}

function share(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function suggestBinning(label: InferredColumn): { yaml: string; binning: LabelBinning; why: string } {
  if (label.type === "number") {
    if (label.min! >= -3 && label.max! <= 3 && label.min! < 0 && label.max! > 0) {
      return {
        yaml: "{ kind: three_class, cool_below: -0.5, warm_above: 0.5, classes: [cool, neutral, warm] }",
        binning: { kind: "three_class", cool_below: -0.5, warm_above: 0.5, classes: ["cool", "neutral", "warm"] },
        why: `values in [${num(label.min!)}, ${num(label.max!)}]: a symmetric scale around 0 such as the ASHRAE 7-point vote, binned into below -0.5 / -0.5..0.5 / above 0.5`,
      };
    }
    const coolBelow = Number(num(label.q001! + (label.q999! - label.q001!) / 3));
    const warmAbove = Number(num(label.q001! + (2 * (label.q999! - label.q001!)) / 3));
    return {
      yaml: `{ kind: three_class, cool_below: ${num(coolBelow)}, warm_above: ${num(warmAbove)}, classes: [low, medium, high] }`,
      binning: { kind: "three_class", cool_below: coolBelow, warm_above: warmAbove, classes: ["low", "medium", "high"] },
      why: `numeric values in [${num(label.min!)}, ${num(label.max!)}]: three equal-width classes over the 0.1%..99.9% span; change the cut points to ones that mean something`,
    };
  }
  const values = (label.categories ?? []).map((c) => c.value);
  const classes = values.map(q);
  return { yaml: `{ kind: categorical, classes: [${classes.join(", ")}] }`, binning: { kind: "categorical", classes: values }, why: `${classes.length} distinct text values: each is a class` };
}

export function renderConfig(
  inf: Inference,
  label: InferredColumn,
  group: string[],
  opts: { dataPath: string; file: string; keepFeatures?: string[] },
): { text: string; leakage: LeakageAssessment; warnings: string[] } {
  const out: string[] = [];
  const groupSet = new Set(group);
  // Identifiers: integer or text columns with (nearly) one row per value. "Nearly": an id repeated by
  // a few exported-twice records is still an id, and declaring it keeps those copies detectable.
  const idLike = (c: InferredColumn) => (c.type === "category" || c.integral === true) && c.distinct >= 2 && c.distinct >= NEAR_UNIQUE * (c.rows - c.missing);
  const identifiers = inf.columns.filter((c) => idLike(c) && c.name !== label.name && !groupSet.has(c.name));
  const idSet = new Set(identifiers.map((c) => c.name));
  const skipped = inf.columns.filter((c) => c.rows - c.missing === 0 || (c.distinct <= 1 && c.name !== label.name));
  const skipSet = new Set(skipped.map((c) => c.name));
  const configured = inf.columns.filter((c) => !skipSet.has(c.name));
  const featureReasons: string[] = [];
  const candidates = configured.filter((c) => {
    if (c.name === label.name || groupSet.has(c.name) || idSet.has(c.name)) return false;
    if (c.type === "date") return false;
    const missingShare = c.missing / c.rows;
    if (missingShare > MAX_FEATURE_MISSING) {
      featureReasons.push(`${c.name} (${share(missingShare)} missing)`);
      return false;
    }
    if (c.type === "category" && c.distinct > MAX_LISTED_CATEGORIES) {
      featureReasons.push(`${c.name} (${c.distinct} distinct values: an open set)`);
      return false;
    }
    return true;
  });
  const binning = suggestBinning(label);
  // Label leakage: measured on the candidates (what would otherwise be features), on the label
  // classes the config bins into, held out by the --group key like the written split.
  const leakage = assessLeakage({
    columns: inf.text,
    rows: inf.rows,
    label: label.name,
    binning: binning.binning,
    candidates: candidates.map((c) => ({ name: c.name, numeric: c.type === "number" })),
    group,
    seed: SPLIT_SEED,
  });
  const keep = new Set(opts.keepFeatures ?? []);
  const verdictOf = new Map(leakage.verdicts.map((v) => [v.column, v]));
  const leaked = leakage.verdicts.filter((v) => v.flagged && !keep.has(v.column));
  const leakedSet = new Set(leaked.map((v) => v.column));
  const features = candidates.filter((c) => !leakedSet.has(c.name));
  const warnings: string[] = [];
  for (const v of leaked) warnings.push(`${opts.file}: "${v.column}" left out of the features as likely label leakage: ${describeVerdict(v, leakage.heldOut)} (keep it with --keep-feature ${v.column})`);
  for (const name of keep) {
    const v = verdictOf.get(name);
    if (v?.flagged) warnings.push(`${opts.file}: "${name}" kept as a feature by --keep-feature although it looks like label leakage: ${describeVerdict(v, leakage.heldOut)}`);
    else warnings.push(`--keep-feature ${name}: not flagged as label leakage, nothing to override (${v ? "it is a feature" : "it is not a feature candidate: the label, a group, an identifier, a date, an open set, mostly missing or a single value"})`);
  }
  if (features.length === 0) {
    throw new UsageError(
      `${opts.file}: no column is usable as a feature (every candidate is the label, a group, an identifier, a date, mostly missing${leaked.length ? ` or likely label leakage: ${leaked.map((v) => v.column).join(", ")}; --keep-feature COLUMN keeps one` : ""})`,
    );
  }
  const slug = opts.file.replace(/\.(csv|tsv|txt)(\.gz)?$/i, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "model";
  const name = /^[a-z0-9]/.test(slug) ? slug : `m-${slug}`;
  // A Cloud Run service name (the local target keeps the same rule): a letter first, at most 49 characters.
  const localService = `${(/^[a-z]/.test(name) ? name : `m-${name}`).slice(0, 43).replace(/-+$/, "")}-local`;
  const duplicateLimit = Math.max(0.05, Math.ceil((inf.duplicateShare + 0.01) * 100) / 100);

  out.push(
    `# Generated by \`pipeline init\` from ${opts.file} (${inf.rows} rows, ${inf.columns.length} columns).`,
    `# Every dataset value below was inferred from the file; the comments say from what. Sections`,
    `# after \`dataset\` are the project's defaults. Review before training, especially the features:`,
    `# init leaves out columns that look like label leakage (see the comment above \`features\`), but it`,
    `# cannot know every column that is measured together with the label.`,
    `# Relative paths resolve from this file's directory.`,
    "version: 1",
    "model:",
    `  name: ${name}`,
    "",
    "dataset:",
    `  path: ${q(opts.dataPath)}`,
    `  delimiter: ${JSON.stringify(inf.delimiter)}  # the most frequent separator in the header line`,
    "  # type: what every non-missing value parses as. range: the 0.1%..99.9% span of the values,",
    `  # widened by ${100 * RANGE_MARGIN}% of it on each side (never below 0 when no value is). categories: listed when a`,
    `  # column has at most ${MAX_LISTED_CATEGORIES} distinct values, in the file's spelling. required: no value missing in the file.`,
    "  columns:",
  );
  for (const c of configured) {
    const parts = [`type: ${c.type}`];
    const required = c.missing === 0 || c.name === label.name || groupSet.has(c.name);
    if (required) parts.push("required: true");
    let why = `${share(c.missing / c.rows)} missing, ${c.distinct} distinct`;
    if (c.type === "number" && !idSet.has(c.name) && !groupSet.has(c.name)) {
      const [lo, hi] = robustRange(c);
      parts.push(`range: [${num(lo)}, ${num(hi)}]`);
      why += `, values ${num(c.min!)}..${num(c.max!)}`;
    }
    if (c.type === "category") {
      if (c.distinct <= MAX_LISTED_CATEGORIES && !idSet.has(c.name)) parts.push(`categories: [${c.categories!.map((x) => q(x.value)).join(", ")}]`);
      if (groupSet.has(c.name) || idSet.has(c.name)) parts.push("normalize: false");
    }
    if (idSet.has(c.name)) why += c.unique ? ", every value distinct: an identifier" : ", nearly every value distinct: an identifier";
    const verdict = verdictOf.get(c.name);
    if (verdict?.flagged) why += leakedSet.has(c.name) ? "; not a feature: likely label leakage (see features)" : "; looks like label leakage, kept by --keep-feature (see features)";
    out.push(`    ${q(c.name)}: { ${parts.join(", ")} }  # ${why}`);
  }
  if (skipped.length > 0) out.push(`    # not configured (ignored when read): ${skipped.map((c) => `${c.name} (${c.rows - c.missing === 0 ? "all missing" : "a single value"})`).join(", ")}`);
  out.push(`  label:`, `    column: ${q(label.name)}`, `    # ${binning.why}`, `    binning: ${binning.yaml}`);
  out.push(`  # every configured column except the label, the group, identifiers, dates${featureReasons.length ? ` and: ${featureReasons.join(", ")}` : ""}`);
  out.push(...leakageComments(leakage, leaked, [...keep].map((k) => verdictOf.get(k)).filter((v): v is LeakageVerdict => v?.flagged === true), group));
  out.push(`  features: [${features.map((c) => q(c.name)).join(", ")}]`);
  if (group.length === 1) out.push(`  group: ${q(group[0]!)}  # --group: its rows stay together in splits and drift calibration`);
  else if (group.length > 1) out.push(`  # --group with several columns: a derived composite key (${group.join("+")}) keeps each combination together`, `  group: [${group.map(q).join(", ")}]`);
  out.push(`  # (nearly) every value distinct and not the label or a group: left out of duplicate detection, never a feature`);
  out.push(`  identifiers: [${identifiers.map((c) => q(c.name)).join(", ")}]`);
  out.push("  slices: []", "");
  out.push(
    "validation:",
    "  min_rows: 50",
    `  missing: { max_share: ${MAX_FEATURE_MISSING} }  # features missing more than this were left out above`,
    `  # ${share(inf.duplicateShare)} of rows repeat an earlier row (identifiers aside); the limit leaves one point above that`,
    `  duplicates: { max_share: ${num(duplicateLimit)} }`,
    "  outliers: { method: iqr, iqr_k: 3, max_share: 0.05 }",
    "  max_violation_share: 0.01",
    "  imbalance: { min_class_share: 0.02 }",
    "  min_score: 0.6",
    "",
    "# Project defaults from here on.",
    "drift: { numeric_method: psi, categorical_method: psi, psi_threshold: 0.2, max_drifted_share: 0.3 }",
    "preprocessing:",
    "  imputation: { numeric: median, categorical: mode }",
    "  outliers: { method: iqr, action: cap, iqr_k: 3 }",
    "  encoding: ordinal",
    `split: { method: ${group.length > 0 ? "group" : "stratified"}, test_share: 0.2, cv_folds: 3, seed: 42 }`,
    "training:",
    "  seed: 42",
    "  selection_metric: macro_f1",
    "  # A factor per class on its probability, tuned for macro-F1 on the CV's out-of-fold predictions (README: Decision weights)",
    "  tune_decision_weights: true",
    "  candidates:",
    "    - { name: tree-d10, algorithm: decision_tree, params: { max_depth: 10, min_samples_leaf: 5, class_weight: balanced } }",
    "    - { name: forest-balanced, algorithm: random_forest, params: { n_trees: 100, max_depth: 16, min_samples_leaf: 10, max_samples: 0.5, max_features: sqrt, class_weight: balanced } }",
    "    - { name: gbm-balanced, algorithm: gradient_boosting, params: { learning_rate: 0.1, max_iter: 300, max_leaf_nodes: 31, min_samples_leaf: 50, l2_regularization: 1, class_weight: balanced } }",
    "promotion:",
    "  gates:",
    "    absolute:",
    "      - { metric: macro_f1, threshold: 0.4 }",
    "    champion:",
    "      - { metric: macro_f1, min_absolute_change: -0.01 }",
    "# Where `pipeline run` deploys and smoke-tests (Cloud Run environments: README, Deploy to Cloud Run).",
    "environments:",
    `  local: { target: local, service: ${localService}, port: 8080 }`,
    "",
  );
  return { text: out.join("\n"), leakage, warnings };
}

/** Word-wrapped comment lines at the features' indentation. */
function commentLines(text: string, indent = "  # ", width = 110): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(indent + line);
  return lines;
}

/**
 * What the leakage measurement found, above `features`: every candidate's association with the
 * label (so a reviewer sees the ones that were kept too), then each column left out and why.
 */
function leakageComments(leakage: LeakageAssessment, leaked: LeakageVerdict[], kept: LeakageVerdict[], group: string[]): string[] {
  const by = leakage.heldOut === "groups" ? `${leakage.folds} folds by ${group.join("+")}` : `${leakage.folds} folds of rows (no --group)`;
  const measured = leakage.verdicts
    .filter((v) => v.gain !== null)
    .sort((a, b) => b.gain! - a.gain!)
    .map((v) => `${v.column} ${gainText(v.gain!)}`);
  const out = commentLines(
    `label leakage: each candidate alone, as a lookup from its value (deciles for numbers) to the label's classes, fitted and scored on held-out data (${by}); its information gain is the share of the label's uncertainty it removes: ${measured.join(", ") || "nothing measured"}.`,
  );
  if (leaked.length > 0) {
    out.push(...commentLines("left out as likely label leakage (another response, a copy or an index of the label; put one back here or run init with --keep-feature COLUMN):"));
    for (const v of leaked) out.push(...commentLines(`${v.column}: ${describeVerdict(v, leakage.heldOut)}`, "  #   "));
  }
  for (const v of kept) out.push(...commentLines(`${v.column}: kept by --keep-feature although ${describeVerdict(v, leakage.heldOut)}`, "  #   "));
  if (leaked.length === 0 && kept.length === 0) out.push(`  # no candidate looks like label leakage (the rules: README.md, "pipeline init")`);
  return out;
}
