import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { sha256Hex } from "../pipeline/core/hash.js";
import { DataProfileSchema } from "../pipeline/data/profile-schema.js";
import { DataValidationReportSchema } from "../pipeline/validate-data/report.js";
import { runCli } from "./helpers/cli.js";
import { generateRows, toCsv } from "./validate-data-fixtures.js";

const CONFIG = {
  version: 1,
  model: { name: "test-model" },
  dataset: {
    path: "data.csv",
    columns: {
      record_id: { type: "number", required: true },
      building_id: { type: "category", required: true, normalize: false },
      season: { type: "category", categories: ["winter", "spring", "summer", "autumn"] },
      ta: { type: "number", required: true, range: [5, 45] },
      rh: { type: "number", range: [0, 100] },
      thermal_sensation: { type: "number", required: true, range: [-3, 3] },
    },
    label: { column: "thermal_sensation", binning: { kind: "three_class" } },
    features: ["ta", "rh", "season"],
    group: "building_id",
  },
  validation: { min_rows: 50 },
  training: { candidates: [{ name: "tree", algorithm: "decision_tree" }] },
};

let dir: string;
const read = async (f: string) => JSON.parse(await readFile(join(dir, f), "utf8")) as unknown;
const cli = (args: string[]) => runCli(["validate-data", "--config", "config.yaml", ...args], { cwd: dir, env: { PIPELINE_QUIET: "1" } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "validate-data-cli-"));
  await writeFile(join(dir, "config.yaml"), stringify(CONFIG));
  const clean = generateRows({ rows: 1500, seed: 1 });
  await writeFile(join(dir, "data.csv"), toCsv(clean));
  await writeFile(join(dir, "same.csv"), toCsv(generateRows({ rows: 1500, seed: 2 })));
  await writeFile(join(dir, "hot.csv"), toCsv(generateRows({ rows: 1500, seed: 3, taMean: 27.5, seasonWeights: [0.05, 0.1, 0.7, 0.15] })));
  await writeFile(join(dir, "dups.csv"), toCsv([...clean, ...clean.slice(0, 300).map((r, i) => ({ ...r, record_id: 9000 + i }))]));
  const bad = clean.map((r, i) => ({ ...r, ta: i % 20 === 0 ? (i % 40 === 0 ? "warm" : 99) : r.ta }));
  await writeFile(join(dir, "bad-values.csv"), toCsv(bad as typeof clean));
  await writeFile(join(dir, "empty.csv"), "");
});

