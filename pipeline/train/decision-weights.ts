import type { SelectionMetric } from "./metrics.js";
import { argmaxRows, selectionScore } from "./metrics.js";

/**
 * Decision weights for the selection metric (`training.tune_decision_weights`): per class a factor
 * on its probability before the argmax (pipeline/model/decision.ts), tuned on out-of-fold
 * predictions only. Argmax maximises accuracy; macro-F1 rewards giving a minority class the rows
 * where it is nearly as likely, and the best trade-off differs per model and data, so it is found,
 * not assumed.
 *
 * The search is coordinate ascent on log-weights over a fixed grid (class 0 stays at 1), a few
 * sweeps, moving only on a strict improvement and preferring the smaller change on ties: the same
 * predictions always give the same weights, and weights that do nothing stay at 1.
 */

export interface ScoredFold {
  /** Out-of-fold probabilities, rows × k, row-major. */
  proba: Float64Array;
  y: Int32Array;
}

const STEP = 0.05;
const REACH = 20; // log-weights in [-1, 1]
const SWEEPS = 3;

function meanScore(metric: SelectionMetric, folds: ScoredFold[], k: number, weights: Float64Array): number {
  let sum = 0;
  for (const f of folds) sum += selectionScore(metric, f.y, argmaxRows(f.proba, k, weights), k);
  return sum / folds.length;
}

/** Weights (length k, class 0 = 1) that maximise the mean of the metric over the given folds. */
export function tuneDecisionWeights(folds: ScoredFold[], k: number, metric: SelectionMetric): Float64Array {
  const logs = new Float64Array(k);
  const weights = new Float64Array(k).fill(1);
  let best = meanScore(metric, folds, k, weights);
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    let moved = false;
    for (let c = 1; c < k; c++) {
      const current = logs[c]!;
      let bestLog = current;
      // Nearest steps first, so that of equal scores the smallest change wins.
      for (let d = 1; d <= 2 * REACH; d++) {
        for (const sign of [1, -1]) {
          const candidate = current + sign * d * STEP;
          if (Math.abs(candidate) > REACH * STEP + 1e-9) continue;
          weights[c] = Math.exp(candidate);
          const score = meanScore(metric, folds, k, weights);
          if (score > best + 1e-12) {
            best = score;
            bestLog = candidate;
          }
        }
      }
      logs[c] = bestLog;
      weights[c] = Math.exp(bestLog);
      if (bestLog !== current) moved = true;
    }
    if (!moved) break;
  }
  return weights;
}

/**
 * The cross-validated score of the tuned rule: each fold is scored with weights tuned on the other
 * folds' predictions, never on its own labels, so the figure stays an out-of-sample estimate.
 */
export function nestedDecisionScores(folds: ScoredFold[], k: number, metric: SelectionMetric): number[] {
  if (folds.length < 2) return folds.map((f) => selectionScore(metric, f.y, argmaxRows(f.proba, k), k));
  return folds.map((f, i) => {
    const weights = tuneDecisionWeights(
      folds.filter((_, j) => j !== i),
      k,
      metric,
    );
    return selectionScore(metric, f.y, argmaxRows(f.proba, k, weights), k);
  });
}

export interface DecisionRuleChoice {
  /** "tuned" only when the tuned weights beat plain argmax out of sample (nested); otherwise argmax. */
  rule: "tuned" | "argmax";
  /** Per-fold scores of the chosen rule. */
  scores: number[];
  argmax: number[];
  tuned: number[];
}

/**
 * Chooses between plain argmax and tuned weights by their cross-validated scores, as a candidate is
 * chosen: on data where the classes' probabilities are already well placed, tuning only fits noise,
 * and the model then keeps argmax.
 */
export function chooseDecisionRule(folds: ScoredFold[], k: number, metric: SelectionMetric): DecisionRuleChoice {
  const argmax = folds.map((f) => selectionScore(metric, f.y, argmaxRows(f.proba, k), k));
  const tuned = nestedDecisionScores(folds, k, metric);
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  const rule = mean(tuned) > mean(argmax) ? "tuned" : "argmax";
  return { rule, scores: rule === "tuned" ? tuned : argmax, argmax, tuned };
}
