import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DataValidationReportSchema } from "../pipeline/validate-data/report.js";
import { runCli } from "./helpers/cli.js";

/** validate-data on the project's committed dataset and on ASHRAE DB II (only the profile switched). */

let dir: string;
const read = async (f: string) => JSON.parse(await readFile(join(dir, f), "utf8")) as unknown;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "validate-data-project-"));
});

describe("the project's data", () => {
  it("the committed dataset passes with config/pipeline.yaml", async () => {
    const r = await runCli(["validate-data", "--out", join(dir, "committed.json")], { env: { PIPELINE_QUIET: "1" } });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const report = DataValidationReportSchema.parse(await read("committed.json"));
    expect(report.data.rows).toBe(20000);
  });

  it("ASHRAE DB II runs with only the profile switched (a report, never exit 2)", async () => {
    const r = await runCli(["validate-data", "--config", "config/datasets/ashrae-db2.yaml", "--out", join(dir, "ashrae.json")], { env: { PIPELINE_QUIET: "1" } });
    expect(r.stderr).not.toMatch(/internal error/);
    expect([0, 1]).toContain(r.code);
    const report = DataValidationReportSchema.parse(await read("ashrae.json"));
    expect(report.data.rows).toBeGreaterThan(100_000);
  }, 60_000);
});
