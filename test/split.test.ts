import { describe, expect, it } from "vitest";
import { ConfigError } from "../pipeline/core/errors.js";
import { tableFromRecords } from "../pipeline/data/table.js";
import { Random } from "../pipeline/core/random.js";
import { groupSplit, kFold, splitRows, stratifiedSplit, timeSplit, type RowSplit } from "../pipeline/train/split.js";

const splitCfg = (method: "group" | "stratified" | "time" | "random", extra: Record<string, unknown> = {}) => ({ method, test_share: 0.2, cv_folds: 5, seed: 42, ...extra });

/** 60 buildings of 1..80 rows each, three classes with unequal shares, dates over two years. */
function dataset(seed = 1) {
  const rng = new Random(seed);
  const records: Record<string, string | number | null>[] = [];
  for (let b = 0; b < 60; b++) {
    const size = 1 + rng.int(80);
    for (let i = 0; i < size; i++) {
      const u = rng.next();
      records.push({ building: `b${b}`, y: u < 0.2 ? 0 : u < 0.7 ? 1 : 2, t: Date.UTC(2020, 0, 1) + rng.int(730) * 86_400_000 });
    }
  }
  records[5]!.building = null;
  records[9]!.t = null;
  const table = tableFromRecords({ building: "category", y: "number", t: "date" }, records);
  const labels = Int32Array.from(records, (r) => r.y as number);
  return { table, labels, records };
}

function expectPartition(split: RowSplit, n: number) {
  const all = [...split.train, ...split.test].sort((a, b) => a - b);
  expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe("grouped split", () => {
  it("never puts rows of one group on both sides, and test holds about test_share of the rows", () => {
    const { table, labels, records } = dataset();
    for (const seed of [1, 2, 3, 42]) {
      const split = splitRows(table, labels, splitCfg("group", { seed }), { group: "building" });
      expectPartition(split, table.rowCount);
      const trainGroups = new Set(Array.from(split.train, (r) => records[r]!.building).filter((g) => g !== null));
      for (const r of split.test) if (records[r]!.building !== null) expect(trainGroups.has(records[r]!.building as string)).toBe(false);
      const share = split.test.length / table.rowCount;
      expect(share).toBeGreaterThanOrEqual(0.2);
      // One more group than needed at most: a building has at most 80 rows.
      expect(split.test.length - 80).toBeLessThan(0.2 * table.rowCount);
    }
  });

  it("is deterministic from the seed", () => {
    const { table, labels } = dataset();
    const a = splitRows(table, labels, splitCfg("group"), { group: "building" });
    const b = splitRows(table, labels, splitCfg("group"), { group: "building" });
    const c = splitRows(table, labels, splitCfg("group", { seed: 7 }), { group: "building" });
    expect(Array.from(a.test)).toEqual(Array.from(b.test));
    expect(Array.from(a.test)).not.toEqual(Array.from(c.test));
  });

  it("needs a group column", () => {
    const { table, labels } = dataset();
    expect(() => splitRows(table, labels, splitCfg("group"), {})).toThrowError(ConfigError);
    expect(() => splitRows(table, labels, splitCfg("group"), { group: "nope" })).toThrowError(/nope/);
  });

  it("keeps at least one group for training", () => {
    const split = groupSplit(Int32Array.from([0, 0, 0, 1]), 0.9, 3);
    expect(split.train.length).toBeGreaterThan(0);
  });
});

describe("stratified split", () => {
  it("keeps each class's share in test", () => {
    const { table, labels } = dataset();
    const split = splitRows(table, labels, splitCfg("stratified"), {});
    expectPartition(split, table.rowCount);
    for (const cls of [0, 1, 2]) {
      const total = labels.filter((y) => y === cls).length;
      const inTest = Array.from(split.test).filter((r) => labels[r] === cls).length;
      expect(inTest).toBe(Math.round(total * 0.2));
    }
    expect(Array.from(stratifiedSplit(labels, 0.2, 42).test)).toEqual(Array.from(split.test));
  });
});

describe("time split", () => {
  it("puts the latest dates in test and rows without a date in training", () => {
    const { table, labels, records } = dataset();
    const split = splitRows(table, labels, splitCfg("time", { time_column: "t" }), {});
    expectPartition(split, table.rowCount);
    const times = (rows: Int32Array) => Array.from(rows, (r) => records[r]!.t).filter((t): t is number => t !== null);
    expect(Math.max(...times(split.train))).toBeLessThan(Math.min(...times(split.test)));
    expect(split.train).toContain(9);
    expect(split.test.length / table.rowCount).toBeGreaterThanOrEqual(0.2);
    expect(split.test.length / table.rowCount).toBeLessThan(0.21);
  });

  it("never splits one moment across train and test", () => {
    const split = timeSplit(Float64Array.from([1, 2, 3, 3, 3, 4]), 0.4);
    expect(Array.from(split.test)).toEqual([2, 3, 4, 5]);
  });

  it("needs time_column", () => {
    const { table, labels } = dataset();
    expect(() => splitRows(table, labels, splitCfg("time"), {})).toThrowError(/time_column/);
  });
});

describe("random split", () => {
  it("takes test_share of rows", () => {
    const { table, labels } = dataset();
    const split = splitRows(table, labels, splitCfg("random"), {});
    expectPartition(split, table.rowCount);
    expect(split.test.length).toBe(Math.round(table.rowCount * 0.2));
  });
});

describe("k-fold", () => {
  it("grouped folds never split a group, each item is tested exactly once, fold sizes balance", () => {
    const { table, records } = dataset();
    const groups = Int32Array.from(records, (r, i) => (r.building === null ? 1000 + i : Number(String(r.building).slice(1))));
    const folds = kFold(table.rowCount, 5, { seed: 3, groups });
    const tested = new Int32Array(table.rowCount);
    const sizes = folds.map((f) => f.test.length);
    for (const f of folds) {
      expectPartition(f, table.rowCount);
      const trainGroups = new Set(Array.from(f.train, (r) => groups[r]));
      for (const r of f.test) {
        expect(trainGroups.has(groups[r]!)).toBe(false);
        tested[r]!++;
      }
    }
    expect(Array.from(tested).every((c) => c === 1)).toBe(true);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(80);
  });

  it("stratified folds keep class shares", () => {
    const { labels } = dataset();
    const folds = kFold(labels.length, 4, { seed: 1, stratify: labels });
    for (const f of folds) {
      for (const cls of [0, 1, 2]) {
        const total = labels.filter((y) => y === cls).length;
        const inFold = Array.from(f.test).filter((r) => labels[r] === cls).length;
        expect(Math.abs(inFold - total / 4)).toBeLessThanOrEqual(1);
      }
    }
  });

  it("plain folds are deterministic and refuse impossible requests", () => {
    const a = kFold(103, 5, { seed: 9 });
    const b = kFold(103, 5, { seed: 9 });
    expect(a.map((f) => Array.from(f.test))).toEqual(b.map((f) => Array.from(f.test)));
    expect(a.map((f) => f.test.length).sort()).toEqual([20, 20, 21, 21, 21]);
    expect(() => kFold(10, 5, { seed: 1, groups: Int32Array.from([0, 0, 0, 1, 1, 1, 2, 2, 2, 2]) })).toThrowError(/at least 5 groups/);
    expect(() => kFold(3, 5, { seed: 1 })).toThrowError(ConfigError);
  });
});
