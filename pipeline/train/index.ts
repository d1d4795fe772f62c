import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Candidate, PipelineConfig } from "../config/schema.js";
import { writeDirAtomic } from "../core/atomic.js";
import { sourceDateEpoch } from "../core/source-date.js";
import { InputError, UsageError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { readDataset } from "../data/csv.js";
import { binLabel } from "../data/label.js";
import { profileWithGroups } from "../data/profile-groups.js";
import { SCHEMA_VIOLATION_POLICY } from "../data/violations.js";
import { getColumn, takeRows, type Table } from "../data/table.js";
import { ARTIFACT_SCHEMA_VERSION, ModelArtifactSchema, type ModelArtifact, type TreeJson } from "../model/artifact-schema.js";
import { predictProbaTrees, treeCombine } from "../model/tree-eval.js";
import { serializeModel } from "../model/tree-codec.js";
import { modelContentHash } from "../model/identity.js";
import { fitBoosting } from "./boosting.js";
import { contractFeatures } from "../model/input-contract.js";
import type { FeatureMatrix } from "../model/transform.js";
import { fitForest } from "./forest.js";
import { featureGroups, impurityByFeature, permutationImportance } from "./importance.js";
import { chooseDecisionRule, tuneDecisionWeights, type ScoredFold } from "./decision-weights.js";
import { argmaxRows, classificationMetrics, selectionScore, sliceMetrics } from "./metrics.js";
import { featureSpecs, fitPreprocessing, transformTable } from "./preprocess.js";
import { MetricsReportSchema, renderTrainReport, type CandidateScore, type MetricsReport } from "./report.js";
import { groupIds, kFold, splitRows } from "./split.js";
import { writeSplitExport } from "./split-export.js";
import { fitTree } from "./tree.js";

/**
 * The train step: read → bin the label → split → cross-validate the candidates on the training part
 * → refit the best (or the one named) on the whole training part → evaluate on the test part →
 * write model.json, metrics.json and report.md. Deterministic: the same data, config, seed and
 * clock give a byte-identical model.json.
 */

export interface TrainInput {
  config: PipelineConfig;
  configSha256: string;
  /** Repository root: relative dataset and output paths resolve against it. */
  root: string;
  /** Overrides config.dataset.path. */
  dataPath?: string;
  /** Train only this candidate: its name or 1-based position in training.candidates. */
  candidate?: string;
  outDir: string;
  /** Also write the train and test row numbers here (`--export-split`, see split-export.ts). */
  exportSplitPath?: string;
  reporter: Reporter;
  gitSha?: string | null;
  now?: () => Date;
}

export interface TrainResult {
  model: ModelArtifact;
  metrics: MetricsReport;
  candidate: string;
  paths: { model: string; metrics: string; report: string };
}

export const TRAINER_NAME = "gitops-ml-trees";

let trainerVersion: string | undefined;

/** The project's version from the nearest package.json above this module (works from src and dist). */
export async function trainerId(): Promise<string> {
  if (trainerVersion === undefined) {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (;;) {
      try {
        const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as { version?: string };
        trainerVersion = pkg.version ?? "0.0.0";
        break;
      } catch {
        const parent = dirname(dir);
        if (parent === dir) {
          trainerVersion = "0.0.0";
          break;
        }
        dir = parent;
      }
    }
  }
  return `${TRAINER_NAME}@${trainerVersion}`;
}

/** Resolves `--candidate` (a name or a 1-based index); a bad one is a usage error listing the options. */
export function selectCandidates(candidates: Candidate[], wanted: string | undefined): Candidate[] {
  if (wanted === undefined) return candidates;
  const byName = candidates.find((c) => c.name === wanted);
  if (byName) return [byName];
  if (/^\d+$/.test(wanted)) {
    const i = Number(wanted);
    if (i >= 1 && i <= candidates.length) return [candidates[i - 1]!];
  }
  const list = candidates.map((c, i) => `${i + 1} ${c.name}`).join(", ");
  throw new UsageError(`--candidate "${wanted}": no such candidate; available: ${list}`);
}

/** Fits one candidate; a single decision tree is a one-tree ensemble in the artifact. `onProgress` counts trees or boosting iterations. */
export async function fitCandidate(
  candidate: Candidate,
  X: FeatureMatrix,
  y: Int32Array,
  classes: string[],
  seed: number,
  groups?: Int32Array,
  onProgress?: (done: number, total: number, unit: string) => void,
): Promise<TreeJson[]> {
  if (candidate.algorithm === "decision_tree") return [fitTree(X, y, classes.length, candidate.params, { seed, classNames: classes })];
  // Boosting's early-stopping rows are whole groups when the data has groups (the rows' group ids).
  if (candidate.algorithm === "gradient_boosting") {
    return (await fitBoosting(X, y, classes.length, candidate.params, { seed, classNames: classes, groups, onIteration: onProgress && ((d, t) => onProgress(d, t, "iterations")) })).trees;
  }
  return fitForest(X, y, classes.length, candidate.params, { seed, classNames: classes, onTree: onProgress && ((d, t) => onProgress(d, t, "trees")) });
}

/** Progress of one fit through the reporter: a redrawn line on a terminal, one line per fit elsewhere. */
function fitProgress(reporter: Reporter, label: string): (done: number, total: number, unit: string) => void {
  return (done, total, unit) => reporter.progress?.({ label, done, total, unit });
}

/**
 * Shortens the trees for model.json: leaf probabilities rounded to 1e-4 and weighted node counts
 * (used only for importance) to 4 significant digits; thresholds stay exact, they decide the path.
 * A forest's artifact shrinks by about a third; a served probability moves by at most 5e-5. The step
 * evaluates the compacted trees, so the reported metrics describe exactly what is served.
 */
export function compactTrees(trees: TreeJson[], algorithm: Candidate["algorithm"] = "random_forest"): TreeJson[] {
  // Boosting leaves are raw scores summed over hundreds of trees: they stay exact.
  const round = algorithm !== "gradient_boosting";
  return trees.map((t) => ({
    ...t,
    value: round ? t.value.map((v) => (v ? v.map((p) => Math.round(p * 1e4) / 1e4) : null)) : t.value,
    n: t.n.map((x) => Number(x.toPrecision(4))),
  }));
}

/** Training rows without exact duplicates (same feature values and label); the first occurrence stays. */
export function dropDuplicateRows(table: Table, columns: string[], labels: Int32Array, rows: Int32Array): Int32Array {
  const cols = columns.map((c) => getColumn(table, c));
  const seen = new Set<string>();
  const kept: number[] = [];
  for (const r of rows) {
    const key = cols.map((c) => (c.kind === "category" ? c.codes[r] : c.missing[r] ? "" : c.values[r])).join("\u0001") + "\u0002" + labels[r];
    if (seen.has(key)) continue;
    seen.add(key);
    kept.push(r);
  }
  return Int32Array.from(kept);
}

/** As written in the config or on the command line; an absolute path inside the root becomes relative. */
function lineagePath(path: string, root: string): string {
  const rel = isAbsolute(path) ? relative(root, path) : path;
  const inside = !isAbsolute(path) || (rel !== "" && !rel.startsWith("..") && !isAbsolute(rel));
  return (inside ? rel : path).split(sep).join("/");
}

interface Prepared {
  X: FeatureMatrix;
  y: Int32Array;
}

/** The matrix without its last `derived` columns: the derived physics features, which follow the encoded inputs. */
export function withoutDerived(X: FeatureMatrix, derived: number): FeatureMatrix {
  return { rows: X.rows, features: X.features.slice(0, X.features.length - derived), names: X.names.slice(0, X.names.length - derived) };
}

function meanStd(scores: number[]): { mean: number; std: number } {
  const mean = scores.reduce((s, x) => s + x, 0) / scores.length;
  return { mean, std: Math.sqrt(scores.reduce((s, x) => s + (x - mean) ** 2, 0) / scores.length) };
}

/** Fits preprocessing on `trainRows` and encodes train (training mode) and evaluation rows (serving mode). */
function prepare(table: Table, labels: Int32Array, config: PipelineConfig, trainRows: Int32Array, evalRows: Int32Array) {
  const params = fitPreprocessing(table, config, trainRows);
  const specs = featureSpecs(table, config.dataset, params, trainRows);
  const train = transformTable(table, params, specs, { rows: trainRows, mode: "train", orderBy: config.preprocessing.imputation.order_by });
  const evaluation = transformTable(table, params, specs, { rows: evalRows });
  const take = (rows: Int32Array) => Int32Array.from(rows, (r) => labels[r]!);
  return {
    params,
    specs,
    train: { X: train.matrix, y: take(train.rows) } satisfies Prepared,
    trainRows: train.rows,
    evaluation: { X: evaluation.matrix, y: take(evaluation.rows) } satisfies Prepared,
  };
}

export async function train(input: TrainInput): Promise<TrainResult> {
  const { config, reporter } = input;
  // SOURCE_DATE_EPOCH pins lineage.created_at (reproducible builds); the CLI passes the commit time otherwise.
  const pinned = sourceDateEpoch();
  const now = input.now ?? (pinned ? () => pinned : () => new Date());
  const dataset = config.dataset;
  const selected = selectCandidates(config.training.candidates, input.candidate);
  const metric = config.training.selection_metric;
  const seed = config.training.seed;

  const dataAbs = resolve(input.root, input.dataPath ?? dataset.path);
  reporter.info(`train: reading ${dataAbs}`);
  const read = await readDataset(dataAbs, dataset);
  if (read.violationCount > 0) reporter.warning(`${read.violationCount} schema violations in ${dataAbs} (run validate-data for details); training continues: ${SCHEMA_VIOLATION_POLICY}`);

  // Rows without a label cannot be learnt from or scored.
  const binned = binLabel(read.table, dataset);
  const labelled: number[] = [];
  for (let i = 0; i < binned.codes.length; i++) if (binned.codes[i]! >= 0) labelled.push(i);
  const dropped = read.table.rowCount - labelled.length;
  if (dropped > 0) reporter.info(`train: ${dropped} rows without a label value are left out`);
  const table = dropped > 0 ? takeRows(read.table, labelled) : read.table;
  const labels = dropped > 0 ? Int32Array.from(labelled, (r) => binned.codes[r]!) : binned.codes;
  const classes = binned.classes;
  if (table.rowCount < 10) throw new InputError(`${dataAbs}: ${table.rowCount} labelled rows; training needs at least 10`);
  const present = new Set(labels);
  if (present.size < 2) throw new InputError(`${dataAbs}: the label "${dataset.label.column}" has only one class after binning (${classes[labels[0]!]}); nothing to learn`);

  const split = splitRows(table, labels, config.split, dataset);
  let trainRows = split.train;
  if (config.preprocessing.drop_duplicates) {
    const before = trainRows.length;
    trainRows = dropDuplicateRows(table, dataset.features, labels, trainRows);
    if (before !== trainRows.length) reporter.info(`train: ${before - trainRows.length} duplicate training rows dropped`);
  }
  if (trainRows.length === 0 || split.test.length === 0) throw new InputError(`${dataAbs}: the ${config.split.method} split left ${trainRows.length} training and ${split.test.length} test rows`);
  reporter.info(`train: ${config.split.method} split: ${trainRows.length} training rows, ${split.test.length} test rows`);

  // Cross-validation on the training part, grouped when the data has groups. Preprocessing is refit
  // per fold so that no statistic of a validation fold leaks into its model.
  const groupColumn = dataset.group ? table.columns.get(dataset.group) : undefined;
  const foldGroups = groupColumn ? groupIds(groupColumn, table.rowCount).ids : undefined;
  const folds = kFold(trainRows.length, config.split.cv_folds, {
    seed: config.split.seed,
    groups: foldGroups ? Int32Array.from(trainRows, (r) => foldGroups[r]!) : undefined,
    stratify: Int32Array.from(trainRows, (r) => labels[r]!),
  });
  const prepared = folds.map((f) => prepare(table, labels, config, Int32Array.from(f.train, (i) => trainRows[i]!), Int32Array.from(f.test, (i) => trainRows[i]!)));

  // With physics features declared, each candidate is also cross-validated without them (same folds,
  // same preprocessing), so the report says what they add.
  const derivedNames = prepared[0]?.params.physics?.features.map((f) => f.name) ?? [];
  const compareWithout = derivedNames.length > 0 && (dataset.physics?.compare_without ?? false);
  const cv: CandidateScore[] = [];
  const tuneDecision = config.training.tune_decision_weights;
  /** Out-of-fold predictions per candidate (cv order), what decision weights are tuned on. */
  const outOfFold: ScoredFold[][] = [];
  const decisionRules: ("tuned" | "argmax")[] = [];
  for (const candidate of selected) {
    const argmaxScores: number[] = [];
    const folds: ScoredFold[] = [];
    const started = performance.now();
    for (const [i, p] of prepared.entries()) {
      const trees = await fitCandidate(candidate, p.train.X, p.train.y, classes, seed, foldGroups && Int32Array.from(p.trainRows, (r) => foldGroups[r]!), fitProgress(reporter, `train: ${candidate.name} fold ${i + 1}/${prepared.length}`));
      reporter.progressEnd?.();
      const proba = predictProbaTrees(trees, p.evaluation.X, classes.length, treeCombine(candidate.algorithm));
      folds.push({ proba, y: p.evaluation.y });
      argmaxScores.push(selectionScore(metric, p.evaluation.y, argmaxRows(proba, classes.length), classes.length));
      reporter.info(`train: ${candidate.name} fold ${i + 1}/${prepared.length}: ${metric} ${argmaxScores[i]!.toFixed(4)}`);
    }
    outOfFold.push(folds);
    const decision = tuneDecision ? chooseDecisionRule(folds, classes.length, metric) : null;
    decisionRules.push(decision?.rule ?? "argmax");
    const scores = decision ? decision.scores : argmaxScores;
    const { mean, std } = meanStd(scores);
    if (decision) reporter.info(`train: ${candidate.name}: CV ${metric} ${meanStd(decision.tuned).mean.toFixed(4)} with tuned decision weights, ${meanStd(decision.argmax).mean.toFixed(4)} with argmax: keeps ${decision.rule === "tuned" ? "the tuned weights" : "argmax"}`);
    const fitSeconds = (performance.now() - started) / 1000;
    let withoutPhysics: CandidateScore["without_physics"];
    if (compareWithout) {
      const withoutFolds: ScoredFold[] = [];
      for (const [i, p] of prepared.entries()) {
        const trees = await fitCandidate(candidate, withoutDerived(p.train.X, derivedNames.length), p.train.y, classes, seed, foldGroups && Int32Array.from(p.trainRows, (r) => foldGroups[r]!), fitProgress(reporter, `train: ${candidate.name} fold ${i + 1}/${prepared.length} without physics features`));
        reporter.progressEnd?.();
        withoutFolds.push({ proba: predictProbaTrees(trees, withoutDerived(p.evaluation.X, derivedNames.length), classes.length, treeCombine(candidate.algorithm)), y: p.evaluation.y });
      }
      // Like with like: the same choice of decision rule as with the physics features.
      const without = tuneDecision ? chooseDecisionRule(withoutFolds, classes.length, metric).scores : withoutFolds.map((f) => selectionScore(metric, f.y, argmaxRows(f.proba, classes.length), classes.length));
      withoutPhysics = { folds: without, ...meanStd(without) };
      reporter.info(`train: ${candidate.name}: CV ${metric} ${mean.toFixed(4)} with ${derivedNames.join(", ")}, ${withoutPhysics.mean.toFixed(4)} without`);
    }
    cv.push({
      candidate: candidate.name,
      algorithm: candidate.algorithm,
      metric,
      folds: scores,
      mean,
      std,
      fit_seconds: fitSeconds,
      ...(withoutPhysics ? { without_physics: withoutPhysics } : {}),
      ...(decision ? { decision_rule: decision.rule, argmax: { folds: decision.argmax, ...meanStd(decision.argmax) }, tuned: { folds: decision.tuned, ...meanStd(decision.tuned) } } : {}),
    });
  }
  // Ties keep the config's order: the first listed candidate wins.
  let best = 0;
  for (let i = 1; i < cv.length; i++) if (cv[i]!.mean > cv[best]!.mean) best = i;
  const chosen = selected[best]!;
  reporter.info(`train: selected ${chosen.name} (CV ${metric} ${cv[best]!.mean.toFixed(4)})`);

  const final = prepare(table, labels, config, trainRows, split.test);
  const combine = treeCombine(chosen.algorithm);
  const trees = compactTrees(await fitCandidate(chosen, final.train.X, final.train.y, classes, seed, foldGroups && Int32Array.from(final.trainRows, (r) => foldGroups[r]!), fitProgress(reporter, `train: ${chosen.name} final fit`)), chosen.algorithm);
  reporter.progressEnd?.();
  // The final rule's weights come from all of the chosen candidate's out-of-fold predictions.
  const decisionWeights = decisionRules[best] === "tuned" ? Array.from(tuneDecisionWeights(outOfFold[best]!, classes.length, metric)) : undefined;
  if (decisionWeights) reporter.info(`train: decision weights ${classes.map((c, i) => `${c} ${decisionWeights[i]!.toFixed(3)}`).join(", ")}`);
  const proba = predictProbaTrees(trees, final.evaluation.X, classes.length, combine);
  const test = classificationMetrics(final.evaluation.y, proba, classes, decisionWeights);
  const yPred = argmaxRows(proba, classes.length, decisionWeights);
  const slices = sliceMetrics(table, split.test, final.evaluation.y, yPred, classes.length, dataset.slices);
  const groups = featureGroups([...dataset.features, ...derivedNames], final.params.encoded_features);
  const importance = {
    impurity: impurityByFeature(trees, groups, final.params.encoded_features.length, "criterion" in chosen.params ? chosen.params.criterion : "gini", combine),
    permutation: permutationImportance(trees, final.evaluation.X, final.evaluation.y, classes.length, groups, { repeats: config.training.permutation_importance_repeats, seed, combine, decisionWeights }),
  };

  const splitInfo = {
    method: config.split.method,
    test_share: config.split.test_share,
    train_rows: trainRows.length,
    test_rows: split.test.length,
    fitted_rows: final.trainRows.length,
    cv_folds: config.split.cv_folds,
    grouped_by: config.split.method === "group" ? (dataset.group ?? null) : null,
  };
  const metrics: MetricsReport = MetricsReportSchema.parse({
    version: 1,
    model: config.model.name,
    candidate: chosen.name,
    algorithm: chosen.algorithm,
    selection_metric: metric,
    classes,
    split: splitInfo,
    test,
    cv,
    importance,
    slices,
    ...(decisionWeights ? { decision_weights: decisionWeights } : {}),
  });

  const trainTable = takeRows(table, trainRows);
  // With per-group summaries, so validate-data can calibrate drift by group (issue 11).
  const referenceProfile = profileWithGroups(trainTable, dataset.features, {
    bins: config.drift.psi_bins,
    label: { codes: Int32Array.from(trainRows, (r) => labels[r]!), classes },
    group: dataset.group,
    maxGroups: config.drift.calibration.max_groups,
  });
  const dataPath = input.dataPath ?? dataset.path;
  const chosenCv = cv[best]!;
  const model: ModelArtifact = ModelArtifactSchema.parse({
    schema_version: ARTIFACT_SCHEMA_VERSION,
    name: config.model.name,
    task: "classification",
    label: { column: dataset.label.column, binning: { ...dataset.label.binning } },
    classes,
    // The input contract travels with the model: aliases, required features, the input policy.
    features: contractFeatures(final.specs, dataset.columns, referenceProfile),
    preprocessing: final.params,
    input_policy: config.serving.input_policy,
    model: { algorithm: chosen.algorithm, params: { ...chosen.params }, ...(combine === "sum_softmax" ? { combine, iterations: trees.length / classes.length } : {}), ...(decisionWeights ? { decision_weights: decisionWeights } : {}), trees },
    metrics: {
      accuracy: test.accuracy,
      balanced_accuracy: test.balanced_accuracy,
      macro_f1: test.macro_f1,
      log_loss: test.log_loss,
      ece: test.ece,
      n: test.n,
      per_class: test.per_class,
      confusion_matrix: test.confusion_matrix,
      [`cv_${metric}`]: chosenCv.mean,
      cv_std: chosenCv.std,
      slices,
    },
    reference_profile: referenceProfile,
    lineage: {
      data_sha256: read.sha256,
      data_rows: read.table.rowCount,
      data_path: lineagePath(dataPath, input.root),
      config_sha256: input.configSha256,
      git_sha: input.gitSha ?? null,
      trainer: await trainerId(),
      seed,
      candidate: chosen.name,
      split: { method: splitInfo.method, test_share: splitInfo.test_share, test_rows: splitInfo.test_rows, train_rows: splitInfo.train_rows, seed: config.split.seed, cv_folds: splitInfo.cv_folds, grouped_by: splitInfo.grouped_by, ...(config.split.time_column ? { time_column: config.split.time_column } : {}) },
      created_at: now().toISOString(),
    },
  });
  // Model identity, recorded in the artifact (and by promote in the registry).
  model.content_sha256 = modelContentHash(model);

  const outDir = resolve(input.root, input.outDir);
  const paths = { model: join(outDir, "model.json"), metrics: join(outDir, "metrics.json"), report: join(outDir, "report.md") };
  // model.json is compact (thousands of tree nodes); metrics.json is for people too, so indented.
  // The folder is written whole (staged, then renamed): never a new model.json beside an old metrics.json.
  const markdown = renderTrainReport(metrics, "model.json");
  await writeDirAtomic(outDir, [
    { name: "model.json", data: serializeModel(model) + "\n" },
    { name: "metrics.json", data: JSON.stringify(metrics, null, 2) + "\n" },
    { name: "report.md", data: markdown },
  ]);

  if (input.exportSplitPath) {
    const file = resolve(input.root, input.exportSplitPath);
    // Row numbers of the file (0 = the first data row), not of the labelled subset the split saw.
    const fileRow = (r: number) => (dropped > 0 ? labelled[r]! : r);
    await writeSplitExport(file, {
      data: { path: lineagePath(dataPath, input.root), sha256: read.sha256, rows: read.table.rowCount },
      split: { method: config.split.method, test_share: config.split.test_share, seed: config.split.seed, grouped_by: splitInfo.grouped_by },
      train: Array.from(trainRows, fileRow),
      test: Array.from(split.test, fileRow),
    });
    reporter.output("split", file);
  }
  reporter.info(`train: ${chosen.name}: test accuracy ${test.accuracy.toFixed(4)}, macro-F1 ${test.macro_f1.toFixed(4)}; wrote ${paths.model}`);
  reporter.summary(markdown);
  reporter.output("model", paths.model);
  reporter.output("metrics", paths.metrics);
  reporter.output("candidate", chosen.name);
  reporter.output("macro-f1", String(test.macro_f1));
  reporter.output("cv-score", String(chosenCv.mean));
  return { model, metrics, candidate: chosen.name, paths };
}
