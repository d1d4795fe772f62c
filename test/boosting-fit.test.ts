import { beforeAll, describe, expect, it } from "vitest";
import { Random } from "../pipeline/core/random.js";
import { predictProbaTrees, predictRowTrees } from "../pipeline/model/tree-eval.js";
import { BOOSTING_DEFAULTS, fitBoosting, validationRows, type BoostingFitParams } from "../pipeline/train/boosting.js";
import type { TrainMatrix } from "../pipeline/train/tree.js";

const matrix = (cols: number[][]): TrainMatrix => ({ rows: cols[0]!.length, features: cols.map((c) => Float64Array.from(c)), names: cols.map((_, i) => `x${i}`) });

/** Three noisy classes on four features with missing values: enough structure for many splits. */
function synthetic(rows: number, seed: number): { X: TrainMatrix; y: Int32Array; groups: Int32Array } {
  const rng = new Random(seed);
  const cols = [0, 1, 2, 3].map(() => new Array<number>(rows));
  const y = new Int32Array(rows);
  const groups = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const a = rng.normal();
    const b = rng.normal();
    const c = rng.int(5);
    const d = rng.next() < 0.15 ? Number.NaN : rng.normal();
    cols[0]![i] = a;
    cols[1]![i] = b;
    cols[2]![i] = c;
    cols[3]![i] = d;
    const s = a + 0.5 * b * (c - 2) + (Number.isNaN(d) ? 0.8 : 0.3 * d) + 0.5 * rng.normal();
    y[i] = s < -0.5 ? 0 : s < 0.7 ? 1 : 2;
    groups[i] = i % 17;
  }
  return { X: matrix(cols), y, groups };
}

const params = (over: Partial<BoostingFitParams>): BoostingFitParams => ({ ...BOOSTING_DEFAULTS, ...over });

describe("gradient boosting: a small case checked by hand", () => {
  // x = 1, 2, 3, 4 with classes 0, 0, 1, 2: priors 1/2, 1/4, 1/4. Every row starts at the priors, so for
  // class k the gradient is p_k - [y = k] and the hessian p_k (1 - p_k); one split per tree (2 leaves),
  // leaf value = -learning_rate * G / (H + l2).
  const X = matrix([[1, 2, 3, 4]]);
  const y = Int32Array.from([0, 0, 1, 2]);
  const lr = 0.5;
  const l2 = 0.5;
  let fit: Awaited<ReturnType<typeof fitBoosting>>;
  beforeAll(async () => {
    fit = await fitBoosting(X, y, 3, params({ learning_rate: lr, l2_regularization: l2, max_iter: 1, max_leaf_nodes: 2, min_samples_leaf: 1, early_stopping: false }));
  });
  const leaf = (G: number, H: number) => (-lr * G) / (H + l2);

  it("starts from the log class priors", () => {
    expect(fit.initScores).toEqual([Math.log(0.5), Math.log(0.25), Math.log(0.25)]);
    expect(fit.trees).toHaveLength(3);
    expect(fit.iterations).toBe(1);
  });

  it("splits each class's tree where the gain G_L²/(H_L+λ) + G_R²/(H_R+λ) is largest, with the hand-computed leaf values", () => {
    // Class 0: g = (-1/2, -1/2, 1/2, 1/2), h = 1/4 each: best cut between 2 and 3.
    // Class 1: g = (1/4, 1/4, -3/4, 1/4), h = 3/16 each: between 2 and 3 (gain 0.571 against 0.150 for the others).
    // Class 2: g = (1/4, 1/4, 1/4, -3/4), h = 3/16 each: between 3 and 4 (gain 1.348 against 0.571).
    const expected = [
      { threshold: 2.5, left: leaf(-1, 0.5), right: leaf(1, 0.5) },
      { threshold: 2.5, left: leaf(0.5, 0.375), right: leaf(-0.5, 0.375) },
      { threshold: 3.5, left: leaf(0.75, 0.5625), right: leaf(-0.75, 0.1875) },
    ];
    expected.forEach((e, k) => {
      const t = fit.trees[k]!;
      expect(t.feature[0]).toBe(0);
      expect(t.threshold[0]).toBe(e.threshold);
      const l = t.left[0]!;
      const r = t.right[0]!;
      // Leaves score their own class only; the first iteration's leaves carry the initial score.
      expect(t.value[l]![k]! - fit.initScores[k]!).toBeCloseTo(e.left, 12);
      expect(t.value[r]![k]! - fit.initScores[k]!).toBeCloseTo(e.right, 12);
      for (let c = 0; c < 3; c++) if (c !== k) expect(t.value[l]![c]).toBe(0);
    });
  });

  it("predicts softmax of the summed raw scores", () => {
    const raw = [Math.log(0.5) + leaf(-1, 0.5), Math.log(0.25) + leaf(0.5, 0.375), Math.log(0.25) + leaf(0.75, 0.5625)];
    const z = raw.map((v) => Math.exp(v));
    const s = z.reduce((a, b) => a + b, 0);
    const p = predictRowTrees(fit.trees, Float64Array.from([1]), 3, undefined, "sum_softmax");
    for (let k = 0; k < 3; k++) expect(p[k]).toBeCloseTo(z[k]! / s, 12);
  });

  it("sends missing values the way the tree learnt them (toward the larger child when training had none)", () => {
    const t = fit.trees[2]!;
    // Class 2's split leaves 3 rows left and 1 right: an unseen missing value goes left.
    expect(t.missing_left[0]).toBe(1);
    const pMissing = predictRowTrees(fit.trees, Float64Array.from([Number.NaN]), 3, undefined, "sum_softmax");
    const pLow = predictRowTrees(fit.trees, Float64Array.from([1]), 3, undefined, "sum_softmax");
    expect(Array.from(pMissing)).toEqual(Array.from(pLow));
  });
});

