import { describe, expect, it } from "vitest";
import { checkRegistry } from "../pipeline/registry/check.js";
import { readRegistry, writeRegistry } from "../pipeline/registry/store.js";
import { runCli } from "./helpers/cli.js";
import { registeredVersion, registryOf, scratchRoot } from "./helpers/registry-fixtures.js";

describe("pipeline rollback (CLI, working tree)", () => {
  it("moves production to the previous version, or to --to vN, and keeps the registry valid", async () => {
    const root = await scratchRoot("rollback-");
    const before = registryOf([
      await registeredVersion(root, 1, ["validated", "archived"]),
      await registeredVersion(root, 2, ["validated", "archived"]),
      await registeredVersion(root, 3, ["validated", "production"]),
      await registeredVersion(root, 4, ["training"]),
    ]);
    await writeRegistry(root, before);
    const [bad, unvalidated] = await Promise.all([
      runCli(["rollback", "thermal-comfort", "--to", "latest"], { cwd: root }),
      runCli(["rollback", "thermal-comfort", "--to", "v4"], { cwd: root }),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--to latest: expected a version like v3/);
    expect(unvalidated.code).toBe(2);
    expect(unvalidated.stderr).toMatch(/thermal-comfort@v4 is not validated/);

    const r = await runCli(["rollback", "thermal-comfort", "--json"], { cwd: root });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: "thermal-comfort", from: 3, to: 2, branch: null, pullRequest: null });
    const after = await readRegistry(root);
    expect(after.models["thermal-comfort"]!.versions.map((v) => `v${v.version}:${v.tags.join("+")}`)).toEqual(["v1:validated+archived", "v2:validated+production", "v3:validated+archived", "v4:training"]);
    expect(await checkRegistry(root, after, { previous: before })).toEqual({ ok: true, problems: [] });

    const to1 = await runCli(["rollback", "thermal-comfort", "--to", "v1"], { cwd: root });
    expect(to1.code).toBe(0);
    expect(to1.stdout).toBe("thermal-comfort: production v2 → v1\n");
  });
});
