import { resolve } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.js";
import { EXIT_FAILED, EXIT_OK } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { validateDataDetailed } from "./index.js";
import { renderDataReportMarkdown } from "./markdown.js";
import { resolveReference } from "./reference.js";
import type { DataValidationReport } from "./report.js";

export interface ValidateDataStepInput {
  loaded: LoadedConfig;
  dataPath?: string;
  /** A profile JSON, a model.json, or "production"; none = no drift check. */
  reference?: string;
  /** JSON report path (relative to the config root). */
  outPath?: string;
  /** Markdown summary path; without it the summary only goes to the reporter. */
  summaryPath?: string;
  /** Writes the profile of this data here (a reference for later runs). */
  profileOutPath?: string;
  reporter: Reporter;
}

/**
 * The whole step as the CLI and the action run it: resolve the reference, validate, write the
 * outputs atomically, and map the verdict to an exit code (0 passed, 1 failed; bad input throws).
 */
export async function validateDataStep(input: ValidateDataStepInput): Promise<{ exitCode: number; report: DataValidationReport; markdown: string }> {
  const { loaded, reporter } = input;
  const root = loaded.root;
  const ref = input.reference ? await resolveReference(input.reference, { root, modelName: loaded.config.model.name }) : null;
  const { report, profile } = await validateDataDetailed({
    config: loaded.config,
    root,
    dataPath: input.dataPath,
    reference: ref?.profile ?? null,
    referenceSource: ref?.source,
    referenceNote: ref?.note,
    reporter,
    profile: input.profileOutPath !== undefined,
  });
  if (input.outPath) {
    await writeJsonAtomic(resolve(root, input.outPath), report);
    reporter.output("report", input.outPath);
  }
  if (input.profileOutPath && profile) await writeJsonAtomic(resolve(root, input.profileOutPath), profile);
  const markdown = renderDataReportMarkdown(report);
  if (input.summaryPath) await writeFileAtomic(resolve(root, input.summaryPath), markdown + "\n");
  return { exitCode: report.passed ? EXIT_OK : EXIT_FAILED, report, markdown };
}
