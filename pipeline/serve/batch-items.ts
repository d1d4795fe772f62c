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

/**
 * Writes the items of rows [from, to), comma-separated, for a model with these classes.
 *
 * The item's fixed parts are texts made once (the class names quoted, the probabilities' keys, the
 * batch's request id), and the numbers are written as the compiled serializer writes them
 * (`String` of a finite number), so an item is the compiled serializer's text without an object
 * and a probabilities object per row: the serializer's objects and strings were a quarter of what a
 * batch allocated per row. A row with a number that is not finite goes through the serializer.
 */
export function batchItemsWriter(classes: readonly string[]): (rows: PredictedRows, from: number, to: number) => string {
  const itemSchema = PREDICT_BATCH_RESPONSE[200].properties.predictions.items;
  const item = fastJson(itemSchema as unknown as Schema);
  const warningsText = fastJson(itemSchema.properties.warnings as unknown as Schema) as (warnings: readonly FieldProblem[]) => string;
  const k = classes.length;
  const classTexts = classes.map((c) => JSON.stringify(c));
  // The probabilities in the order of an object made in class order, which the compiled serializer
  // writes: JavaScript puts keys that are array indices ("0", "10") first, ascending.
  const order = Object.keys(Object.fromEntries(classes.map((c) => [c, 0]))).map((name) => classes.indexOf(name));
  const probabilityKeys = order.map((j, n) => `${n === 0 ? "" : ","}${JSON.stringify(classes[j])}:`);
  return (rows, from, to) => {
    // JSON.stringify(`${id}:${i}`) is this plus `${i}"`: neither ":" nor digits are escaped.
    const idHead = `${JSON.stringify(rows.requestId).slice(0, -1)}:`;
    let out = "";
    for (let i = from; i < to; i++) {
      const cls = rows.classIndex[i]!;
      const warnings = rows.warnings.get(i) ?? NO_WARNINGS;
      if (i > from) out += ",";
      let probabilities = "{";
      let finite = true;
      for (let n = 0; n < k; n++) {
        const p = rows.proba[i * k + order[n]!]!;
        if (!Number.isFinite(p)) finite = false;
        probabilities += probabilityKeys[n]! + String(p);
      }
      const confidence = rows.proba[i * k + cls]!;
      if (!finite || classTexts[cls] === undefined) {
        const byClass: Record<string, number> = {};
        for (let c = 0; c < k; c++) byClass[classes[c]!] = rows.proba[i * k + c]!;
        out += item({ index: i, request_id: `${rows.requestId}:${i}`, class: classes[cls], probabilities: byClass, confidence, warnings });
        continue;
      }
      out += `{"index":${i},"request_id":${idHead}${i}","class":${classTexts[cls]},"probabilities":${probabilities}},"confidence":${String(confidence)},"warnings":${warnings.length === 0 ? "[]" : warningsText(warnings)}}`;
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
