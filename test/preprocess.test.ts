import { describe, expect, it } from "vitest";
import { parseConfig } from "../pipeline/config/load.js";
import type { PipelineConfigInput } from "../pipeline/config/schema.js";
import { ConfigError } from "../pipeline/core/errors.js";
import { tableFromRecords, type Table } from "../pipeline/data/table.js";
import { transformRecord } from "../pipeline/model/transform.js";
import { featureSpecs, fitPreprocessing, forwardFill, interpolate, transformTable } from "../pipeline/train/preprocess.js";
import { Random } from "../pipeline/core/random.js";

type Pre = NonNullable<PipelineConfigInput["preprocessing"]>;

function config(features: string[], preprocessing: Pre, columns: Record<string, unknown> = {}) {
  return parseConfig({
    version: 1,
    model: { name: "t" },
    dataset: {
      path: "x.csv",
      columns: { a: { type: "number" }, c: { type: "category" }, t: { type: "date" }, y: { type: "number" }, ...columns },
      label: { column: "y", binning: { kind: "three_class" } },
      features,
    },
    preprocessing: { outliers: { method: "none" }, ...preprocessing },
    training: { candidates: [{ name: "t", algorithm: "decision_tree" }] },
  });
}

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

function fitAndTransform(table: Table, features: string[], pre: Pre, mode: "train" | "serve" = "train", columns?: Record<string, unknown>) {
  const cfg = config(features, pre, columns);
  const rows = all(table.rowCount);
  const params = fitPreprocessing(table, cfg, rows);
  const specs = featureSpecs(table, cfg.dataset, params, rows);
  const out = transformTable(table, params, specs, { rows, mode, orderBy: cfg.preprocessing.imputation.order_by });
  return { params, specs, out, column: (name: string) => Array.from(out.matrix.features[out.matrix.names.indexOf(name)]!) };
}

