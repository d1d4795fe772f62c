"""Baseline for bench/validate-data.ts: pandas read_csv plus the same checks as validate-data.

    /usr/bin/python3 bench/validate_data_pandas.py DATA.csv SPEC.json [REPEATS]

SPEC.json (written by the TypeScript bench from the pipeline config) names the columns, their
types, ranges and categories, the features, the label binning and the thresholds, so both sides
check the same things. Prints one JSON line: best read / check / total seconds, the first run's total, and the findings
(so the two sides can be compared for agreement, not only speed).
"""
import json
import sys
import time

import numpy as np
import pandas as pd


def read(path, spec):
    dtype = {}
    dates = []
    for name, col in spec["columns"].items():
        if col["type"] == "number":
            dtype[name] = "float64"
        elif col["type"] == "category":
            dtype[name] = "category"
        else:
            dates.append(name)
    df = pd.read_csv(path, usecols=list(spec["columns"].keys()), dtype=dtype, parse_dates=dates, sep=spec["delimiter"])
    for d in spec["derived"]:
        df[d["name"]] = df[d["from"]].dt.to_period("M").astype("category")
    return df


def checks(df, spec):
    v = spec["validation"]
    n = len(df)
    out = {}
    # schema: ranges and categories (the TS reader checks these while parsing)
    violations = 0
    for name, col in spec["columns"].items():
        s = df[name]
        if col["type"] == "number" and col.get("range"):
            lo, hi = col["range"]
            violations += int(((s < lo) | (s > hi)).sum())
        elif col["type"] == "category" and col.get("categories"):
            violations += int((s.notna() & ~s.isin(col["categories"])).sum())
    out["violations"] = violations
    # missing share, constants, all-missing, summary stats
    missing = df.isna().mean()
    out["missing_over"] = [c for c in df.columns if missing[c] > v["missing"]["per_column"].get(c, v["missing"]["max_share"])]
    nunique = df.nunique()
    out["constant"] = [c for c in df.columns if nunique[c] == 1]
    out["all_missing"] = [c for c in df.columns if missing[c] == 1.0]
    numeric = [c for c, col in spec["columns"].items() if col["type"] == "number"]
    df[numeric].agg(["min", "max", "mean", "std"])
    # identifiers (not a meaningful column, integer-valued or categorical, all distinct) are left
    # out of the duplicate comparison
    ids = [c for c in spec["id_candidates"] if df[c].notna().sum() >= 2 and df[c].dropna().is_unique]
    out["duplicates"] = int(df.drop(columns=ids).duplicated().sum())
    # outliers on numeric features: IQR and z-score
    outliers = {}
    k = v["outliers"]["iqr_k"]
    zt = v["outliers"]["z_threshold"]
    for c in spec["numeric_features"]:
        s = df[c]
        q1, q3 = s.quantile([0.25, 0.75])
        iqr = q3 - q1
        n_iqr = int(((s < q1 - k * iqr) | (s > q3 + k * iqr)).sum()) if iqr > 0 else 0
        z = (s - s.mean()) / s.std()
        outliers[c] = [n_iqr, int((z.abs() > zt).sum())]
    out["outliers"] = outliers
    # label binning and imbalance
    b = spec["binning"]
    y = df[spec["label"]]
    if b["kind"] == "three_class":
        codes = np.select([y < b["cool_below"], y > b["warm_above"]], [0, 2], 1)
        codes = np.where(y.isna(), -1, codes)
    else:
        v = y.fillna(0).to_numpy()
        codes = np.where(y.isna(), -1, np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -3, 3) + 3)
    counts = np.bincount(codes[codes >= 0].astype(np.int64), minlength=len(b["classes"]))
    out["label_counts"] = counts.tolist()
    out["min_class_share"] = float(counts.min() / max(1, counts.sum()))
    out["rows"] = n
    return out


def main():
    path, spec_path = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    with open(spec_path) as f:
        spec = json.load(f)
    best = None
    first = None
    findings = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        df = read(path, spec)
        t1 = time.perf_counter()
        findings = checks(df, spec)
        t2 = time.perf_counter()
        del df
        run = (t1 - t0, t2 - t1, t2 - t0)
        if first is None:
            first = run
        if best is None or run[2] < best[2]:
            best = run
    print(json.dumps({"read_s": best[0], "checks_s": best[1], "total_s": best[2], "first_total_s": first[2], "findings": findings}))


if __name__ == "__main__":
    main()
