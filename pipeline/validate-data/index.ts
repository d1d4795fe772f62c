import { isAbsolute, relative, resolve } from "node:path";
import type { PipelineConfig } from "../config/schema.js";
import type { Reporter } from "../core/reporter.js";
import { readDataset } from "../data/csv.js";
import { binLabel } from "../data/label.js";
import { profileWithGroups } from "../data/profile-groups.js";
import type { Column } from "../data/table.js";
import { groupIds } from "../train/split.js";
import type { DataProfile } from "../data/profile-schema.js";
import { detectDrift } from "./drift.js";
import { renderDataReportMarkdown } from "./markdown.js";
import { checkQuality, scoreOf, SCORE_WEIGHTS, type LabelBins } from "./quality.js";
import { DATA_REPORT_VERSION, type DataValidationReport, type DriftReport, type Issue } from "./report.js";
import { checkSchema, type DatasetRead } from "./schema-check.js";

export { renderDataReportMarkdown } from "./markdown.js";
export { resolveReference, type ResolvedReference } from "./reference.js";
export { DataValidationReportSchema, type DataValidationReport } from "./report.js";

export interface ValidateDataInput {
  config: PipelineConfig;
  root: string;
  /** Defaults to the config's dataset.path; relative paths resolve against root. */
  dataPath?: string;
  reference?: DataProfile | null;
  /** How the reference was named (file, model, production), for the report. */
  referenceSource?: string;
  /** Why there is no reference although one was asked for (e.g. no production model yet). */
  referenceNote?: string | null;
  reporter: Reporter;
}

export interface CheckOptions {
  reference?: DataProfile | null;
  referenceSource?: string;
  referenceNote?: string | null;
  /** Also return the profile of this data (a reference for later runs). */
  profile?: boolean;
  /** Path written into the report (relative to the repository root where possible). */
  displayPath?: string;
}

/** The step: read the dataset, run every check, report. Throws InputError (exit 2) on unreadable input. */
export async function validateData(input: ValidateDataInput): Promise<DataValidationReport> {
  return (await validateDataDetailed(input)).report;
}

export async function validateDataDetailed(input: ValidateDataInput & { profile?: boolean }): Promise<{ report: DataValidationReport; profile: DataProfile | null }> {
  const { config, root, reporter } = input;
  const path = resolve(root, input.dataPath ?? config.dataset.path);
  const rel = relative(root, path);
  const displayPath = rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
  reporter.info(`validating ${displayPath}`);
  const read = await readDataset(path, config.dataset, { maxListedViolations: config.validation.max_listed_violations });
  const result = checkDataset(read, config, {
    reference: input.reference,
    referenceSource: input.referenceSource,
    referenceNote: input.referenceNote,
    profile: input.profile,
    displayPath,
  });
  announce(result.report, displayPath, reporter);
  return result;
}

/** All checks on an already-read dataset (the pure part of the step; tests call it directly). */
export function checkDataset(read: DatasetRead, config: PipelineConfig, options: CheckOptions = {}): { report: DataValidationReport; profile: DataProfile | null } {
  const { dataset } = config;
  const table = read.table;
  const schema = checkSchema(read, config);
  const label: LabelBins | null = table.columns.has(dataset.label.column) ? binLabel(table, dataset) : null;
  const reference = options.reference ?? null;
  const featureColumns = dataset.features.filter((f) => table.columns.has(f));
  const sortColumns = new Set(reference || options.profile ? featureColumns : []);
  const quality = checkQuality(table, config, label, { sortColumns, violationShare: schema.violationShare, absent: new Set(read.missingColumns) });
  const score = scoreOf(quality.components);

  let drift: DriftReport;
  if (reference) {
    const groupColumn = dataset.group ? table.columns.get(dataset.group) : undefined;
    const normalized = new Set(Object.entries(dataset.columns).filter(([, spec]) => spec.type === "category" && spec.normalize).map(([name]) => name));
    drift = detectDrift(table, featureColumns, reference, config.drift, {
      source: options.referenceSource ?? "reference profile",
      sorted: quality.sorted,
      ...currentGroupsOf(groupColumn && !read.missingColumns.includes(dataset.group!) ? groupColumn : undefined, table.rowCount),
      groupColumn: dataset.group,
      normalized,
    });
  } else {
    drift = {
      reference: options.referenceSource ?? null,
      skipped: options.referenceNote ?? "no reference given (--reference PROFILE.json | MODEL.json | production)",
      numeric_method: config.drift.numeric_method,
      categorical_method: config.drift.categorical_method,
      psi_threshold: config.drift.psi_threshold,
      alpha: config.drift.alpha,
      ks_min_effect: config.drift.ks_min_effect,
      chi2_min_effect: config.drift.chi2_min_effect,
      reference_rows: null,
      columns: [],
      compared: 0,
      drifted: 0,
      drifted_share: 0,
      max_drifted_share: config.drift.max_drifted_share,
      notes: [],
      passed: true,
    };
  }

  const issues: Issue[] = [...schema.issues, ...quality.issues];
  if (score < config.validation.min_score) {
    issues.push({
      check: "score",
      severity: "error",
      message: `quality score ${score.toFixed(3)} is below validation.min_score = ${config.validation.min_score}`,
      value: score,
      threshold: config.validation.min_score,
      recommendation: "fix the errors above; the score components show which kind of problem weighs most",
    });
  }
  if (drift.skipped) {
    issues.push({ check: "drift", severity: "info", message: `drift not checked: ${drift.skipped}`, value: null, threshold: null, recommendation: null });
  } else {
    for (const c of drift.columns.filter((x) => x.drifted)) {
      const strong = c.strong === true && drift.strong !== undefined;
      issues.push({
        check: "drift",
        column: c.column,
        severity: drift.passed ? "warning" : "error",
        message: strong ? `${driftMessage(c)}; strong drift, fails validation by itself (drift.strong): ${strongMessage(c, drift.strong!)}` : driftMessage(c),
        value: strong ? c.p_value : c.method === "psi" ? c.psi : c.effect,
        threshold: strong ? drift.strong!.alpha : (c.threshold ?? (c.method === "psi" ? drift.psi_threshold : c.method === "ks" ? drift.ks_min_effect : drift.chi2_min_effect)),
        recommendation: `check what changed in ${c.column} (new sites, season, sensor); retrain if the new data is the new normal`,
      });
    }
    if (drift.failed_by ? drift.failed_by.includes("drifted_share") : !drift.passed) {
      issues.push({
        check: "drift",
        severity: "error",
        message: `${drift.drifted} of ${drift.compared} features drifted (${(100 * drift.drifted_share).toFixed(0)}%), above drift.max_drifted_share = ${(100 * drift.max_drifted_share).toFixed(0)}%`,
        value: drift.drifted_share,
        threshold: drift.max_drifted_share,
        recommendation: "retrain on recent data, or confirm that the data source has not broken",
      });
    }
  }

  const order = { error: 0, warning: 1, info: 2 } as const;
  issues.sort((a, b) => order[a.severity] - order[b.severity]);
  const counts = { error: 0, warning: 0, info: 0 };
  for (const i of issues) counts[i.severity]++;

  const report: DataValidationReport = {
    version: DATA_REPORT_VERSION,
    model: config.model.name,
    data: { path: options.displayPath ?? read.path, sha256: read.sha256, bytes: read.bytes, rows: table.rowCount, columns: table.columns.size },
    passed: counts.error === 0,
    score,
    min_score: config.validation.min_score,
    score_components: Object.fromEntries(Object.entries(SCORE_WEIGHTS).map(([k, w]) => [k, { value: quality.components[k as keyof typeof SCORE_WEIGHTS], weight: w }])),
    counts,
    issues,
    schema: {
      violation_count: read.violationCount,
      violation_share: schema.violationShare,
      max_violation_share: config.validation.max_violation_share,
      violations_by_column: read.violationsByColumn,
      violations: read.violations.slice(0, config.validation.max_listed_violations),
      missing_columns: read.missingColumns,
      extra_columns: read.extraColumns,
      header_map: read.headerMap,
    },
    columns: quality.columns,
    duplicates: quality.duplicates,
    label: quality.label,
    drift,
  };
  const profile = options.profile
    ? profileWithGroups(table, featureColumns, { bins: config.drift.psi_bins, ...(label ? { label } : {}), group: dataset.group, maxGroups: config.drift.calibration.max_groups })
    : null;
  return { report, profile };
}

