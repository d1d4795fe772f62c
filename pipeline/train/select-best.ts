import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../core/errors.js";
import { z } from "zod";
import { CandidateScoreSchema } from "./report.js";

/** Selection reads only what it needs of metrics.json, so reports from older trainers still compare. */
const SelectionViewSchema = z.object({ candidate: z.string(), cv: z.array(CandidateScoreSchema) });

export interface CandidateOutcome {
  dir: string;
  candidate: string;
  metric: string;
  cvMean: number;
}

/**
 * Picks the best of several training outputs (one per matrix job) by the cross-validated selection
 * metric each recorded for its own candidate: the held-out test set stays untouched by selection.
 * Ties go to the candidate listed first by name, so the choice never depends on download order.
 */
export async function selectBestCandidate(outRoot: string): Promise<{ best: CandidateOutcome; all: CandidateOutcome[] }> {
  let entries: string[];
  try {
    entries = (await readdir(outRoot, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (error) {
    throw new InputError(`${outRoot}: cannot list training outputs (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const all: CandidateOutcome[] = [];
  for (const name of entries) {
    const dir = join(outRoot, name);
    const file = join(dir, "metrics.json");
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      continue; // not a training output (e.g. a downloaded report folder)
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new InputError(`${file}: not a metrics report (invalid JSON: ${(error as Error).message})`);
    }
    const parsed = SelectionViewSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new InputError(`${file}: not a metrics report (${issue.path.join(".") || "(root)"}: ${issue.message})`);
    }
    const report = parsed.data;
    const own = report.cv.find((c) => c.candidate === report.candidate);
    if (!own) throw new InputError(`${file}: has no cross-validation score for its own candidate "${report.candidate}"`);
    all.push({ dir, candidate: report.candidate, metric: own.metric, cvMean: own.mean });
  }
  if (all.length === 0) throw new InputError(`${outRoot}: no training output (no */metrics.json) found`);
  const metrics = new Set(all.map((a) => a.metric));
  if (metrics.size > 1) throw new InputError(`${outRoot}: candidates were selected on different metrics (${[...metrics].join(", ")})`);
  const best = [...all].sort((a, b) => b.cvMean - a.cvMean || a.candidate.localeCompare(b.candidate))[0]!;
  return { best, all };
}
