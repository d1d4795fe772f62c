import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PROJECT_ROOT } from "./helpers/cli.js";

const SCRIPT = join(PROJECT_ROOT, "scripts/build-actions.mjs");

function run(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}

const ACTIONS = ["validate-data", "train", "validate-model", "promote", "build-image", "deploy-cloud-run", "notify-slack"];

describe("committed action bundles", () => {
  it("every action has a committed bundle that matches its sources", async () => {
    for (const name of ACTIONS) {
      const action = parse(await readFile(join(PROJECT_ROOT, "actions", name, "action.yml"), "utf8")) as { runs: { using: string; main: string } };
      expect(action.runs, name).toEqual({ using: "node24", main: "dist/index.js" });
      const s = await stat(join(PROJECT_ROOT, "actions", name, "dist/index.js"));
      // A plain file the runner reads, not an executable: git records the mode, so it must not drift.
      expect((s.mode & 0o111).toString(8), name).toBe("0");
    }
    const r = await run(["--check"], PROJECT_ROOT);
    expect(r.out).toContain("bundles up to date");
    expect(r.code).toBe(0);
  }, 120_000);

  it("the check fails and names a bundle that is out of date with its sources", async () => {
    const root = await mkdtemp(join(tmpdir(), "bundle-check-"));
    await mkdir(join(root, "actions/hello/dist"), { recursive: true });
    await writeFile(join(root, "actions/hello/index.ts"), 'const who: string = "world";\nconsole.log(`hello ${who}`);\n');
    expect((await run([], root)).code).toBe(0);
    expect((await run(["--check"], root)).code).toBe(0);
    await writeFile(join(root, "actions/hello/index.ts"), 'const who: string = "runner";\nconsole.log(`hello ${who}`);\n');
    const stale = await run(["--check"], root);
    expect(stale.code).toBe(1);
    expect(stale.out).toContain("actions/hello/dist/index.js");
  }, 60_000);
});
