"""FastAPI + uvicorn + scikit-learn baseline for bench/serve.ts.

A RandomForestClassifier the size of the production forest (the artifact's own parameters), trained
on the same CSV with the same features and label binning, served the way a typical FastAPI model
service does it: a pydantic record in, predict_proba on a one-row frame, JSON out.

Usage: serve_fastapi.py serve CSV PARAMS_JSON PORT
       serve_fastapi.py batch CSV PARAMS_JSON RECORDS_JSON REPEATS
PARAMS_JSON: {"features": [...], "categories": {name: [...]}, "label": COLUMN, "cool_below", "warm_above",
              "n_trees", "max_depth", "min_samples_leaf", "max_samples", "class_weight"}
`batch` prints {"rows_per_second", "seconds_per_call", "rows", "sklearn"}: in-process predict_proba only.
"""
import json
import sys
import time
from typing import Optional

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestClassifier

CLASSES = ["cool", "neutral", "warm"]


def encoder(df: pd.DataFrame, params: dict):
    """Ordinal codes for categories, the training median / mode for missing values (as the artifact does)."""
    features = params["features"]
    cats = params["categories"]
    fills = {}
    for f in features:
        if f in cats:
            codes = df[f].map({c: i for i, c in enumerate(cats[f])})
            fills[f] = float(codes.mode().iloc[0])
        else:
            fills[f] = float(pd.to_numeric(df[f], errors="coerce").median())

    def encode(frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(features)), dtype=np.float64)
        for j, f in enumerate(features):
            if f in cats:
                col = frame[f].map({c: i for i, c in enumerate(cats[f])}) if f in frame else pd.Series([np.nan] * len(frame))
            else:
                col = pd.to_numeric(frame[f], errors="coerce") if f in frame else pd.Series([np.nan] * len(frame))
            out[:, j] = col.fillna(fills[f]).to_numpy(dtype=np.float64)
        return out

    return encode


def train(csv: str, params: dict):
    df = pd.read_csv(csv)
    y_raw = pd.to_numeric(df[params["label"]], errors="coerce")
    keep = y_raw.notna()
    df, y_raw = df[keep], y_raw[keep]
    y = np.where(y_raw < params["cool_below"], 0, np.where(y_raw > params["warm_above"], 2, 1))
    encode = encoder(df, params)
    model = RandomForestClassifier(
        n_estimators=params["n_trees"],
        max_depth=params["max_depth"],
        min_samples_leaf=params["min_samples_leaf"],
        max_samples=params["max_samples"],
        max_features="sqrt",
        class_weight=params["class_weight"],
        random_state=0,
    )
    model.fit(encode(df), y)
    return model, encode


def serve(csv: str, params: dict, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    model, encode = train(csv, params)

    class Record(BaseModel):
        ta: Optional[float] = None
        tr: Optional[float] = None
        rh: Optional[float] = None
        vel: Optional[float] = None
        clo: Optional[float] = None
        met: Optional[float] = None
        t_out: Optional[float] = None
        season: Optional[str] = None
        building_type: Optional[str] = None
        cooling_type: Optional[str] = None

    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "healthy"}

    @app.post("/predict")
    def predict(record: Record) -> dict:
        # pydantic 2 has model_dump, pydantic 1 (Debian's) dict.
        frame = pd.DataFrame([record.model_dump() if hasattr(record, "model_dump") else record.dict()])
        proba = model.predict_proba(encode(frame))[0]
        best = int(np.argmax(proba))
        return {"class": CLASSES[best], "probabilities": {c: float(p) for c, p in zip(CLASSES, proba)}, "confidence": float(proba[best])}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def batch(csv: str, params: dict, records_path: str, repeats: int) -> None:
    model, encode = train(csv, params)
    with open(records_path, encoding="utf-8") as fh:
        records = json.load(fh)
    frame = pd.DataFrame(records)
    X = encode(frame)
    model.predict_proba(X)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_proba(X)
        times.append(time.perf_counter() - t0)
    median = sorted(times)[len(times) // 2]
    print(json.dumps({"rows_per_second": len(X) / median, "seconds_per_call": median, "rows": len(X), "sklearn": sklearn.__version__}))


def main() -> None:
    mode, csv = sys.argv[1], sys.argv[2]
    with open(sys.argv[3], encoding="utf-8") as fh:
        params = json.load(fh)
    if mode == "serve":
        serve(csv, params, int(sys.argv[4]))
    elif mode == "batch":
        batch(csv, params, sys.argv[4], int(sys.argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