describe("pipeline validate-data (CLI)", () => {
  it("exit 0 on clean data; writes the report (schema-valid), the summary and a profile", async () => {
    const [r, none] = await Promise.all([
      cli(["--out", "out/report.json", "--summary", "out/summary.md", "--profile-out", "out/profile.json"]),
      // no models/registry.yaml yet: drift against production is skipped with a note, not an error
      cli(["--reference", "production", "--out", "out/noreg.json"]),
    ]);
    expect(none.code).toBe(0);
    expect(DataValidationReportSchema.parse(await read("out/noreg.json")).drift.skipped).toMatch(/no models\/registry.yaml/);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const report = DataValidationReportSchema.parse(await read("out/report.json"));
    expect(report.passed).toBe(true);
    expect(report.data.path).toBe("data.csv");
    expect(report.data.sha256).toBe(sha256Hex(await readFile(join(dir, "data.csv"))));
    expect(await readFile(join(dir, "out/summary.md"), "utf8")).toMatch(/## Data validation: ✅ passed/);
    DataProfileSchema.parse(await read("out/profile.json"));
  });

  it("drift against the written profile: same generator passes, a hot summer fails (exit 1)", async () => {
    const [same, hot] = await Promise.all([
      cli(["--data", "same.csv", "--reference", "out/profile.json", "--out", "out/same.json"]),
      cli(["--data", "hot.csv", "--reference", "out/profile.json", "--out", "out/hot.json"]),
    ]);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/### Drift against out\/profile.json/);
    expect(hot.code).toBe(1);
    const report = DataValidationReportSchema.parse(await read("out/hot.json"));
    expect(report.drift.columns.filter((c) => c.drifted).map((c) => c.column).sort()).toEqual(["season", "ta"]);
  });

  it("exit 1 on failed quality (duplicates), with the report still written", async () => {
    const r = await cli(["--data", "dups.csv", "--out", "out/dups.json"]);
    expect(r.code).toBe(1);
    const report = DataValidationReportSchema.parse(await read("out/dups.json"));
    expect(report.passed).toBe(false);
    expect(report.issues.find((i) => i.check === "duplicates")?.severity).toBe("error");
    expect(r.stderr).toMatch(/duplicate rows/);
  });

  it("schema violations from a real file carry row, line and column", async () => {
    const r = await cli(["--data", "bad-values.csv", "--out", "out/bad.json"]);
    expect(r.code).toBe(1); // 5% of rows break the schema, above max_violation_share 1%
    const report = DataValidationReportSchema.parse(await read("out/bad.json"));
    expect(report.schema.violation_count).toBe(75);
    expect(report.schema.violations_by_column).toEqual({ ta: 75 });
    const first = report.schema.violations[0]!;
    expect(first.column).toBe("ta");
    expect(first.line).toBe(2); // row 0 is on line 2, after the header
    expect(r.stderr).toMatch(/bad-values\.csv:2/);
  });

  it("reference=production resolves through models/registry.yaml (and a model.json works directly)", async () => {
    const profile = await read("out/profile.json");
    const model = JSON.stringify({ schema_version: 1, name: "test-model", reference_profile: profile });
    await mkdir(join(dir, "models/test-model/v1"), { recursive: true });
    await writeFile(join(dir, "models/test-model/v1/model.json"), model);
    const sha = "a".repeat(64);
    const version = (v: number, tags: string[], path: string, artifactSha: string) => ({
      version: v,
      created_at: "2026-01-01T00:00:00Z",
      artifact: { path, sha256: artifactSha },
      data: { path: "data.csv", sha256: sha, rows: 1500 },
      config_sha256: sha,
      git_sha: null,
      trainer: { name: "t", version: "1", seed: 1, candidate: "tree" },
      metrics: {},
      tags,
    });
    await writeFile(
      join(dir, "models/registry.yaml"),
      stringify({ version: 1, models: { "test-model": { versions: [version(1, ["validated", "production"], "models/test-model/v1/model.json", sha256Hex(model)), version(2, ["validated"], "models/x.json", sha)] } } }),
    );
    const [ok, hot, direct] = await Promise.all([
      cli(["--data", "same.csv", "--reference", "production", "--out", "out/prod.json"]),
      cli(["--data", "hot.csv", "--reference", "production"]),
      // a model.json named directly works the same way
      cli(["--data", "hot.csv", "--reference", "models/test-model/v1/model.json"]),
    ]);
    expect(ok.code).toBe(0);
    const report = DataValidationReportSchema.parse(await read("out/prod.json"));
    expect(report.drift.reference).toBe("production (v1, models/test-model/v1/model.json)");
    expect(report.drift.compared).toBe(3);
    expect(hot.code).toBe(1);
    expect(direct.code).toBe(1);
    expect(direct.stdout).toMatch(/Drift against models\/test-model\/v1\/model.json/);
  });

  it("exit 2 on unreadable input, bad config or a bad reference, and writes no report", async () => {
    const results = await Promise.all([
      cli(["--data", "nope.csv", "--out", "out/x1.json"]),
      cli(["--data", "empty.csv", "--out", "out/x2.json"]),
      cli(["--reference", "missing-profile.json", "--out", "out/x3.json"]),
      cli(["--reference", "config.yaml", "--out", "out/x4.json"]),
      runCli(["validate-data", "--config", "nope.yaml"], { cwd: dir }),
    ]);
    for (const r of results) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/error: /);
      expect(r.stderr).not.toMatch(/internal error/);
    }
    expect(results[0]!.stderr).toMatch(/nope\.csv/);
    expect(results[2]!.stderr).toMatch(/missing-profile\.json: cannot read reference \(file not found\)/);
    for (const f of ["x1", "x2", "x3", "x4"]) expect(existsSync(join(dir, `out/${f}.json`))).toBe(false);
  });
});
