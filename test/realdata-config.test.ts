import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../pipeline/config/load.js";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { readDataset } from "../pipeline/data/csv.js";
import { generateDataset } from "../pipeline/data/manifest.js";
import { SCHEMA_VIOLATION_POLICY } from "../pipeline/data/violations.js";
import { train } from "../pipeline/train/index.js";
import { SplitExportSchema } from "../pipeline/train/split-export.js";
import { groupIds } from "../pipeline/train/split.js";
import { checkDataset } from "../pipeline/validate-data/index.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

/** Issue 11, cases 4-8: config for a new dataset, duplicates, one story, spelling, honest splits. */

let dir: string;
let base: PipelineConfig;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "realdata-config-"));
  base = (await loadConfig("config/pipeline.yaml", PROJECT_ROOT)).config;
  await generateDataset({ out: join(dir, "data", "comfort.csv"), root: dir, options: { rows: 3000, seed: 31 } });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("extends and paths (case 4)", () => {
  it("a profile removes base columns with null, replaces lists, and paths resolve from the file that holds them", async () => {
    await mkdir(join(dir, "profiles"), { recursive: true });
    await writeFile(
      join(dir, "profiles", "new.yaml"),
      [
        `extends: ${JSON.stringify(join(PROJECT_ROOT, "config/pipeline.yaml"))}`,
        "dataset:",
        "  path: ../data/comfort.csv",
        "  columns: { record_id: null, pmv: null, ppd: null }",
        "  features: [ta, tr, rh, vel]",
        "  slices: [season]",
        "promotion: { gates: { slices: { columns: [season] } } }",
      ].join("\n"),
    );
    const { config } = await loadConfig("profiles/new.yaml", dir);
    expect(config.dataset.path).toBe("data/comfort.csv"); // relative to the root the steps resolve against
    expect(Object.keys(config.dataset.columns)).not.toContain("record_id");
    expect(Object.keys(config.dataset.columns)).toContain("ta");
    expect(config.dataset.features).toEqual(["ta", "tr", "rh", "vel"]);
    // The base's own dataset.path resolved from the base file's directory, whatever the root.
    const fromElsewhere = await loadConfig(join(PROJECT_ROOT, "config/pipeline.yaml"), dir);
    expect(join(dir, fromElsewhere.config.dataset.path)).toBe(join(PROJECT_ROOT, "data/thermal-comfort.csv"));
    // The removed column is no longer required: the file without it reads.
    const read = await readDataset(join(dir, config.dataset.path), config.dataset);
    expect(read.table.columns.has("record_id")).toBe(false);
  });

  it("removing a column the base still uses is an error naming it", async () => {
    await writeFile(join(dir, "profiles", "broken.yaml"), `extends: ${JSON.stringify(join(PROJECT_ROOT, "config/pipeline.yaml"))}\ndataset: { columns: { ta: null } }\n`);
    await expect(loadConfig("profiles/broken.yaml", dir)).rejects.toThrowError(/dataset\.features\.0: unknown column "ta"/);
  });

  it("a composite group key keeps each combination together", async () => {
    const config = parseConfig({ ...base, dataset: { ...base.dataset, path: "data/comfort.csv", group: ["building_id", "season"] } });
    expect(config.dataset.group).toBe("building_id+season");
    expect(config.dataset.derived).toContainEqual({ name: "building_id+season", kind: "composite", from: ["building_id", "season"] });
    const read = await readDataset(join(dir, "data/comfort.csv"), config.dataset);
    const key = read.table.columns.get("building_id+season")!;
    expect(key.kind).toBe("category");
    const buildings = groupIds(read.table.columns.get("building_id")!, read.table.rowCount).count;
    const combos = groupIds(key, read.table.rowCount).count;
    expect(combos).toBeGreaterThan(buildings);
    // Two rows share a key exactly when they share building and season.
    const b = read.table.columns.get("building_id")!;
    const s = read.table.columns.get("season")!;
    if (key.kind !== "category" || b.kind !== "category" || s.kind !== "category") throw new Error("category columns expected");
    const seen = new Map<number, string>();
    for (let r = 0; r < read.table.rowCount; r++) {
      const pair = `${b.codes[r]}/${s.codes[r]}`;
      const before = seen.get(key.codes[r]!);
      if (before !== undefined) expect(before).toBe(pair);
      seen.set(key.codes[r]!, pair);
    }
    expect(() => parseConfig({ ...base, dataset: { ...base.dataset, group: ["building_id", "nope"] } })).toThrowError(/dataset\.derived\.\d+\.from\.1: unknown column "nope"/);
  });
});

