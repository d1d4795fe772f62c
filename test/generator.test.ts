import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { sha256File } from "../pipeline/core/hash.js";
import { writeGeneratedCsv } from "../pipeline/data/csv-writer.js";
import { defaultBuildingCount, generateRecords, seasonOfMonth, SEASONS, THERMAL_COMFORT_COLUMNS, type GenerateOptions, type ThermalComfortRecord } from "../pipeline/data/generator.js";
import { generateDataset, manifestPath, readDatasetManifest } from "../pipeline/data/manifest.js";
import { pmv } from "../pipeline/data/pmv.js";
import { Random } from "../pipeline/core/random.js";
import { PROJECT_ROOT, runCli } from "./helpers/cli.js";

let dir: string;
let config: PipelineConfig;
const cache = new Map<string, ThermalComfortRecord[]>();

function records(options: GenerateOptions): ThermalComfortRecord[] {
  const key = JSON.stringify(options);
  if (!cache.has(key)) cache.set(key, [...generateRecords(options)]);
  return cache.get(key)!;
}

const base = { rows: 20_000, seed: 42 } as const;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "generator-test-"));
  config = (await loadConfig("config/pipeline.yaml", PROJECT_ROOT)).config;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const share = <T>(xs: T[], pred: (x: T) => boolean) => xs.filter(pred).length / xs.length;
const present = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null);
const threeClass = (v: number) => (v < -0.5 ? "cool" : v > 0.5 ? "warm" : "neutral");

