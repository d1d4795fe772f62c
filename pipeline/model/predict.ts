import type { Table } from "../data/table.js";
import type { ModelArtifact } from "./artifact-schema.js";
import { chooseClass } from "./decision.js";
import { predictProbaTrees, predictRowTrees, treeCombine } from "./tree-eval.js";
import { transformRecord, transformTableRows, type InputRecord } from "./transform.js";

/**
 * Standalone prediction from a loaded model.json: the fitted transform, then the trees. It imports
 * nothing from pipeline/train, so the serving image needs none of the training code.
 */

export interface Prediction {
  label: string;
  probabilities: Record<string, number>;
}

export function predict(model: ModelArtifact, records: InputRecord[]): Prediction[] {
  const k = model.classes.length;
  const row = new Float64Array(model.preprocessing.encoded_features.length);
  const proba = new Float64Array(k);
  const combine = treeCombine(model.model.algorithm, model.model.combine);
  return records.map((record) => {
    transformRecord(record, model.preprocessing, model.features, row);
    predictRowTrees(model.model.trees, row, k, proba, combine);
    const probabilities: Record<string, number> = {};
    model.classes.forEach((c, i) => (probabilities[c] = proba[i]!));
    return { label: model.classes[chooseClass(proba, 0, k, model.model.decision_weights)]!, probabilities };
  });
}

export interface TablePrediction {
  /** Predicted class index per row. */
  codes: Int32Array;
  labels: string[];
  /** rows × classes, row-major. */
  proba: Float64Array;
}

/** Batch prediction over a table (evaluation, batch scoring): same transform as `predict`, column-wise. */
export function predictTable(model: ModelArtifact, table: Table, rows?: ArrayLike<number>): TablePrediction {
  const k = model.classes.length;
  const X = transformTableRows(table, model.preprocessing, model.features, rows);
  const proba = predictProbaTrees(model.model.trees, X, k, treeCombine(model.model.algorithm, model.model.combine));
  const codes = new Int32Array(X.rows);
  const weights = model.model.decision_weights;
  for (let i = 0; i < X.rows; i++) codes[i] = chooseClass(proba, i * k, k, weights);
  return { codes, labels: Array.from(codes, (c) => model.classes[c]!), proba };
}