describe("duplicates by identifiers or compared columns (case 5)", () => {
  it("dataset.identifiers leaves an id with a few repeats out of the comparison; validation.duplicates.columns compares only those", async () => {
    const header = "record_id,building_id,timestamp,season,building_type,cooling_type,ta,tr,rh,vel,clo,met,t_out,thermal_sensation";
    const rows: string[] = [];
    for (let i = 0; i < 600; i++) {
      // Record ids repeat now and then (an export that restarts numbering), and every tenth row is
      // a copy of the row before it under a new id.
      const id = i % 50 === 49 ? 1 : i + 1;
      const copy = i % 10 === 9;
      const j = copy ? i - 1 : i;
      rows.push(`${id},b${j % 30},2021-0${1 + (j % 9)}-1${j % 10},winter,office,air conditioned,${20 + (j % 70) / 10},${21 + (j % 50) / 10},${40 + (j % 30)},0.1,${0.5 + (j % 5) / 10},1.1,${5 + (j % 20)},${(j % 7) - 3}`);
    }
    await writeFile(join(dir, "ids.csv"), [header, ...rows].join("\n") + "\n");
    const withIds = parseConfig({ ...base, dataset: { ...base.dataset, path: "ids.csv", identifiers: ["record_id"] } });
    const read = await readDataset(join(dir, "ids.csv"), withIds.dataset);
    const declared = checkDataset(read, withIds).report.duplicates;
    expect(declared.count).toBe(60);
    expect(declared.excluded_columns).toContain("record_id");
    // Without the declaration the id-like column has repeats, is compared, and hides the copies.
    const plain = checkDataset(read, parseConfig({ ...base, dataset: { ...base.dataset, path: "ids.csv" } })).report.duplicates;
    expect(plain.count).toBeLessThan(declared.count);
    // Only the listed columns are compared: rows equal on (building_id, season) are duplicates.
    const only = parseConfig({ ...withIds, validation: { ...withIds.validation, duplicates: { max_share: 0.05, columns: ["building_id", "season"] } } });
    const byColumns = checkDataset(read, only).report;
    // (b9, b19 and b29 never occur: those rows are copies of the row before): 27 distinct pairs.
    expect(byColumns.duplicates.count).toBe(600 - 27);
    expect(byColumns.issues.find((i) => i.check === "duplicates")!.message).toMatch(/comparing only building_id, season/);
    expect(() => parseConfig({ ...base, dataset: { ...base.dataset, identifiers: ["ta"] } })).toThrowError(/identifiers\.0: "ta" identifies records; it cannot also be a feature/);
  });
});

