/**
 * The decision rule: which class a row is given from its class probabilities. Plain argmax unless
 * the artifact carries decision weights (tuned by the trainer for the selection metric, see
 * pipeline/train/decision-weights.ts); then the class maximises probability × weight. Probabilities
 * are never changed, only the choice between them: a macro-F1 model may give a rare class the rows
 * where it is nearly as likely as the common one. Shared by training, evaluation and serving so the
 * three can never disagree.
 */

/** Index of the chosen class of the row at `offset` (the first on ties). */
export function chooseClass(proba: ArrayLike<number>, offset: number, k: number, weights?: ArrayLike<number> | null): number {
  let best = 0;
  if (!weights) {
    for (let c = 1; c < k; c++) if (proba[offset + c]! > proba[offset + best]!) best = c;
    return best;
  }
  let bestScore = proba[offset]! * weights[0]!;
  for (let c = 1; c < k; c++) {
    const score = proba[offset + c]! * weights[c]!;
    if (score > bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

/** Chosen class per row of a rows × k row-major probability matrix. */
export function chooseClasses(proba: ArrayLike<number>, k: number, weights?: ArrayLike<number> | null): Int32Array {
  const n = proba.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = chooseClass(proba, i * k, k, weights);
  return out;
}
