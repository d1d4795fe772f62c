import { z } from "zod";
import type { DatasetConfig, SplitSchema } from "../config/schema.js";
import { ConfigError } from "../core/errors.js";
import type { Column, Table } from "../data/table.js";
import { Random } from "../core/random.js";

/**
 * Train/test splits and k-fold cross-validation, deterministic from the seed. Grouped splits keep
 * every row of a group (a building) on one side: rows of one building are strongly correlated,
 * and a model evaluated on buildings it has seen looks better than it will be on a new one.
 */

export type SplitConfig = z.infer<typeof SplitSchema>;

export interface RowSplit {
  train: Int32Array;
  test: Int32Array;
}

function sortedInt32(values: number[]): Int32Array {
  return Int32Array.from(values).sort();
}

/**
 * Dense group ids per row (0..groups-1). Rows with a missing group each form a group of their own:
 * nothing says they belong together.
 */
export function groupIds(column: Column, rowCount: number): { ids: Int32Array; count: number } {
  const ids = new Int32Array(rowCount);
  let next = 0;
  if (column.kind === "category") {
    const dense = new Int32Array(column.categories.length).fill(-1);
    for (let r = 0; r < rowCount; r++) {
      const code = column.codes[r]!;
      if (code < 0) ids[r] = next++;
      else {
        if (dense[code]! < 0) dense[code] = next++;
        ids[r] = dense[code]!;
      }
    }
  } else {
    const dense = new Map<number, number>();
    for (let r = 0; r < rowCount; r++) {
      if (column.missing[r] === 1) {
        ids[r] = next++;
        continue;
      }
      const v = column.values[r]!;
      let id = dense.get(v);
      if (id === undefined) {
        id = next++;
        dense.set(v, id);
      }
      ids[r] = id;
    }
  }
  return { ids, count: next };
}

/** Groups in a seeded random order go to the test side until it holds at least `share` of the rows. */
export function groupSplit(groups: ArrayLike<number>, share: number, seed: number): RowSplit {
  const n = groups.length;
  let count = 0;
  for (let i = 0; i < n; i++) count = Math.max(count, groups[i]! + 1);
  const sizes = new Int32Array(count);
  for (let i = 0; i < n; i++) sizes[groups[i]!]!++;
  const order = Int32Array.from({ length: count }, (_, g) => g);
  new Random(seed).shuffle(order);
  const inTest = new Uint8Array(count);
  const target = share * n;
  let testRows = 0;
  for (let k = 0; k < count && testRows < target; k++) {
    const g = order[k]!;
    if (sizes[g] === 0) continue;
    // Never put every group in test: training needs at least one.
    if (testRows + sizes[g]! >= n) break;
    inTest[g] = 1;
    testRows += sizes[g]!;
  }
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < n; i++) (inTest[groups[i]!] ? test : train).push(i);
  return { train: sortedInt32(train), test: sortedInt32(test) };
}

/** Per class, a seeded random `share` of its rows (rounded) goes to test, so class shares are kept. */
export function stratifiedSplit(labels: ArrayLike<number>, share: number, seed: number): RowSplit {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = byClass.get(labels[i]!);
    if (list) list.push(i);
    else byClass.set(labels[i]!, [i]);
  }
  const rng = new Random(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const rows = byClass.get(cls)!;
    rng.shuffle(rows);
    const k = Math.round(rows.length * share);
    rows.forEach((r, i) => (i < k ? test : train).push(r));
  }
  return { train: sortedInt32(train), test: sortedInt32(test) };
}

export function randomSplit(n: number, share: number, seed: number): RowSplit {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  new Random(seed).shuffle(order);
  const k = Math.round(n * share);
  return { train: order.slice(k).sort(), test: order.slice(0, k).sort() };
}

/**
 * The latest `share` of rows by time go to test. Rows tied with the earliest test time go to test
 * too (one moment is never split), and rows without a time stay in training.
 */
export function timeSplit(times: ArrayLike<number>, share: number): RowSplit {
  const n = times.length;
  const timed: number[] = [];
  const untimed: number[] = [];
  for (let i = 0; i < n; i++) (Number.isNaN(times[i]!) ? untimed : timed).push(i);
  timed.sort((a, b) => times[a]! - times[b]! || a - b);
  const k = Math.min(timed.length, Math.round(n * share));
  if (k === 0) return { train: sortedInt32([...timed, ...untimed]), test: new Int32Array(0) };
  let cut = timed.length - k;
  const boundary = times[timed[cut]!]!;
  while (cut > 0 && times[timed[cut - 1]!] === boundary) cut--;
  return { train: sortedInt32([...timed.slice(0, cut), ...untimed]), test: sortedInt32(timed.slice(cut)) };
}

