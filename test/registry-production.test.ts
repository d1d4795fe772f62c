import { cp, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT, runCli } from "./helpers/cli.js";

describe("pipeline registry production", () => {
  it("prints the production version as GITHUB_OUTPUT lines (what deploy.yml reads)", async () => {
    const r = await runCli(["registry", "production", "--github-output"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^model=thermal-comfort\nversion=1\nsha256=[0-9a-f]{64}\n$/);
    const plain = await runCli(["registry", "production"]);
    expect(plain.stdout).toBe("thermal-comfort@v1\n");
  });

  it("exits 1 when the model has no production version", async () => {
    const dir = await mkdtemp(join(tmpdir(), "registry-production-"));
    await cp(join(PROJECT_ROOT, "config"), join(dir, "config"), { recursive: true });
    const r = await runCli(["registry", "production"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("thermal-comfort has no production version: nothing to deploy");
  });
});
