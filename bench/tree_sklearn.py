"""scikit-learn baseline for bench/tree.ts: times ONLY fit on the same CSV the TypeScript side uses.

Usage: tree_sklearn.py tree CSV MAX_DEPTH REPS            (last 20% of rows are the test set)
       tree_sklearn.py forest CSV MAX_DEPTH N_TREES N_JOBS (column `test` = 1 marks test rows)
Prints one JSON object: {"fit_seconds", "test_accuracy", "test_macro_f1", "sklearn"}.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.tree import DecisionTreeClassifier


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    df = pd.read_csv(path)
    if mode == "tree":
        max_depth, reps = int(sys.argv[3]), int(sys.argv[4])
        X = df.drop(columns=["label"]).to_numpy(dtype=np.float64)
        y = df["label"].to_numpy()
        n_train = len(df) - len(df) // 5
        best = float("inf")
        model = None
        for _ in range(reps):
            model = DecisionTreeClassifier(max_depth=max_depth, random_state=0)
            t0 = time.perf_counter()
            model.fit(X[:n_train], y[:n_train])
            best = min(best, time.perf_counter() - t0)
        pred = model.predict(X[n_train:])
        y_test = y[n_train:]
    else:
        max_depth, n_trees, n_jobs = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        test = df["test"].to_numpy() == 1
        X = df.drop(columns=["label", "test"]).to_numpy(dtype=np.float64)
        y = df["label"].to_numpy()
        model = RandomForestClassifier(n_estimators=n_trees, max_depth=max_depth, max_features="sqrt", n_jobs=n_jobs, random_state=0)
        t0 = time.perf_counter()
        model.fit(X[~test], y[~test])
        best = time.perf_counter() - t0
        pred = model.predict(X[test])
        y_test = y[test]
    print(json.dumps({
        "fit_seconds": best,
        "test_accuracy": float(accuracy_score(y_test, pred)),
        "test_macro_f1": float(f1_score(y_test, pred, average="macro")),
        "sklearn": sklearn.__version__,
    }))


if __name__ == "__main__":
    main()
