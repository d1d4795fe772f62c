import { beforeAll, describe, expect, it } from "vitest";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleAction, runAction } from "./helpers/action.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

let bundle: string;
beforeAll(async () => {
  bundle = await bundleAction("validate-data");
}, 120_000);

async function workspace(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ws-"));
  await cp(join(PROJECT_ROOT, "config"), join(dir, "config"), { recursive: true });
  await cp(join(PROJECT_ROOT, "data"), join(dir, "data"), { recursive: true });
  return dir;
}

describe("actions/validate-data, run as the runner runs it", () => {
  it("passes on the committed data: outputs, job summary and report", async () => {
    const ws = await workspace();
    const r = await runAction(bundle, { config: "config/pipeline.yaml", reference: "production", report: "reports/dv.json" }, { workspace: ws });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.outputs.passed).toBe("true");
    expect(Number(r.outputs.score)).toBeGreaterThan(0.6);
    const report = JSON.parse(await readFile(join(ws, "reports/dv.json"), "utf8")) as { passed: boolean };
    expect(report.passed).toBe(true);
    expect(r.summary).toMatch(/\|/); // Markdown tables in the job summary
  }, 120_000);

  it("fails the step with an error annotation on a bad config, and writes no report", async () => {
    const ws = await workspace();
    await writeFile(join(ws, "config/bad.yaml"), "extends: pipeline.yaml\nvalidation: { missing: { max_share: high } }\n");
    const r = await runAction(bundle, { config: "config/bad.yaml", report: "reports/dv.json" }, { workspace: ws });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/::error::.*validation\.missing\.max_share: expected a number, got "high"/);
    await expect(readFile(join(ws, "reports/dv.json"), "utf8")).rejects.toThrow();
  }, 120_000);

  it("fails with exit 1 when the data fails validation", async () => {
    const ws = await workspace();
    const lines = (await readFile(join(ws, "data/thermal-comfort.csv"), "utf8")).split("\n");
    await writeFile(join(ws, "data/dup.csv"), [lines[0], ...Array.from({ length: 800 }, () => lines[1])].join("\n") + "\n");
    const r = await runAction(bundle, { data: "data/dup.csv", report: "reports/dv.json" }, { workspace: ws });
    expect(r.code).toBe(1);
    expect(r.outputs.passed).toBe("false");
  }, 120_000);
});
