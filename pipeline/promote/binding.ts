import { GateFailure } from "../core/errors.js";
import { formatZodError } from "../config/load.js";
import { ModelValidationReportSchema, type ModelValidationReport } from "../validate-model/report.js";

export interface BindingInput {
  /** The report as read from the file (or passed as an object). */
  raw: unknown;
  /** Where it came from, for messages. */
  file: string;
  /** sha256 of the artifact file being promoted. */
  artifactSha256: string;
  /** Hash of the configuration promote runs with (configHash). */
  configSha256: string;
}

/**
 * A validation report counts only for the artifact it was made for: it must be a complete
 * validate-model report that passed, name this artifact's sha256 and the configuration promote runs
 * with (so gates cannot be loosened between validation and promotion). Anything else refuses the
 * promotion (GateFailure, exit 1) saying which of these failed.
 */
export function bindValidationReport(input: BindingInput): ModelValidationReport {
  const refuse = (why: string) => new GateFailure(`refusing to promote: ${input.file}: ${why}`);
  const parsed = ModelValidationReportSchema.safeParse(input.raw);
  if (!parsed.success) {
    throw refuse(`not a complete validate-model report\n  ${formatZodError(parsed.error, input.raw, "report").split("\n").slice(1).join("\n  ").trim()}`);
  }
  const report = parsed.data;
  const failed = report.gates.filter((g) => !g.passed && !g.skipped);
  if (!report.passed || failed.length) throw refuse(`the validate-model report failed${failed.length ? ` (${failed.map((g) => g.name).join(", ")})` : ""}`);
  if (report.challenger.sha256 !== input.artifactSha256) {
    throw refuse(`the report is about artifact sha256 ${report.challenger.sha256}, not this one (${input.artifactSha256}); validate this model and pass its own report`);
  }
  if (report.config_sha256 === undefined) {
    throw refuse("the report does not name the configuration it was made with (config_sha256; written by validate-model since this check exists); run validate-model again");
  }
  if (report.config_sha256 !== input.configSha256) {
    throw refuse(`the report was made with configuration sha256 ${report.config_sha256}, promote runs with ${input.configSha256}; the gates must be the ones of the configuration that promotes`);
  }
  return report;
}
