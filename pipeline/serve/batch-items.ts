import fastJson from "fast-json-stringify";
import type { FieldProblem } from "../model/input-contract.js";
import { PREDICT_BATCH_RESPONSE } from "./response-schemas.js";

/**
 * The batch answer written in pieces: the items of rows [from, to) by whichever thread predicted
 * them, then joined into the one response. Each item goes through the compiled serializer of the
 * response schema's item, the frame through the schema's own serializer, so the joined text is what
 * fastify's route serializer writes for the same answer (test/batch-helpers.test.ts compares them).
 */

/** Rows [from, to) of a predicted batch: probabilities (k per row) and classes by row index. */
export interface PredictedRows {
  /** The batch's request id; item i is `${requestId}:${i}`. */
  requestId: string;
  proba: Float64Array;
  classIndex: Int32Array;
  /** Warnings by row index, for the rows that have any. */
  warnings: ReadonlyMap<number, readonly FieldProblem[]>;
}

type Schema = Parameters<typeof fastJson>[0];
const NO_WARNINGS: readonly FieldProblem[] = [];

/** Writes the items of rows [from, to), comma-separated, for a model with these classes. */
export function batchItemsWriter(classes: readonly string[]): (rows: PredictedRows, from: number, to: number) => string {
  const item = fastJson(PREDICT_BATCH_RESPONSE[200].properties.predictions.items as unknown as Schema);
  const k = classes.length;
  return (rows, from, to) => {
    let out = "";
    for (let i = from; i < to; i++) {
      const probabilities: Record<string, number> = {};
      for (let c = 0; c < k; c++) probabilities[classes[c]!] = rows.proba[i * k + c]!;
      const cls = rows.classIndex[i]!;
      if (i > from) out += ",";
      out += item({ index: i, request_id: `${rows.requestId}:${i}`, class: classes[cls], probabilities, confidence: rows.proba[i * k + cls], warnings: rows.warnings.get(i) ?? NO_WARNINGS });
    }
    return out;
  };
}

export interface BatchIdentity {
  model_version: string;
  content_sha256: string | null;
  request_id: string;
}

/** Joins item pieces (in row order) into the batch answer. */
export function batchAnswerWriter(): (pieces: readonly string[], identity: BatchIdentity) => string {
  const frame = fastJson(PREDICT_BATCH_RESPONSE[200] as unknown as Schema);
  const open = '{"predictions":[';
  return (pieces, identity) => {
    const empty = frame({ predictions: [], ...identity });
    if (!empty.startsWith(`${open}]`)) throw new Error("the batch answer no longer starts with its predictions");
    return open + pieces.filter((p) => p !== "").join(",") + empty.slice(open.length);
  };
}
