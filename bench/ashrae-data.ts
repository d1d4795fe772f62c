/**
 * ASHRAE DB II as the benchmarks read it (bench/tree.ts, bench/boosting.ts, bench/artifact.ts): the 7
 * comfort features, a 3-class label, test = buildings with building_id % 5 == 0.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import type { TrainMatrix } from "../pipeline/train/tree.js";

export interface Dataset {
  X: TrainMatrix;
  y: Int32Array;
}

/** The dataset next to the checkout (../shared/datasets), from source (bench/) or compiled (dist/bench/). */
export function findAshrae(moduleUrl: string): { file: string | undefined; looked: string[] } {
  const here = path.dirname(fileURLToPath(moduleUrl));
  const looked = [path.join(here, "..", "..", "shared", "datasets"), path.join(here, "..", "..", "..", "shared", "datasets")].map((p) => path.join(p, "ashrae-db2-v2.1.0.csv.gz"));
  return { file: looked.find((p) => fs.existsSync(p)), looked };
}

/** Minimal CSV line splitter (double-quoted fields may hold commas). */
function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(",");
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export const ASHRAE_FEATURES = ["ta", "tr", "rh", "vel", "clo", "met", "t_out"];

/**
 * ASHRAE DB II: the 7 features, 3-class label from thermal_sensation (cool < -0.5 <= neutral <= 0.5 < warm),
 * test = buildings with building_id % 5 == 0 (grouped split). The installed scikit-learn's forest may not
 * take NaN, so missing values are imputed with training medians on both sides.
 */
export function loadAshrae(file: string, options: { impute?: boolean } = {}): { d: Dataset; test: Uint8Array; building: Int32Array } {
  const lines = zlib.gunzipSync(fs.readFileSync(file)).toString("utf8").split(/\r?\n/);
  const header = splitCsvLine(lines[0]);
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${file}: no column ${name}`);
    return i;
  };
  const fIdx = ASHRAE_FEATURES.map(col);
  const ts = col("thermal_sensation");
  const buildingCol = col("building_id");
  const building: number[] = [];
  const cols: number[][] = ASHRAE_FEATURES.map(() => []);
  const y: number[] = [];
  const test: number[] = [];
  const num = (s: string | undefined) => (s === undefined || s.trim() === "" ? Number.NaN : Number(s));
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === "") continue;
    const cells = splitCsvLine(lines[i]);
    const t = num(cells[ts]);
    if (Number.isNaN(t)) continue;
    y.push(t < -0.5 ? 0 : t <= 0.5 ? 1 : 2);
    const b = Number(cells[buildingCol]);
    building.push(b);
    test.push(b % 5 === 0 ? 1 : 0);
    fIdx.forEach((c, f) => cols[f].push(num(cells[c])));
  }
  const features = cols.map((c) => Float64Array.from(c));
  if (options.impute !== false) for (const c of features) {
    const present = c.filter((v, i) => !Number.isNaN(v) && test[i] === 0).sort();
    const median = present.length ? present[present.length >> 1] : 0;
    for (let i = 0; i < c.length; i++) if (Number.isNaN(c[i])) c[i] = median;
  }
  return { d: { X: { rows: y.length, features, names: ASHRAE_FEATURES }, y: Int32Array.from(y) }, test: Uint8Array.from(test), building: Int32Array.from(building) };
}

export function subset(d: Dataset, mask: ArrayLike<number>, want: number): Dataset {
  const idx: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] === want) idx.push(i);
  return {
    X: { rows: idx.length, features: d.X.features.map((c) => Float64Array.from(idx, (i) => c[i])), names: d.X.names },
    y: Int32Array.from(idx, (i) => d.y[i]),
  };
}

