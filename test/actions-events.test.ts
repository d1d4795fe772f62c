import { cp, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DataValidationReportSchema } from "../pipeline/validate-data/report.js";
import { bundleAction, runAction } from "./helpers/action.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { EVENT_NAMES, runnerEvent } from "./helpers/events.js";

let workspace: string;
let bundle: string;

beforeAll(async () => {
  workspace = await mkdtemp(join(tmpdir(), "actions-events-"));
  for (const dir of ["config", "data", "models"]) await cp(join(PROJECT_ROOT, dir), join(workspace, dir), { recursive: true });
  bundle = await bundleAction("validate-data");
}, 120_000);

describe("a bundled action under every event the workflows use", () => {
  for (const name of EVENT_NAMES) {
    it(`validate-data on ${name}: outputs, report and job summary as the runner sees them`, async () => {
      const event = runnerEvent(name);
      const report = `reports/${name}.json`;
      const run = await runAction(bundle, { reference: "production", report }, { workspace, env: event.env, event: event.payload });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.outputs.passed).toBe("true");
      expect(run.outputs.report).toBe(report);
      const parsed = DataValidationReportSchema.parse(JSON.parse(await readFile(join(workspace, report), "utf8")));
      expect(Number(run.outputs.score)).toBeCloseTo(parsed.score, 3);
      expect(run.summary).toContain("thermal-comfort");
      expect(run.summary.length).toBeGreaterThan(200);
      // No annotation errors on a passing run.
      expect(run.stdout).not.toContain("::error");
    }, 120_000);
  }
});
