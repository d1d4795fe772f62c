import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeRegistry } from "../pipeline/registry/store.js";
import { runCli } from "./helpers/cli.js";
import { git, makeTestRepo, TEST_GIT_ENV } from "./helpers/git.js";
import { registeredVersion, registryOf, scratchRoot } from "./helpers/registry-fixtures.js";

describe("pipeline registry (CLI)", () => {
  it("check passes a good registry and fails a broken one naming the rule", async () => {
    const root = await scratchRoot();
    const v1 = await registeredVersion(root, 1, ["validated", "production"]);
    await writeRegistry(root, registryOf([v1]));
    const ok = await runCli(["registry", "check"], { cwd: root });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok \(1 models, 1 versions\)/);
    await writeRegistry(root, registryOf([v1, await registeredVersion(root, 2, ["validated", "production"])]));
    const bad = await runCli(["registry", "check"], { cwd: root });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\[single-production\] thermal-comfort: 2 versions are tagged production/);
  });

  it("check exits 2 on an unparsable registry", async () => {
    const root = await scratchRoot();
    await mkdir(join(root, "models"));
    await writeFile(join(root, "models/registry.yaml"), "version: 1\nmodels:\n  Bad_Name: {versions: []}\n");
    const r = await runCli(["registry", "check"], { cwd: root });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("models/registry.yaml");
    expect(r.stderr).toContain("models.Bad_Name");
  });

  it("check --base compares with the base branch through git show", async () => {
    const repo = await makeTestRepo();
    const v1 = await registeredVersion(repo.work, 1, ["validated", "production"]);
    await writeRegistry(repo.work, registryOf([v1]));
    await git(repo.work, "add", ".");
    await git(repo.work, "commit", "-q", "-m", "v1");
    // A PR branch that rewrites v1's metrics (and keeps the artifact valid).
    await writeRegistry(repo.work, registryOf([{ ...v1, metrics: { macro_f1: 0.99 } }]));
    const env = { ...TEST_GIT_ENV };
    const r = await runCli(["registry", "check", "--base", "HEAD"], { cwd: repo.work, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[version-rewritten\] thermal-comfort@v1 differs from the base branch in metrics/);
    const unknown = await runCli(["registry", "check", "--base", "no-such-branch"], { cwd: repo.work, env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--base "no-such-branch": unknown revision/);
  });

  it("list, show and history print tables, and JSON with --json", async () => {
    const root = await scratchRoot();
    await writeRegistry(root, registryOf([await registeredVersion(root, 1, ["validated", "archived"]), await registeredVersion(root, 2, ["validated", "production"])]));
    // Independent read-only commands: run them side by side.
    const [list, show, history, missing, showTable, historyTable] = await Promise.all([
      runCli(["registry", "list"], { cwd: root }),
      runCli(["registry", "show", "thermal-comfort@v1", "--json"], { cwd: root }),
      runCli(["registry", "history", "thermal-comfort", "--json"], { cwd: root }),
      runCli(["registry", "show", "nope"], { cwd: root }),
      runCli(["registry", "show", "thermal-comfort"], { cwd: root }),
      runCli(["registry", "history", "thermal-comfort"], { cwd: root }),
    ]);
    expect(showTable.stdout).toMatch(/^thermal-comfort@v2 {2}\[validated, production\]/);
    expect(showTable.stdout).toMatch(/macro_f1\s+0\.4200/);
    expect(historyTable.stdout).toMatch(/2026-11-01T00:00:00.000Z\s+v1\s+registered/);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^model\s+versions\s+latest\s+production/);
    expect(list.stdout).toMatch(/thermal-comfort\s+2\s+v2\s+v2\s+0\.4200/);
    expect(JSON.parse(show.stdout)).toMatchObject({ name: "thermal-comfort", version: 1, tags: ["validated", "archived"] });
    expect(JSON.parse(history.stdout).map((e: { version: number }) => e.version)).toEqual([1, 2]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no model "nope"/);
  });
});