function currentGroupsOf(column: Column | undefined, rows: number): { currentGroups: number | null; currentGroupIds?: Int32Array } {
  if (!column) return { currentGroups: null };
  const { ids, count } = groupIds(column, rows);
  return { currentGroups: count, currentGroupIds: ids };
}

/** The evidence the strong-drift rule acted on: the calibrated p-value, its effective sizes, the effect. */
function strongMessage(c: DriftReport["columns"][number], rule: NonNullable<DriftReport["strong"]>): string {
  const f = (x: number | null) => (x === null ? "–" : x < 1e-4 && x > 0 ? x.toExponential(1) : x.toFixed(3));
  const sizes = c.effective_n ? ` with effective sizes ${Math.round(c.effective_n.current)} / ${Math.round(c.effective_n.reference)}` : "";
  return `${c.kind === "number" ? "KS" : "chi-square"} p ${f(c.p_value)} < ${rule.alpha}${sizes}, ${c.kind === "number" ? "KS D" : "Cramér's V"} ${f(c.effect)} ≥ ${rule.min_effect}`;
}

function driftMessage(c: DriftReport["columns"][number]): string {
  const f = (x: number | null, d = 3) => (x === null ? "–" : x < 1e-4 && x > 0 ? x.toExponential(1) : x.toFixed(d));
  if (c.method === "psi") return `${c.column}: PSI ${f(c.psi)}${c.threshold != null ? ` ≥ threshold ${f(c.threshold)}${c.calibrated_threshold != null ? ` (calibrated ${f(c.calibrated_threshold)})` : ""}` : ""}`;
  if (c.method === "ks") return `${c.column}: KS D ${f(c.statistic)} (p ${f(c.p_value)})`;
  return `${c.column}: χ² ${f(c.statistic, 1)}, Cramér's V ${f(c.effect)} (p ${f(c.p_value)})`;
}

/** Sends the verdict, the Markdown summary and file-annotated problems to the reporter. */
function announce(report: DataValidationReport, file: string, reporter: Reporter): void {
  // GitHub shows at most 10 annotations of a kind per step; the report lists the rest.
  for (const v of report.schema.violations.slice(0, 10)) {
    reporter.warning(`${v.column}: ${v.reason} (value "${v.value}", row ${v.row})`, { file, startLine: v.line, title: "schema violation" });
  }
  for (const issue of report.issues) {
    const text = `${issue.message}${issue.recommendation ? ` → ${issue.recommendation}` : ""}`;
    if (issue.severity === "error") reporter.error(text, { file, title: `validate-data: ${issue.check}` });
    else if (issue.severity === "warning" && issue.check !== "schema_violations") reporter.warning(text, { file, title: `validate-data: ${issue.check}` });
  }
  reporter.summary(renderDataReportMarkdown(report));
  reporter.output("passed", String(report.passed));
  reporter.output("score", report.score.toFixed(4));
  reporter.info(`${report.passed ? "passed" : "FAILED"}: score ${report.score.toFixed(3)}, ${report.counts.error} errors, ${report.counts.warning} warnings`);
}