/**
 * Splits the rows of `table` (already restricted to rows with a label; `labels` are their class
 * codes) into train and test per `config.split`.
 */
export function splitRows(table: Table, labels: Int32Array, split: SplitConfig, dataset: Pick<DatasetConfig, "group">): RowSplit {
  const n = table.rowCount;
  switch (split.method) {
    case "group": {
      if (!dataset.group) throw new ConfigError(`split.method: "group" needs dataset.group (the column whose rows stay together)`);
      const column = table.columns.get(dataset.group);
      if (!column) throw new ConfigError(`dataset.group: column "${dataset.group}" is not in the data`);
      return groupSplit(groupIds(column, n).ids, split.test_share, split.seed);
    }
    case "stratified":
      return stratifiedSplit(labels, split.test_share, split.seed);
    case "time": {
      if (!split.time_column) throw new ConfigError(`split.time_column: "time" splits need the date column to sort by`);
      const column = table.columns.get(split.time_column);
      if (!column) throw new ConfigError(`split.time_column: column "${split.time_column}" is not in the data`);
      if (column.kind === "category") throw new ConfigError(`split.time_column: "${split.time_column}" must be a date or number column`);
      return timeSplit(column.values, split.test_share);
    }
    case "random":
      return randomSplit(n, split.test_share, split.seed);
  }
}

export interface KFoldOptions {
  seed: number;
  /** Group id per item: a group's items are always in the same fold. */
  groups?: ArrayLike<number>;
  /** Class per item: each fold gets about the same class shares (ignored when groups are given). */
  stratify?: ArrayLike<number>;
}

/**
 * k folds over items 0..n-1: fold f's `test` are its items, `train` all others. Grouped folds take
 * the groups in a seeded random order, largest first, each into the fold with the fewest items so
 * far (balanced like scikit-learn's GroupKFold, but seeded).
 */
export function kFold(n: number, k: number, options: KFoldOptions): RowSplit[] {
  if (!Number.isInteger(k) || k < 2) throw new ConfigError(`cross-validation needs at least 2 folds, got ${k}`);
  if (n < k) throw new ConfigError(`cross-validation with ${k} folds needs at least ${k} rows, got ${n}`);
  const rng = new Random(options.seed);
  const fold = new Int32Array(n);
  if (options.groups) {
    const groups = options.groups;
    let count = 0;
    for (let i = 0; i < n; i++) count = Math.max(count, groups[i]! + 1);
    const sizes = new Int32Array(count);
    for (let i = 0; i < n; i++) sizes[groups[i]!]!++;
    const order = Array.from({ length: count }, (_, g) => g).filter((g) => sizes[g]! > 0);
    if (order.length < k) throw new ConfigError(`cross-validation with ${k} folds needs at least ${k} groups, got ${order.length}`);
    rng.shuffle(order);
    // Stable sort keeps the shuffled order among groups of equal size.
    order.sort((a, b) => sizes[b]! - sizes[a]!);
    const load = new Float64Array(k);
    const groupFold = new Int32Array(count);
    for (const g of order) {
      let best = 0;
      for (let f = 1; f < k; f++) if (load[f]! < load[best]!) best = f;
      groupFold[g] = best;
      load[best]! += sizes[g]!;
    }
    for (let i = 0; i < n; i++) fold[i] = groupFold[groups[i]!]!;
  } else if (options.stratify) {
    const labels = options.stratify;
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const list = byClass.get(labels[i]!);
      if (list) list.push(i);
      else byClass.set(labels[i]!, [i]);
    }
    // Dealing continues across classes so small classes do not all start at fold 0.
    let next = 0;
    for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
      const items = byClass.get(cls)!;
      rng.shuffle(items);
      for (const i of items) fold[i] = next++ % k;
    }
  } else {
    const order = Int32Array.from({ length: n }, (_, i) => i);
    rng.shuffle(order);
    for (let j = 0; j < n; j++) fold[order[j]!] = Math.floor((j * k) / n);
  }
  const folds: RowSplit[] = [];
  for (let f = 0; f < k; f++) {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < n; i++) (fold[i] === f ? test : train).push(i);
    folds.push({ train: Int32Array.from(train), test: Int32Array.from(test) });
  }
  return folds;
}
