import { cp, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "./cli.js";

export const QUICK_TREE = "{ name: tree-d8, algorithm: decision_tree, params: { max_depth: 8, min_samples_leaf: 5, class_weight: balanced } }";
export const QUICK_FOREST = "{ name: forest-small, algorithm: random_forest, params: { n_trees: 8, max_depth: 10, class_weight: balanced, n_jobs: 1 } }";

/**
 * A scratch copy of the project's config (and whichever of data/, models/ a test needs) with
 * `config/quick.yaml`: the committed config with small candidates and 2 folds, so a whole run
 * takes seconds.
 */
export async function scratchProject(options: { prefix: string; copy?: ("data" | "models")[]; candidates?: string[]; extraConfig?: string[] }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix));
  for (const folder of ["config", ...(options.copy ?? ["data"])]) await cp(join(PROJECT_ROOT, folder), join(dir, folder), { recursive: true });
  const candidates = options.candidates ?? [QUICK_TREE, QUICK_FOREST];
  await writeFile(
    join(dir, "config/quick.yaml"),
    ["extends: pipeline.yaml", "training:", "  candidates:", ...candidates.map((c) => `    - ${c}`), "split: { cv_folds: 2 }", ...(options.extraConfig ?? [])].join("\n") + "\n",
  );
  return dir;
}
