import { describe, expect, it } from "vitest";
import { tableFromRecords } from "../pipeline/data/table.js";
import {
  argmaxRows,
  classificationMetrics,
  confusionMatrix,
  expectedCalibrationError,
  labelScores,
  logLoss,
  sliceMetrics,
} from "../pipeline/train/metrics.js";

/** One-hot probabilities for hard predictions. */
function oneHot(pred: number[], k: number): Float64Array {
  const p = new Float64Array(pred.length * k);
  pred.forEach((c, i) => (p[i * k + c] = 1));
  return p;
}

// Worked by hand:
//   truth      0 0 0 1 1 2 2 2 2 0
//   predicted  0 1 0 1 0 2 2 0 2 0
// Confusion (rows true, cols predicted): [3,1,0] [1,1,0] [1,0,3]
// class 0: tp 3, support 4, predicted 5 → P 3/5, R 3/4, F1 2·(3/5)(3/4)/(3/5+3/4) = 2/3
// class 1: tp 1, support 2, predicted 2 → P 1/2, R 1/2, F1 1/2
// class 2: tp 3, support 4, predicted 3 → P 1,   R 3/4, F1 2·(3/4)/(7/4) = 6/7
// accuracy 7/10; balanced accuracy (3/4 + 1/2 + 3/4)/3 = 2/3; macro-F1 (2/3 + 1/2 + 6/7)/3 = 85/126
const truth = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0];
const predicted = [0, 1, 0, 1, 0, 2, 2, 0, 2, 0];

describe("classification metrics", () => {
  it("match the hand-computed confusion matrix and scores", () => {
    const m = classificationMetrics(Int32Array.from(truth), oneHot(predicted, 3), ["cool", "neutral", "warm"]);
    expect(m.confusion_matrix).toEqual([
      [3, 1, 0],
      [1, 1, 0],
      [1, 0, 3],
    ]);
    expect(m.n).toBe(10);
    expect(m.accuracy).toBeCloseTo(0.7, 12);
    expect(m.balanced_accuracy).toBeCloseTo(2 / 3, 12);
    expect(m.macro_f1).toBeCloseTo(85 / 126, 12);
    expect(m.per_class.cool!.precision).toBeCloseTo(0.6, 12);
    expect(m.per_class.cool!.recall).toBeCloseTo(0.75, 12);
    expect(m.per_class.cool!.f1).toBeCloseTo(2 / 3, 12);
    expect(m.per_class.neutral).toEqual({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    expect(m.per_class.warm!.precision).toBe(1);
    expect(m.per_class.warm!.f1).toBeCloseTo(6 / 7, 12);
    expect(m.per_class.warm!.support).toBe(4);
    // Certain and right on 7 rows, certain and wrong (clipped to 1e-15) on 3.
    expect(m.log_loss).toBeCloseTo((3 * -Math.log(1e-15)) / 10, 10);
    // All confidences are 1: one bin, accuracy 0.7 against confidence 1.
    expect(m.ece).toBeCloseTo(0.3, 12);
  });

  it("macro-F1 leaves out classes that are neither true nor predicted; zero denominators give 0", () => {
    // Class 2 never occurs: macro over classes 0 and 1 only, as scikit-learn does.
    const s = labelScores([0, 0, 1, 1], [0, 1, 1, 1], 3);
    // class 0: P 1, R 1/2, F1 2/3; class 1: P 2/3, R 1, F1 4/5.
    expect(s.macro_f1).toBeCloseTo((2 / 3 + 4 / 5) / 2, 12);
    expect(s.balanced_accuracy).toBeCloseTo(0.75, 12);
    // A class predicted but never true counts with F1 0 in the macro average.
    const t = labelScores([0, 0], [0, 1], 2);
    expect(t.per_class[1]).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expect(t.macro_f1).toBeCloseTo((2 / 3 + 0) / 2, 12);
    expect(t.balanced_accuracy).toBeCloseTo(0.5, 12);
  });

  it("log loss uses the probability of the true class, clipped at 1e-15", () => {
    const proba = Float64Array.from([0.5, 0.5, 0.25, 0.75, 1, 0]);
    expect(logLoss([0, 0, 1], proba, 2)).toBeCloseTo(-(Math.log(0.5) + Math.log(0.25) + Math.log(1e-15)) / 3, 12);
  });

  it("expected calibration error bins the top probability into tenths", () => {
    // Top probabilities 0.9 (right), 0.9 (wrong), 0.55 (right).
    // Bin 9: 2 rows, confidence 0.9, accuracy 0.5 → |0.5 - 0.9| · 2/3; bin 5: |1 - 0.55| · 1/3.
    const proba = Float64Array.from([0.9, 0.1, 0.9, 0.1, 0.45, 0.55]);
    expect(expectedCalibrationError([0, 1, 1], proba, 2)).toBeCloseTo(0.4 * (2 / 3) + 0.45 / 3, 12);
  });

  it("argmax takes the first class on ties; the confusion matrix counts true × predicted", () => {
    expect(Array.from(argmaxRows(Float64Array.from([0.5, 0.5, 0.2, 0.8]), 2))).toEqual([0, 1]);
    expect(confusionMatrix([1, 1, 0], [0, 1, 1], 2)).toEqual([
      [0, 1],
      [1, 1],
    ]);
  });
});

describe("slice metrics", () => {
  it("scores each value of a slice column on its own rows; missing values belong to no slice", () => {
    const seasons = ["winter", "winter", "winter", "summer", "summer", "summer", "summer", null, "winter", "summer"];
    const table = tableFromRecords({ season: "category" }, seasons.map((season) => ({ season })));
    const rows = Int32Array.from({ length: 10 }, (_, i) => i);
    const s = sliceMetrics(table, rows, truth, predicted, 3, ["season", "absent"]);
    // winter rows 0,1,2,8: truth 0 0 0 2, predicted 0 1 0 2 → accuracy 3/4;
    //   class 0: P 1, R 2/3, F1 4/5; class 1: P 0 → F1 0; class 2: F1 1 → macro (4/5 + 0 + 1)/3 = 0.6
    expect(s.season!.winter!.n).toBe(4);
    expect(s.season!.winter!.accuracy).toBeCloseTo(0.75, 12);
    expect(s.season!.winter!.macro_f1).toBeCloseTo(0.6, 12);
    // summer rows 3,4,5,6,9: truth 1 1 2 2 0, predicted 1 0 2 2 0 → accuracy 4/5.
    expect(s.season!.summer!.n).toBe(5);
    expect(s.season!.summer!.accuracy).toBeCloseTo(0.8, 12);
    expect(Object.keys(s)).toEqual(["season"]);
  });
});