describe("one story for out-of-range values (case 6) and original spelling (case 7)", () => {
  it("validate-data and train say the same thing, and the value is kept as read", async () => {
    const lines = (await readFile(join(dir, "data/comfort.csv"), "utf8")).split("\n");
    const cols = lines[0]!.split(",");
    const ta = cols.indexOf("ta");
    const cells = lines[1]!.split(",");
    cells[ta] = "48.5"; // above the configured range [5, 45]
    lines[1] = cells.join(",");
    await writeFile(join(dir, "range.csv"), lines.join("\n"));
    const config = parseConfig({ ...base, dataset: { ...base.dataset, path: "range.csv" }, training: { ...base.training, permutation_importance_repeats: 0, candidates: [{ name: "t", algorithm: "decision_tree", params: { max_depth: 4 } }] } });
    const read = await readDataset(join(dir, "range.csv"), config.dataset);
    const column = read.table.columns.get("ta")!;
    expect(column.kind === "number" && column.values[0]).toBe(48.5);
    const issue = checkDataset(read, config).report.issues.find((i) => i.check === "schema_violations")!;
    expect(issue.recommendation).toContain(SCHEMA_VIOLATION_POLICY);
    expect(SCHEMA_VIOLATION_POLICY).toMatch(/out-of-range numbers and dates are kept as read/);
    const reporter = recordingReporter();
    await train({ config, configSha256: "0".repeat(64), root: dir, outDir: join(dir, "out-range"), reporter });
    expect(reporter.warnings.join("\n")).toContain(SCHEMA_VIOLATION_POLICY);
  }, 120_000);

  it("categories keep the config's spelling (closed lists) or the file's first spelling (open sets) in reports", async () => {
    await writeFile(join(dir, "spelling.csv"), ["grade,site,x,y", "I,North Hall,1,0", "ii,north hall,2,1", "III,NORTH HALL,3,0", " II ,South Wing,4,1", "i,South Wing,5,0"].join("\n") + "\n");
    const config = parseConfig({
      version: 1,
      model: { name: "spelling" },
      dataset: {
        path: "spelling.csv",
        columns: { grade: { type: "category", categories: ["I", "II", "III"] }, site: { type: "category" }, x: { type: "number" }, y: { type: "number" } },
        label: { column: "y", binning: { kind: "three_class", cool_below: 0.5, warm_above: 0.5 } },
        features: ["grade", "site", "x"],
      },
      validation: { min_rows: 1 },
      training: { candidates: [{ name: "t", algorithm: "decision_tree" }] },
    });
    const read = await readDataset(join(dir, "spelling.csv"), config.dataset);
    expect(read.violationCount).toBe(0); // matching is still case- and space-insensitive
    const { profile } = checkDataset(read, config, { profile: true });
    expect(profile!.columns.grade).toMatchObject({ kind: "category", counts: { I: 2, II: 2, III: 1 } });
    expect(Object.keys((profile!.columns.site as { counts: Record<string, number> }).counts)).toEqual(["North Hall", "South Wing"]);
  });
});

describe("honest figures: --export-split (case 8)", () => {
  it("writes the train and test row numbers of the file; groups never cross; sizes match the metrics", async () => {
    const config = parseConfig({ ...base, dataset: { ...base.dataset, path: "data/comfort.csv" }, training: { ...base.training, permutation_importance_repeats: 0, candidates: [{ name: "t", algorithm: "decision_tree", params: { max_depth: 4 } }] } });
    const result = await train({ config, configSha256: "0".repeat(64), root: dir, outDir: join(dir, "out-split"), exportSplitPath: "out-split/split.json", reporter: recordingReporter() });
    const exported = SplitExportSchema.parse(JSON.parse(await readFile(join(dir, "out-split/split.json"), "utf8")));
    expect(exported.train).toHaveLength(result.metrics.split.train_rows);
    expect(exported.test).toHaveLength(result.metrics.split.test_rows);
    const all = new Set([...exported.train, ...exported.test]);
    expect(all.size).toBe(exported.train.length + exported.test.length);
    expect(exported.data).toMatchObject({ path: "data/comfort.csv", rows: 3000, sha256: result.model.lineage.data_sha256 });
    const read = await readDataset(join(dir, "data/comfort.csv"), config.dataset);
    const b = read.table.columns.get("building_id")!;
    if (b.kind !== "category") throw new Error("category expected");
    const trainBuildings = new Set(exported.train.map((r) => b.codes[r]));
    for (const r of exported.test) expect(trainBuildings.has(b.codes[r])).toBe(false);
  }, 120_000);
});
