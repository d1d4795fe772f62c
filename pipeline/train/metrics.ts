import { z } from "zod";
import { cellText, type Table } from "../data/table.js";
import { chooseClasses } from "../model/decision.js";

/**
 * Classification metrics, defined as scikit-learn defines them so figures compare:
 * - macro-F1 averages over the classes that occur in the truth or the predictions;
 * - balanced accuracy averages recall over the classes that occur in the truth;
 * - a precision or F1 with a zero denominator is 0;
 * - log loss clips probabilities to [1e-15, 1 - 1e-15];
 * - expected calibration error uses 10 equal-width bins of the top-class probability.
 */

export const ClassMetricsSchema = z.object({ precision: z.number(), recall: z.number(), f1: z.number(), support: z.number().int() }).strict();

export const ClassificationMetricsSchema = z
  .object({
    n: z.number().int().nonnegative(),
    accuracy: z.number(),
    balanced_accuracy: z.number(),
    macro_f1: z.number(),
    log_loss: z.number(),
    ece: z.number(),
    per_class: z.record(z.string(), ClassMetricsSchema),
    /** Rows: true class, columns: predicted class, both in `classes` order. */
    confusion_matrix: z.array(z.array(z.number().int())),
  })
  .strict();
export type ClassificationMetrics = z.infer<typeof ClassificationMetricsSchema>;

export const SliceMetricsSchema = z.record(z.string(), z.record(z.string(), z.object({ n: z.number().int(), accuracy: z.number(), macro_f1: z.number() }).strict()));
export type SliceMetrics = z.infer<typeof SliceMetricsSchema>;

const EPS = 1e-15;

/** Predicted class per row: the most probable one (the first on ties), or the weighted choice of pipeline/model/decision.ts. */
export function argmaxRows(proba: Float64Array, nClasses: number, weights?: ArrayLike<number> | null): Int32Array {
  return chooseClasses(proba, nClasses, weights);
}

export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): number[][] {
  const m = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) m[yTrue[i]!]![yPred[i]!]!++;
  return m;
}

interface LabelScores {
  accuracy: number;
  balanced_accuracy: number;
  macro_f1: number;
  per_class: { precision: number; recall: number; f1: number; support: number }[];
  confusion: number[][];
}

/** Scores that need only hard predictions. */
export function labelScores(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): LabelScores {
  const confusion = confusionMatrix(yTrue, yPred, nClasses);
  const n = yTrue.length;
  let correct = 0;
  let recallSum = 0;
  let recallCount = 0;
  let f1Sum = 0;
  let f1Count = 0;
  const per_class: LabelScores["per_class"] = [];
  for (let c = 0; c < nClasses; c++) {
    const tp = confusion[c]![c]!;
    correct += tp;
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < nClasses; j++) {
      support += confusion[c]![j]!;
      predicted += confusion[j]![c]!;
    }
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    per_class.push({ precision, recall, f1, support });
    if (support > 0) {
      recallSum += recall;
      recallCount++;
    }
    if (support > 0 || predicted > 0) {
      f1Sum += f1;
      f1Count++;
    }
  }
  return {
    accuracy: n > 0 ? correct / n : 0,
    balanced_accuracy: recallCount > 0 ? recallSum / recallCount : 0,
    macro_f1: f1Count > 0 ? f1Sum / f1Count : 0,
    per_class,
    confusion,
  };
}

export function logLoss(yTrue: ArrayLike<number>, proba: Float64Array, nClasses: number): number {
  const n = yTrue.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - EPS, Math.max(EPS, proba[i * nClasses + yTrue[i]!]!));
    sum -= Math.log(p);
  }
  return sum / n;
}

/** Expected calibration error over `bins` equal-width bins of the top-class probability. */
export function expectedCalibrationError(yTrue: ArrayLike<number>, proba: Float64Array, nClasses: number, bins = 10): number {
  const n = yTrue.length;
  if (n === 0) return 0;
  const count = new Float64Array(bins);
  const confSum = new Float64Array(bins);
  const correct = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < nClasses; c++) if (proba[i * nClasses + c]! > proba[i * nClasses + best]!) best = c;
    const conf = proba[i * nClasses + best]!;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(conf * bins)));
    count[b]!++;
    confSum[b]! += conf;
    if (best === yTrue[i]) correct[b]!++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b]! > 0) ece += (count[b]! / n) * Math.abs(correct[b]! / count[b]! - confSum[b]! / count[b]!);
  return ece;
}

/** All metrics of one evaluation; `proba` is rows × classes, row-major. Log loss and calibration are of the probabilities; the rest of the chosen classes. */
export function classificationMetrics(yTrue: ArrayLike<number>, proba: Float64Array, classes: string[], decisionWeights?: ArrayLike<number> | null): ClassificationMetrics {
  const k = classes.length;
  const yPred = argmaxRows(proba, k, decisionWeights);
  const scores = labelScores(yTrue, yPred, k);
  const per_class: ClassificationMetrics["per_class"] = {};
  classes.forEach((name, c) => (per_class[name] = scores.per_class[c]!));
  return {
    n: yTrue.length,
    accuracy: scores.accuracy,
    balanced_accuracy: scores.balanced_accuracy,
    macro_f1: scores.macro_f1,
    log_loss: logLoss(yTrue, proba, k),
    ece: expectedCalibrationError(yTrue, proba, k),
    per_class,
    confusion_matrix: scores.confusion,
  };
}

/**
 * Accuracy and macro-F1 per value of each slice column, over `rows` of `table` (row i of yTrue /
 * yPred is table row rows[i]). Rows with a missing slice value belong to no slice.
 */
export function sliceMetrics(table: Table, rows: ArrayLike<number>, yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number, columns: string[]): SliceMetrics {
  const out: SliceMetrics = {};
  for (const name of columns) {
    const column = table.columns.get(name);
    if (!column) continue;
    const members = new Map<string, number[]>();
    for (let i = 0; i < rows.length; i++) {
      const text = cellText(column, rows[i]!);
      if (text === "") continue;
      const list = members.get(text);
      if (list) list.push(i);
      else members.set(text, [i]);
    }
    const slices: SliceMetrics[string] = {};
    for (const value of [...members.keys()].sort()) {
      const idx = members.get(value)!;
      const t = Int32Array.from(idx, (i) => yTrue[i]!);
      const p = Int32Array.from(idx, (i) => yPred[i]!);
      const s = labelScores(t, p, nClasses);
      slices[value] = { n: idx.length, accuracy: s.accuracy, macro_f1: s.macro_f1 };
    }
    out[name] = slices;
  }
  return out;
}

export type SelectionMetric = "macro_f1" | "accuracy" | "balanced_accuracy";

/** The score used to select candidates. */
export function selectionScore(metric: SelectionMetric, yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): number {
  return labelScores(yTrue, yPred, nClasses)[metric];
}