describe("imputation", () => {
  // a: observed 1, 2, 2, 4, 100 (and one missing). mean = 109/5 = 21.8, median = 2, mode = 2.
  const table = tableFromRecords({ a: "number" }, [{ a: 1 }, { a: 2 }, { a: null }, { a: 2 }, { a: 4 }, { a: 100 }]);

  it("mean, median and mode fill with the statistic of the training values", () => {
    expect(fitAndTransform(table, ["a"], { imputation: { numeric: "mean" } }).column("a")[2]).toBeCloseTo(21.8, 12);
    expect(fitAndTransform(table, ["a"], { imputation: { numeric: "median" } }).column("a")[2]).toBe(2);
    const mode = fitAndTransform(table, ["a"], { imputation: { numeric: "mode" } });
    expect(mode.column("a")).toEqual([1, 2, 2, 2, 4, 100]);
    expect(mode.params.imputation.a).toEqual({ strategy: "mode", value: 2 });
  });

  it("drop leaves out training rows with a missing value, and serving falls back to the median", () => {
    const r = fitAndTransform(table, ["a"], { imputation: { numeric: "drop" } });
    expect(Array.from(r.out.rows)).toEqual([0, 1, 3, 4, 5]);
    expect(r.column("a")).toEqual([1, 2, 2, 4, 100]);
    expect(r.params.imputation.a).toEqual({ strategy: "drop", value: 2 });
    expect(transformRecord({ a: null }, r.params, r.specs)[0]).toBe(2);
  });

  it("statistics are fitted on the training rows only", () => {
    const cfg = config(["a"], { imputation: { numeric: "mean" } });
    const params = fitPreprocessing(table, cfg, Int32Array.from([0, 1, 2]));
    expect(params.imputation.a!.value).toBe(1.5);
  });

  // a in file order: 1, _, 5, 9; by t the order is rows 0, 3, 1, 2 (values 1, 9, _, 5).
  const seq = tableFromRecords({ a: "number", t: "date" }, [
    { a: 1, t: "2020-01-01" },
    { a: null, t: "2020-01-03" },
    { a: 5, t: "2020-01-04" },
    { a: 9, t: "2020-01-02" },
  ]);

  it("interpolate fills linearly between neighbours, in file order or by order_by", () => {
    expect(fitAndTransform(seq, ["a"], { imputation: { numeric: "interpolate" } }).column("a")).toEqual([1, 3, 5, 9]);
    expect(fitAndTransform(seq, ["a"], { imputation: { numeric: "interpolate", order_by: "t" } }).column("a")).toEqual([1, 7, 5, 9]);
    // Serving has no neighbours: the median of 1, 5, 9.
    const r = fitAndTransform(seq, ["a"], { imputation: { numeric: "interpolate" } });
    expect(transformRecord({ a: "" }, r.params, r.specs)[0]).toBe(5);
    expect(Array.from(interpolate(Float64Array.from([NaN, 2, NaN, NaN, 8, NaN])))).toEqual([2, 2, 4, 6, 8, 8]);
  });

  it("ffill carries the previous value forward; a leading gap takes the fallback", () => {
    expect(fitAndTransform(seq, ["a"], { imputation: { numeric: "ffill" } }).column("a")).toEqual([1, 1, 5, 9]);
    expect(fitAndTransform(seq, ["a"], { imputation: { numeric: "ffill", order_by: "t" } }).column("a")).toEqual([1, 9, 5, 9]);
    const lead = tableFromRecords({ a: "number" }, [{ a: null }, { a: 3 }, { a: null }, { a: 7 }, { a: 11 }]);
    expect(fitAndTransform(lead, ["a"], { imputation: { numeric: "ffill" } }).column("a")).toEqual([7, 3, 3, 7, 11]);
    expect(Array.from(forwardFill(Float64Array.from([NaN, 1, NaN])))).toEqual([NaN, 1, 1]);
  });

  it("per_column overrides the default, and a number strategy on a category column is a config error", () => {
    const t = tableFromRecords({ a: "number", c: "category" }, [{ a: 1, c: "x" }, { a: null, c: null }, { a: 3, c: "y" }, { a: 10, c: "y" }]);
    const r = fitAndTransform(t, ["a", "c"], { imputation: { numeric: "median", per_column: { a: "mean" } } });
    expect(r.column("a")[1]).toBeCloseTo(14 / 3, 12);
    expect(() => fitAndTransform(t, ["a", "c"], { imputation: { per_column: { c: "mean" } } })).toThrowError(ConfigError);
  });
});

describe("outliers", () => {
  // 1, 2, 3, 4, 100: q1 = 2, q3 = 4 (linear interpolation), IQR = 2.
  const table = tableFromRecords({ a: "number" }, [{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }, { a: 100 }, { a: null }]);

  it("IQR cap clips to [q1 - k·IQR, q3 + k·IQR] and the mean is taken after capping", () => {
    const r = fitAndTransform(table, ["a"], { outliers: { method: "iqr", action: "cap", iqr_k: 1.5 }, imputation: { numeric: "mean" } });
    expect(r.params.outliers.a).toEqual({ method: "iqr", action: "cap", lower: -1, upper: 7 });
    // Mean of 1, 2, 3, 4, 7 = 3.4.
    expect(r.column("a")).toEqual([1, 2, 3, 4, 7, 3.4]);
    expect(transformRecord({ a: 50 }, r.params, r.specs)[0]).toBe(7);
    expect(transformRecord({ a: -20 }, r.params, r.specs)[0]).toBe(-1);
  });

  it("IQR remove drops the training row but never a served one", () => {
    const r = fitAndTransform(table, ["a"], { outliers: { method: "iqr", action: "remove", iqr_k: 1.5 } });
    expect(Array.from(r.out.rows)).toEqual([0, 1, 2, 3, 5]);
    expect(r.params.imputation.a!.value).toBe(2.5);
    expect(transformRecord({ a: 100 }, r.params, r.specs)[0]).toBe(100);
    const served = fitAndTransform(table, ["a"], { outliers: { method: "iqr", action: "remove", iqr_k: 1.5 } }, "serve");
    expect(served.out.rows.length).toBe(6);
  });

  it("z-score bounds are mean ± z·std with the population std", () => {
    // mean 22; squared deviations 441 + 400 + 361 + 324 + 6084 = 7610; std = sqrt(1522).
    const r = fitAndTransform(table, ["a"], { outliers: { method: "zscore", action: "cap", z_threshold: 1.5 } });
    const sd = Math.sqrt(1522);
    expect(r.params.outliers.a!.lower).toBeCloseTo(22 - 1.5 * sd, 10);
    expect(r.params.outliers.a!.upper).toBeCloseTo(22 + 1.5 * sd, 10);
    expect(r.column("a")[4]).toBeCloseTo(22 + 1.5 * sd, 10);
  });
});