describe("gradient boosting: determinism and early stopping", () => {
  const data = synthetic(3000, 5);
  const p = params({ max_iter: 60, max_leaf_nodes: 15, early_stopping: true, validation_fraction: 0.2, n_iter_no_change: 5 });

  it("gives byte-identical trees for the same seed, on one thread and on worker threads", async () => {
    const a = await fitBoosting(data.X, data.y, 3, p, { seed: 11 });
    const b = await fitBoosting(data.X, data.y, 3, p, { seed: 11 });
    expect(JSON.stringify(b.trees)).toBe(JSON.stringify(a.trees));
    expect(b.validationLoss).toEqual(a.validationLoss);
    const threaded = await fitBoosting(data.X, data.y, 3, { ...p, n_jobs: 2 }, { seed: 11 });
    expect(JSON.stringify(threaded.trees)).toBe(JSON.stringify(a.trees));
    expect(threaded.validationLoss).toEqual(a.validationLoss);
  });

  it("reuses its worker threads across fits of different data without mixing them up", async () => {
    const other = synthetic(1500, 9);
    const alone = await fitBoosting(other.X, other.y, 3, { ...p, n_jobs: 1 }, { seed: 2 });
    const first = await fitBoosting(data.X, data.y, 3, { ...p, n_jobs: 3 }, { seed: 11 });
    const second = await fitBoosting(other.X, other.y, 3, { ...p, n_jobs: 3 }, { seed: 2 });
    const single = await fitBoosting(data.X, data.y, 3, p, { seed: 11 });
    expect(JSON.stringify(first.trees)).toBe(JSON.stringify(single.trees));
    expect(JSON.stringify(second.trees)).toBe(JSON.stringify(alone.trees));
  });

  it("learns the structure: held-out accuracy beats the majority class", async () => {
    const fit = await fitBoosting(data.X, data.y, 3, params({ max_iter: 40, early_stopping: false }), { seed: 1 });
    const test = synthetic(2000, 6);
    const proba = predictProbaTrees(fit.trees, test.X, 3, "sum_softmax");
    let ok = 0;
    const counts = [0, 0, 0];
    for (let i = 0; i < test.X.rows; i++) {
      let b = 0;
      for (let k = 1; k < 3; k++) if (proba[i * 3 + k]! > proba[i * 3 + b]!) b = k;
      if (b === test.y[i]) ok++;
      counts[test.y[i]!]!++;
    }
    expect(ok / test.X.rows).toBeGreaterThan(Math.max(...counts) / test.X.rows + 0.15);
  });

  it("stops when the validation loss has not improved for n_iter_no_change iterations", async () => {
    // A high learning rate overfits quickly, so the validation loss turns up well before max_iter.
    const fit = await fitBoosting(data.X, data.y, 3, params({ ...p, learning_rate: 1, max_iter: 200, max_leaf_nodes: 63, min_samples_leaf: 2 }), { seed: 3 });
    expect(fit.iterations).toBeLessThan(200);
    expect(fit.trees).toHaveLength(fit.iterations * 3);
    const losses = fit.validationLoss;
    expect(losses).toHaveLength(fit.iterations + 1);
    const ref = losses[losses.length - 1 - p.n_iter_no_change]!;
    for (const l of losses.slice(-p.n_iter_no_change)) expect(l).toBeGreaterThanOrEqual(ref - p.tol);
  });

  it("holds out whole groups for early stopping when groups are given", () => {
    const held = validationRows(data.y, 3, 0.2, 9, data.groups);
    const heldGroups = new Set<number>();
    const keptGroups = new Set<number>();
    for (let i = 0; i < held.length; i++) (held[i] ? heldGroups : keptGroups).add(data.groups[i]!);
    expect(heldGroups.size).toBeGreaterThan(0);
    for (const g of heldGroups) expect(keptGroups.has(g)).toBe(false);
    const share = held.reduce((s, v) => s + v, 0) / held.length;
    expect(share).toBeGreaterThanOrEqual(0.2);
    expect(share).toBeLessThan(0.35);
  });

  it("weights classes: balanced weights raise the recall of a rare class", async () => {
    const rng = new Random(4);
    const n = 4000;
    const x = Array.from({ length: n }, () => rng.normal());
    // Class 1 is rare (about 6%) and only partly separable.
    const y = Int32Array.from(x, (v) => (v + 0.8 * rng.normal() > 2 ? 1 : 0));
    const X = matrix([x]);
    const recall = async (cw: "none" | "balanced") => {
      const fit = await fitBoosting(X, y, 2, params({ class_weight: cw, max_iter: 30, early_stopping: false }), { seed: 2 });
      const proba = predictProbaTrees(fit.trees, X, 2, "sum_softmax");
      let tp = 0;
      let pos = 0;
      for (let i = 0; i < n; i++) {
        if (y[i] !== 1) continue;
        pos++;
        if (proba[i * 2 + 1]! > proba[i * 2]!) tp++;
      }
      return tp / pos;
    };
    expect(await recall("balanced")).toBeGreaterThan((await recall("none")) + 0.1);
  });
});
