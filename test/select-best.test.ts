import { describe, expect, it } from "vitest";
import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selectBestCandidate } from "../pipeline/train/select-best.js";
import { InputError } from "../pipeline/core/errors.js";
import { runCli } from "./helpers/cli.js";

function metrics(candidate: string, mean: number) {
  return {
    version: 1,
    model: "m",
    candidate,
    algorithm: "decision_tree",
    selection_metric: "macro_f1",
    classes: ["a", "b"],
    split: { method: "group", test_share: 0.2, train_rows: 80, test_rows: 20, fitted_rows: 80, cv_folds: 3, grouped_by: "g" },
    cv: [{ candidate, algorithm: "decision_tree", metric: "macro_f1", folds: [mean, mean, mean], mean, std: 0, fit_seconds: 0.1 }],
  };
}

async function outputs(entries: Record<string, unknown>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "select-"));
  for (const [name, report] of Object.entries(entries)) {
    await mkdir(join(root, name));
    await writeFile(join(root, name, "metrics.json"), JSON.stringify(report));
  }
  return root;
}

describe("select-best", () => {
  it("picks the highest cross-validated score, ties by name", async () => {
    const root = await outputs({ a: metrics("tree", 0.51), b: metrics("forest", 0.58), c: metrics("boost", 0.58) });
    const { best, all } = await selectBestCandidate(root);
    expect(all).toHaveLength(3);
    expect(best.candidate).toBe("boost");
  });

  it("rejects a folder without outputs and a malformed metrics file", async () => {
    await expect(selectBestCandidate(await outputs({}))).rejects.toBeInstanceOf(InputError);
    await expect(selectBestCandidate(await outputs({ x: { version: 1 } }))).rejects.toThrow(/x\/metrics\.json: not a metrics report \(candidate: /);
  });

  it("CLI: candidates --json lists the config's candidates", async () => {
    const r = await runCli(["candidates", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(["tree-d10", "forest-balanced"]);
  });
});
