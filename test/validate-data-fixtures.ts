import { parseConfig } from "../pipeline/config/load.js";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { tableFromRecords, type Table } from "../pipeline/data/table.js";
import type { DatasetRead } from "../pipeline/validate-data/schema-check.js";
import { Random } from "../pipeline/core/random.js";

/** Small, seeded data for the validate-data tests (not a test file itself). */

/** Uniform draws in [0, 1) from the project's seeded PRNG, as a plain function for the fixtures. */
export function rng(seed: number): () => number {
  const random = new Random(seed);
  return () => random.next();
}

/** Standard normal, clipped to ±3 so that clean data has no outliers by construction. */
export function normal(r: () => number): number {
  for (;;) {
    const u = 1 - r();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
    if (Math.abs(z) <= 3) return z;
  }
}

export const SEASONS = ["winter", "spring", "summer", "autumn"];

export function testConfig(overrides: Record<string, unknown> = {}): PipelineConfig {
  return parseConfig({
    version: 1,
    model: { name: "test-model" },
    dataset: {
      path: "data.csv",
      columns: {
        record_id: { type: "number", required: true },
        building_id: { type: "category", required: true, normalize: false },
        season: { type: "category", categories: SEASONS },
        ta: { type: "number", required: true, range: [5, 45] },
        rh: { type: "number", range: [0, 100] },
        thermal_sensation: { type: "number", required: true, range: [-3, 3] },
      },
      label: { column: "thermal_sensation", binning: { kind: "three_class", cool_below: -0.5, warm_above: 0.5 } },
      features: ["ta", "rh", "season"],
      group: "building_id",
    },
    validation: { min_rows: 50 },
    training: { candidates: [{ name: "tree", algorithm: "decision_tree" }] },
    ...overrides,
  });
}

export interface GenOptions {
  rows: number;
  seed: number;
  taMean?: number;
  taSd?: number;
  seasonWeights?: number[];
}

export type Row = Record<string, number | string | null>;

/** Records like the thermal comfort data: the vote follows air temperature, with noise. */
export function generateRows(o: GenOptions): Row[] {
  const r = rng(o.seed);
  const weights = o.seasonWeights ?? [0.25, 0.25, 0.25, 0.25];
  const rows: Row[] = [];
  for (let i = 0; i < o.rows; i++) {
    const ta = Math.round(((o.taMean ?? 24) + (o.taSd ?? 2.5) * normal(r)) * 100) / 100;
    const rh = Math.round((50 + 10 * normal(r)) * 10) / 10;
    let u = r();
    let s = 0;
    while (s < weights.length - 1 && u >= weights[s]!) u -= weights[s++]!;
    const vote = Math.max(-3, Math.min(3, Math.round((ta - 24) / 2.5 + normal(r) * 0.8)));
    rows.push({ record_id: i + 1, building_id: `b${i % 20}`, season: SEASONS[s]!, ta, rh, thermal_sensation: vote });
  }
  return rows;
}

export const SPEC = { record_id: "number", building_id: "category", season: "category", ta: "number", rh: "number", thermal_sensation: "number" } as const;

export function tableOf(rows: Row[]): Table {
  return tableFromRecords(SPEC, rows);
}

export function readOf(table: Table, extra: Partial<DatasetRead> = {}): DatasetRead {
  return {
    table,
    path: "memory.csv",
    sha256: "0".repeat(64),
    bytes: 0,
    violations: [],
    violationCount: 0,
    violationsByColumn: {},
    headerMap: {},
    missingColumns: [],
    extraColumns: [],
    ...extra,
  };
}

export function toCsv(rows: Row[]): string {
  const cols = Object.keys(SPEC);
  return [cols.join(","), ...rows.map((r) => cols.map((c) => (r[c] === null || r[c] === undefined ? "" : String(r[c]))).join(","))].join("\n") + "\n";
}
