import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ModelArtifact, TreeJson } from "../pipeline/model/artifact-schema.js";
import { forestMemory, forestWalk, WALK_ROWS } from "../pipeline/model/forest-walk.js";
import { packForest } from "../pipeline/model/predictor.js";

/** A random tree over `width` features: splits on values from a small set (ties are common), leaves with any doubles. */
function treeArb(width: number, k: number): fc.Arbitrary<TreeJson> {
  const leafValue = fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 0.5, 1e-300)), { minLength: k, maxLength: k });
  const split = fc.record({ feature: fc.integer({ min: 0, max: width - 1 }), threshold: fc.constantFrom(-1, 0, 0.25, 0.5, 2), missingLeft: fc.constantFrom<0 | 1>(0, 1) });
  return fc.record({ splits: fc.array(split, { maxLength: 40 }), leaves: fc.array(leafValue, { minLength: 41, maxLength: 41 }), shape: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }) }).map(({ splits, leaves, shape }) => {
    const t: TreeJson = { feature: [], threshold: [], left: [], right: [], missing_left: [], value: [], n: [] };
    let used = 0;
    let leafAt = 0;
    // Node 0 is the root; each split's children are appended, the left one grown first (depth first).
    const grow = (depth: number): number => {
      const i = t.feature.length;
      t.feature.push(-1);
      t.threshold.push(0);
      t.left.push(-1);
      t.right.push(-1);
      t.missing_left.push(0);
      t.value.push(null);
      t.n.push(1);
      if (used < splits.length && (depth === 0 || shape[used]!) && depth < 12) {
        const s = splits[used++]!;
        t.feature[i] = s.feature;
        t.threshold[i] = s.threshold;
        t.missing_left[i] = s.missingLeft;
        t.left[i] = grow(depth + 1);
        t.right[i] = grow(depth + 1);
      } else t.value[i] = leaves[leafAt++ % leaves.length]!;
      return i;
    };
    grow(0);
    return t;
  });
}

/** The summed leaf vectors of one row, walked on the artifact's own arrays, tree after tree. */
function referenceSums(trees: TreeJson[], row: Float64Array, k: number): number[] {
  const sums = new Array<number>(k).fill(0);
  for (const t of trees) {
    let node = 0;
    while (t.feature[node]! >= 0) {
      const x = row[t.feature[node]!]!;
      node = Number.isNaN(x) ? (t.missing_left[node] ? t.left[node]! : t.right[node]!) : x <= t.threshold[node]! ? t.left[node]! : t.right[node]!;
    }
    for (let c = 0; c < k; c++) sums[c]! += t.value[node]![c]!;
  }
  return sums;
}

const forestArb = fc.record({ width: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 2, max: 4 }) }).chain(({ width, k }) =>
  fc.record({
    width: fc.constant(width),
    k: fc.constant(k),
    trees: fc.array(treeArb(width, k), { minLength: 1, maxLength: 9 }),
    rows: fc.array(fc.array(fc.constantFrom(Number.NaN, -1, 0, -0, 0.25, 0.3, 0.5, 2, 3, -Infinity, Infinity), { minLength: width, maxLength: width }), { minLength: 1, maxLength: 12 }),
  }),
);

const forestModel = (trees: TreeJson[], k: number) => ({ classes: Array.from({ length: k }, (_, c) => `c${c}`), model: { algorithm: "random_forest", params: {}, trees } }) as unknown as ModelArtifact;

describe("the forest walk in WebAssembly", () => {
  it("sums, for one row or many, exactly the leaf vectors the artifact's trees reach, in tree order", () => {
    fc.assert(
      fc.property(forestArb, ({ width, k, trees, rows }) => {
        const walk = forestWalk(forestMemory(packForest(forestModel(trees, k))), width);
        const out = new Float64Array(k);
        const matrix = new Float64Array(rows.length * width);
        rows.forEach((r, i) => {
          matrix.set(r, i * width);
        });
        const many = new Float64Array(rows.length * k);
        walk.sumRows(matrix, rows.length, many);
        rows.forEach((r, i) => {
          const expected = referenceSums(trees, Float64Array.from(r), k);
          walk.sumRow(Float64Array.from(r), out);
          expect(Array.from(out)).toEqual(expected);
          expect(Array.from(many.subarray(i * k, (i + 1) * k))).toEqual(expected);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("walks a batch larger than one run of rows (runs of WALK_ROWS and a remainder)", () => {
    const [{ trees, k, width }] = fc.sample(forestArb.filter((f) => {
      return f.trees.length >= 5;
    }), { numRuns: 1, seed: 7 });
    const walk = forestWalk(forestMemory(packForest(forestModel(trees!, k!))), width!);
    const n = 2 * WALK_ROWS + 37;
    const values = [Number.NaN, -1, 0, 0.25, 0.3, 0.5, 2, 3];
    const matrix = Float64Array.from({ length: n * width! }, (_, i) => values[(i * 7 + (i >> 3)) % values.length]!);
    const many = new Float64Array(n * k!);
    walk.sumRows(matrix, n, many);
    for (let r = 0; r < n; r++) expect(Array.from(many.subarray(r * k!, (r + 1) * k!))).toEqual(referenceSums(trees!, matrix.subarray(r * width!, (r + 1) * width!), k!));
  });

  it("gives each walk on one forest memory its own rows: walks on it do not disturb one another", () => {
    const [{ trees, k, width, rows }] = fc.sample(forestArb.filter((f) => {
      return f.rows.length >= 2;
    }), { numRuns: 1, seed: 11 });
    const forest = forestMemory(packForest(forestModel(trees!, k!)));
    const first = forestWalk(forest, width!);
    const second = forestWalk(forest, width!);
    const matrix = new Float64Array(rows!.length * width!);
    rows!.forEach((r, i) => {
      matrix.set(r, i * width!);
    });
    const many = new Float64Array(rows!.length * k!);
    const one = new Float64Array(k!);
    // The first walk's rows are copied in, the second walks other rows, then the first walks again.
    first.sumRows(matrix, rows!.length, many);
    second.sumRow(Float64Array.from(rows![1]!), one);
    expect(Array.from(one)).toEqual(referenceSums(trees!, Float64Array.from(rows![1]!), k!));
    first.sumRow(Float64Array.from(rows![0]!), one);
    expect(Array.from(one)).toEqual(referenceSums(trees!, Float64Array.from(rows![0]!), k!));
    rows!.forEach((r, i) => {
      expect(Array.from(many.subarray(i * k!, (i + 1) * k!))).toEqual(referenceSums(trees!, Float64Array.from(r), k!));
    });
    expect(forest.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it("refuses a forest that reads a feature beyond the row", () => {
    const tree: TreeJson = { feature: [3, -1, -1], threshold: [0.5, 0, 0], left: [1, -1, -1], right: [2, -1, -1], missing_left: [0, 0, 0], value: [null, [1, 0], [0, 1]], n: [2, 1, 1] };
    expect(() => forestWalk(forestMemory(packForest(forestModel([tree], 2))), 3)).toThrow(/node 0 reads feature 3, beyond the 3 of a row/);
    expect(() => forestWalk(forestMemory(packForest(forestModel([tree], 2))), 4)).not.toThrow();
  });
});