describe("categorical encoding", () => {
  const table = tableFromRecords({ c: "category" }, [{ c: "y" }, { c: "x" }, { c: "x" }, { c: null }, { c: "z" }]);

  it("ordinal codes follow the sorted fitted categories; missing and unseen values take the mode", () => {
    const r = fitAndTransform(table, ["c"], {});
    expect(r.params.categories.c).toEqual(["x", "y", "z"]);
    expect(r.params.imputation.c).toEqual({ strategy: "mode", value: "x" });
    expect(r.column("c")).toEqual([1, 0, 0, 0, 2]);
    expect(transformRecord({ c: "never seen" }, r.params, r.specs)[0]).toBe(0);
    // The reader normalises case and spaces; so does serving.
    expect(transformRecord({ c: " Z " }, r.params, r.specs)[0]).toBe(2);
  });

  it("the config's category order wins over sorting", () => {
    const r = fitAndTransform(table, ["c"], {}, "train", { c: { type: "category", categories: ["z", "y", "x"] } });
    expect(r.params.categories.c).toEqual(["z", "y", "x"]);
    expect(r.column("c")).toEqual([1, 2, 2, 2, 0]);
  });

  it("one-hot makes one column per fitted category", () => {
    const r = fitAndTransform(table, ["c"], { encoding: "onehot" });
    expect(r.out.matrix.names).toEqual(["c=x", "c=y", "c=z"]);
    expect(r.params.encoded_features).toEqual(["c=x", "c=y", "c=z"]);
    expect(r.column("c=x")).toEqual([0, 1, 1, 1, 0]);
    expect(r.column("c=z")).toEqual([0, 0, 0, 0, 1]);
    expect(Array.from(transformRecord({ c: "y" }, r.params, r.specs))).toEqual([0, 1, 0]);
  });

  it("ffill on a category column carries the previous category", () => {
    const r = fitAndTransform(table, ["c"], { imputation: { categorical: "ffill" } });
    expect(r.column("c")).toEqual([1, 0, 0, 0, 2]);
    const drop = fitAndTransform(table, ["c"], { imputation: { categorical: "drop" } });
    expect(Array.from(drop.out.rows)).toEqual([0, 1, 2, 4]);
  });
});

describe("serving transform", () => {
  it("transformRecord gives exactly the row transformTable gives, for every row", () => {
    const rng = new Random(7);
    const seasons = ["winter", "summer", "spring", "autumn"];
    const records = Array.from({ length: 300 }, () => ({
      a: rng.next() < 0.1 ? null : Math.round(rng.normal() * 1000) / 100,
      c: rng.next() < 0.1 ? null : seasons[rng.int(4)]!,
      t: rng.next() < 0.2 ? null : "2021-03-04",
    }));
    // Fit on the first 200, transform the rest (with categories/values the fit never saw).
    records[250] = { a: 1e6, c: "monsoon", t: null };
    const table = tableFromRecords({ a: "number", c: "category", t: "date" }, records);
    for (const encoding of ["ordinal", "onehot"] as const) {
      const cfg = config(["a", "c"], { encoding, outliers: { method: "iqr", action: "cap", iqr_k: 1.5 } });
      const params = fitPreprocessing(table, cfg, all(200));
      const specs = featureSpecs(table, cfg.dataset, params, all(200));
      const { matrix } = transformTable(table, params, specs);
      for (let r = 0; r < table.rowCount; r++) {
        const row = transformRecord(records[r]!, params, specs);
        expect(Array.from(row)).toEqual(matrix.features.map((f) => f[r]!));
      }
    }
  });
});