describe("generated CSV file", () => {
  it("is byte-identical for the same seed and differs for another seed", async () => {
    const a = await writeGeneratedCsv(join(dir, "a.csv"), { rows: 3000, seed: 7 });
    const b = await writeGeneratedCsv(join(dir, "b.csv"), { rows: 3000, seed: 7 });
    const c = await writeGeneratedCsv(join(dir, "c.csv"), { rows: 3000, seed: 8 });
    expect(a.rows).toBe(3000);
    expect(a.sha256).toBe(b.sha256);
    expect(await readFile(a.path)).toEqual(await readFile(b.path));
    expect(c.sha256).not.toBe(a.sha256);
    expect(await sha256File(a.path)).toBe(a.sha256);
  });

  it("holds exactly what generateRecords yields, header in config order, numbers with fixed decimals", async () => {
    const options = { rows: 2000, seed: 3, drift: "hot-summer" } as const;
    const { path } = await writeGeneratedCsv(join(dir, "same.csv"), options);
    const text = await readFile(path, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.slice(0, -1).split("\n");
    expect(lines[0]).toBe(THERMAL_COMFORT_COLUMNS.join(","));
    // Exactly the configured columns, in the configured order (pmv and ppd are declared as baselines).
    expect(lines[0]!.split(",")).toEqual(Object.keys(config.dataset.columns));
    expect(lines).toHaveLength(2001);
    const recs = records(options);
    const num = (x: number | null, d: number) => (x === null ? "" : x.toFixed(d));
    recs.forEach((r, i) => {
      // Whole votes print as integers, averaged ones with up to two decimals: what String() gives.
      const vote = String(r.thermal_sensation);
      const expected = [r.record_id, r.building_id, r.timestamp, r.season, r.building_type, r.cooling_type, num(r.ta, 1), num(r.tr, 1), r.rh, num(r.vel, 2), num(r.clo, 2), num(r.met, 2), num(r.t_out, 1), vote, num(r.pmv, 2), num(r.ppd, 1)].join(",");
      expect(lines[i + 1], `row ${i + 1}`).toBe(expected);
    });
  });

  it("replaces the target atomically and leaves no temporary file, also when the write fails", async () => {
    const target = join(dir, "atomic", "data.csv");
    await mkdir(join(dir, "atomic"), { recursive: true });
    await writeFile(target, "old");
    await writeGeneratedCsv(target, { rows: 10, seed: 1 });
    expect((await readFile(target, "utf8")).startsWith("record_id,")).toBe(true);
    // A directory in the way: rename fails, the temporary sibling is removed.
    const blocked = join(dir, "atomic", "blocked.csv");
    await mkdir(join(blocked, "inner"), { recursive: true });
    await expect(writeGeneratedCsv(blocked, { rows: 10, seed: 1 })).rejects.toThrow();
    expect((await readdir(join(dir, "atomic"))).sort()).toEqual(["blocked.csv", "data.csv"]);
  });

  it("rejects invalid options", () => {
    expect(() => [...generateRecords({ rows: 0, seed: 1 })]).toThrow(/generator option rows/);
    expect(() => [...generateRecords({ rows: 10, seed: -1 })]).toThrow();
    expect(() => [...generateRecords({ rows: 10, seed: 1, startDate: "2021-13-45" })]).toThrow();
    expect(() => [...generateRecords({ rows: 10, seed: 1, startDate: "2021-02-30" })]).toThrow();
    expect(() => [...generateRecords({ rows: 10, seed: 1, buildings: 0 })]).toThrow();
  });
});

describe("generated records", () => {
  it("stay within the configured ranges and categories", () => {
    const recs = records(base);
    expect(recs).toHaveLength(20_000);
    const cols = config.dataset.columns;
    for (const [name, spec] of Object.entries(cols)) {
      const values = recs.map((r) => r[name as keyof ThermalComfortRecord]);
      if (spec.type === "number" && spec.range) {
        const [lo, hi] = spec.range;
        const bad = present(values as (number | null)[]).filter((v) => !(v >= lo && v <= hi));
        expect(bad, name).toEqual([]);
      }
      if (spec.type === "category" && spec.categories) {
        const bad = values.filter((v) => !spec.categories!.includes(v as string));
        expect(bad, name).toEqual([]);
      }
      if (spec.required) expect(values.filter((v) => v === null), name).toEqual([]);
    }
    for (const r of recs) {
      expect(r.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(r.season).toBe(SEASONS[seasonOfMonth(Number(r.timestamp.slice(5, 7)) - 1)]);
      expect(r.met).toBeGreaterThanOrEqual(0.8);
      expect(r.rh).toBeGreaterThanOrEqual(20);
      expect(r.rh).toBeLessThanOrEqual(80);
    }
  });

  it("carry the ISO 7730 PMV of their own inputs (where tr is present)", () => {
    for (const r of records(base).slice(0, 2000)) {
      if (r.tr === null || r.vel === null) continue;
      const expected = pmv({ ta: r.ta, tr: r.tr, vel: r.vel, rh: r.rh, met: r.met, clo: r.clo });
      expect(Math.abs(r.pmv - expected.pmv)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(Math.abs(r.ppd - expected.ppd)).toBeLessThanOrEqual(0.05 + 1e-9);
    }
  });

  it("have buildings with a fixed type, cooling type and enough records for grouped splits", () => {
    const recs = records(base);
    const byBuilding = new Map<string, ThermalComfortRecord[]>();
    for (const r of recs) byBuilding.set(r.building_id, [...(byBuilding.get(r.building_id) ?? []), r]);
    expect(byBuilding.size).toBeGreaterThanOrEqual(60);
    expect(byBuilding.size).toBeLessThanOrEqual(120);
    for (const [id, rs] of byBuilding) {
      expect(id).toMatch(/^B\d{3,}$/);
      expect(rs.length, id).toBeGreaterThanOrEqual(30);
      expect(new Set(rs.map((r) => r.building_type)).size, id).toBe(1);
      expect(new Set(rs.map((r) => r.cooling_type)).size, id).toBe(1);
    }
    const office = share(recs, (r) => r.building_type === "office");
    expect(office).toBeGreaterThan(0.4);
    expect(office).toBeLessThan(0.75);
  });

  it("have every 3-class label share >= 10 %, a few averaged votes, and the 7-point range", () => {
    const votes = records(base).map((r) => r.thermal_sensation);
    for (const cls of ["cool", "neutral", "warm"]) expect(share(votes, (v) => threeClass(v) === cls), cls).toBeGreaterThanOrEqual(0.1);
    const averaged = share(votes, (v) => !Number.isInteger(v));
    expect(averaged).toBeGreaterThan(0.03);
    expect(averaged).toBeLessThan(0.07);
    expect(Math.min(...votes)).toBe(-3);
    expect(Math.max(...votes)).toBe(3);
  });

  it("have a few missing values and exact duplicate rows for validation to find", () => {
    const recs = records(base);
    expect(share(recs, (r) => r.tr === null)).toBeGreaterThan(0.035);
    expect(share(recs, (r) => r.tr === null)).toBeLessThan(0.065);
    expect(share(recs, (r) => r.t_out === null)).toBeGreaterThan(0.02);
    expect(share(recs, (r) => r.t_out === null)).toBeLessThan(0.04);
    expect(share(recs, (r) => r.vel === null)).toBeGreaterThan(0.01);
    expect(share(recs, (r) => r.vel === null)).toBeLessThan(0.03);
    const lines = recs.map((r) => JSON.stringify(r));
    const duplicates = lines.length - new Set(lines).size;
    expect(duplicates / lines.length).toBeGreaterThan(0.001);
    expect(duplicates / lines.length).toBeLessThan(0.006);
  });

  it("follow the physics of seasons and cooling strategies", () => {
    const recs = records(base);
    const of = (pred: (r: ThermalComfortRecord) => boolean) => recs.filter(pred);
    const winter = of((r) => r.season === "winter");
    const summer = of((r) => r.season === "summer");
    expect(mean(present(summer.map((r) => r.t_out)))).toBeGreaterThan(mean(present(winter.map((r) => r.t_out))) + 12);
    expect(mean(winter.map((r) => r.clo))).toBeGreaterThan(mean(summer.map((r) => r.clo)) + 0.25);
    const nvSummer = summer.filter((r) => r.cooling_type === "naturally ventilated");
    const acSummer = summer.filter((r) => r.cooling_type === "air conditioned");
    expect(mean(nvSummer.map((r) => r.ta))).toBeGreaterThan(mean(acSummer.map((r) => r.ta)) + 1);
    expect(mean(present(nvSummer.map((r) => r.vel)))).toBeGreaterThan(mean(present(acSummer.map((r) => r.vel))));
    // Adaptive effect: in warm free-running buildings votes sit below PMV.
    const warmNv = nvSummer.filter((r) => r.pmv > 1);
    expect(mean(warmNv.map((r) => r.thermal_sensation))).toBeLessThan(mean(warmNv.map((r) => r.pmv)) - 0.3);
    const seated = share(recs, (r) => r.met >= 1.0 && r.met <= 1.3);
    expect(seated).toBeGreaterThan(0.8);
  });
});

describe("Random", () => {
  it("gives uniform and standard normal draws, independent streams per seed and stream id", () => {
    const r = new Random(123);
    const u = Array.from({ length: 50_000 }, () => r.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(mean(u)).toBeCloseTo(0.5, 2);
    const z = Array.from({ length: 50_000 }, () => r.normal());
    const m = mean(z);
    expect(Math.abs(m)).toBeLessThan(0.02);
    expect(Math.sqrt(mean(z.map((x) => (x - m) ** 2)))).toBeCloseTo(1, 1);
    expect(new Random(1).uint32()).toBe(new Random(1).uint32());
    expect(new Random(1).uint32()).not.toBe(new Random(2).uint32());
    expect(new Random(1, 1).uint32()).not.toBe(new Random(1, 2).uint32());
  });

  it("defaults to one building per ~200 rows and at least 10", () => {
    expect(defaultBuildingCount(20_000)).toBe(100);
    expect(defaultBuildingCount(500)).toBe(10);
    expect(defaultBuildingCount(3)).toBe(3);
  });
});

describe("drift modes", () => {
  it("hot-summer shifts outdoor and indoor temperatures up and votes warmer", () => {
    const none = records(base);
    const hot = records({ ...base, drift: "hot-summer" });
    const tOut = (rs: ThermalComfortRecord[]) => mean(present(rs.map((r) => r.t_out)));
    expect(tOut(hot)).toBeGreaterThan(tOut(none) + 8);
    expect(mean(hot.map((r) => r.ta))).toBeGreaterThan(mean(none.map((r) => r.ta)) + 1.5);
    expect(mean(hot.map((r) => r.thermal_sensation))).toBeGreaterThan(mean(none.map((r) => r.thermal_sensation)) + 0.2);
    expect(share(hot, (r) => r.season === "summer")).toBe(1);
  });

  it("building-stock changes the mix towards naturally ventilated classrooms and housing", () => {
    const none = records(base);
    const stock = records({ ...base, drift: "building-stock" });
    expect(share(stock, (r) => r.building_type === "office")).toBeLessThan(0.2);
    expect(share(stock, (r) => r.building_type === "classroom" || r.building_type === "multifamily housing")).toBeGreaterThan(0.6);
    expect(share(stock, (r) => r.cooling_type === "naturally ventilated")).toBeGreaterThan(0.6);
    expect(share(none, (r) => r.cooling_type === "naturally ventilated")).toBeLessThan(0.45);
  });
});

describe("committed dataset", () => {
  it("matches data/manifest.json and is reproduced by the generator from the manifest's seed", async () => {
    const manifest = await readDatasetManifest(join(PROJECT_ROOT, "data/manifest.json"));
    expect(manifest.path).toBe(config.dataset.path);
    const file = join(PROJECT_ROOT, manifest.path);
    expect(await sha256File(file)).toBe(manifest.sha256);
    const text = await readFile(file, "utf8");
    expect(text.split("\n").length - 2).toBe(manifest.rows);
    expect(manifest.columns).toEqual([...THERMAL_COMFORT_COLUMNS]);
    const g = manifest.generator;
    const again = await writeGeneratedCsv(join(dir, "again.csv"), { rows: manifest.rows, seed: g.seed, drift: g.drift, startDate: g.start_date, buildings: g.buildings });
    expect(again.sha256).toBe(manifest.sha256);
    expect((await readFile(file)).length).toBeLessThan(2 * 1024 * 1024);
  });
});

describe("generateDataset", () => {
  it("records the CSV path relative to the root in the manifest", async () => {
    const root = await mkdtemp(join(dir, "root-"));
    const result = await generateDataset({ out: join(root, "data", "d.csv"), root, options: { rows: 50, seed: 2 }, manifestFile: join(root, "data", "manifest.json") });
    const manifest = await readDatasetManifest(join(root, "data", "manifest.json"));
    expect(manifest).toEqual(result.manifest);
    expect(manifest.path).toBe("data/d.csv");
    expect(manifestPath("/elsewhere/d.csv", root)).toBe("/elsewhere/d.csv");
  });
});

describe("pipeline generate", () => {
  it("writes the CSV and its manifest", async () => {
    const out = join(dir, "cli", "d.csv");
    const manifestFile = join(dir, "cli", "manifest.json");
    const result = await runCli(["generate", "--rows", "500", "--seed", "5", "--drift", "building-stock", "--out", out, "--manifest", manifestFile]);
    expect(result.stderr).toContain("wrote 500 rows");
    expect(result.code).toBe(0);
    const manifest = await readDatasetManifest(manifestFile);
    expect(manifest).toMatchObject({ version: 1, path: out, rows: 500, generator: { name: "thermal-comfort-generator", version: 1, seed: 5, drift: "building-stock" } });
    expect(await sha256File(out)).toBe(manifest.sha256);
  });

  it.each([
    [["--rows", "-5"], "--rows"],
    [["--rows", "10", "--seed", "x"], "--seed"],
    [["--rows", "10", "--drift", "cold"], "--drift"],
    [["--rows", "10", "--start-date", "2021-02-30"], "--start-date"],
  ])("rejects %j with exit 2 naming the flag, writing nothing", async (args, flag) => {
    const outDir = await mkdtemp(join(dir, "cli-bad-"));
    const result = await runCli(["generate", ...args, "--out", join(outDir, "x.csv")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(flag);
    expect(await readdir(outDir)).toEqual([]);
  });
});
