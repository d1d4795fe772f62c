"""scikit-learn baseline for bench/boosting.ts: HistGradientBoostingClassifier, times ONLY fit.

Usage: boosting_sklearn.py CSV JSON_PARAMS   (column `test` = 1 marks test rows; empty cells are NaN)
Prints one JSON object: {"fit_seconds", "n_iter", "test_accuracy", "test_macro_f1", "sklearn"}.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score


def main() -> None:
    path, params = sys.argv[1], json.loads(sys.argv[2])
    df = pd.read_csv(path)
    test = df["test"].to_numpy() == 1
    X = df.drop(columns=["label", "test"]).to_numpy(dtype=np.float64)
    y = df["label"].to_numpy()
    model = HistGradientBoostingClassifier(random_state=0, **params)
    t0 = time.perf_counter()
    model.fit(X[~test], y[~test])
    seconds = time.perf_counter() - t0
    pred = model.predict(X[test])
    print(json.dumps({
        "fit_seconds": seconds,
        "n_iter": int(model.n_iter_),
        "test_accuracy": float(accuracy_score(y[test], pred)),
        "test_macro_f1": float(f1_score(y[test], pred, average="macro")),
        "sklearn": sklearn.__version__,
    }))


if __name__ == "__main__":
    main()
