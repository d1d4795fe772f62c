import { z } from "zod";

/** The data validation report (`--out REPORT.json`): one schema, versioned. */
export const DATA_REPORT_VERSION = 1;

export const SeveritySchema = z.enum(["error", "warning", "info"]);
export type Severity = z.infer<typeof SeveritySchema>;

export const IssueSchema = z
  .object({
    check: z.enum([
      "rows",
      "schema_violations",
      "missing_column",
      "unknown_label",
      "missing_label",
      "missing",
      "all_missing",
      "duplicates",
      "outliers",
      "spikes",
      "imbalance",
      "constant",
      "score",
      "drift",
    ]),
    column: z.string().optional(),
    severity: SeveritySchema,
    message: z.string(),
    value: z.number().nullable(),
    threshold: z.number().nullable(),
    recommendation: z.string().nullable(),
  })
  .strict();
export type Issue = z.infer<typeof IssueSchema>;

export const ViolationSchema = z
  .object({ row: z.number().int(), line: z.number().int(), column: z.string(), value: z.string(), reason: z.string() })
  .strict();

export const ColumnSummarySchema = z
  .object({
    name: z.string(),
    kind: z.enum(["number", "category", "date"]),
    missing: z.number().int().nonnegative(),
    missing_share: z.number(),
    /** Distinct non-missing values (categories, or exact for numbers only when it was needed). */
    distinct: z.number().int().nonnegative().nullable(),
    min: z.number().nullable(),
    max: z.number().nullable(),
    mean: z.number().nullable(),
    std: z.number().nullable(),
    outliers_iqr: z.number().int().nonnegative().nullable(),
    outliers_z: z.number().int().nonnegative().nullable(),
    /** The count that gates: the spike- and tail-aware IQR rule (outlier-shape.ts), or z-score. */
    outliers: z.number().int().nonnegative().nullable().optional(),
    /** Values beyond the fences that continue the body (a tail or second mode), not counted. */
    outlier_tail: z.number().int().nonnegative().nullable().optional(),
    /** Values that hold a large share of the column (spike_share). */
    spikes: z.array(z.object({ value: z.number(), share: z.number() }).strict()).optional(),
    identifier: z.boolean(),
  })
  .strict();
export type ColumnSummary = z.infer<typeof ColumnSummarySchema>;

export const DriftColumnSchema = z
  .object({
    column: z.string(),
    kind: z.enum(["number", "category"]),
    method: z.enum(["ks", "chi2", "psi", "skipped"]),
    reference_count: z.number().int().nonnegative(),
    current_count: z.number().int().nonnegative(),
    psi: z.number().nullable(),
    /** KS D for numbers, χ² for categories. */
    statistic: z.number().nullable(),
    p_value: z.number().nullable(),
    /** KS D, or Cramér's V for categories. */
    effect: z.number().nullable(),
    drifted: z.boolean(),
    /** The threshold the verdict's statistic was held to: the larger of the fixed floor and the calibrated value. */
    threshold: z.number().nullable().optional(),
    /** Calibrated from the reference's own variability (PSI for psi, the critical KS D / χ² at alpha otherwise). */
    calibrated_threshold: z.number().nullable().optional(),
    /** Effective sample sizes used for the p-value (rows of one group are not independent). */
    effective_n: z.object({ current: z.number(), reference: z.number() }).strict().optional(),
    /** Drifted strongly enough (drift.strong) to fail validation on its own; implies `drifted`. */
    strong: z.boolean().optional(),
    note: z.string().optional(),
  })
  .strict();
export type DriftColumn = z.infer<typeof DriftColumnSchema>;

export const DriftReportSchema = z
  .object({
    /** Where the reference came from (a file, a model, `production`), or null when there was none. */
    reference: z.string().nullable(),
    /** Why drift was not computed, when it was not. */
    skipped: z.string().nullable(),
    numeric_method: z.enum(["ks", "psi"]),
    categorical_method: z.enum(["chi2", "psi"]),
    psi_threshold: z.number(),
    alpha: z.number(),
    ks_min_effect: z.number(),
    chi2_min_effect: z.number(),
    reference_rows: z.number().int().nonnegative().nullable(),
    /** How the per-column thresholds were calibrated (see drift-calibration.ts). */
    calibration: z
      .object({
        method: z.enum(["group_bootstrap", "effective_n", "none"]),
        description: z.string(),
        quantile: z.number(),
        current_groups: z.number().int().nonnegative().nullable(),
        reference_groups: z.number().int().nonnegative().nullable(),
      })
      .strict()
      .optional(),
    columns: z.array(DriftColumnSchema),
    compared: z.number().int().nonnegative(),
    drifted: z.number().int().nonnegative(),
    drifted_share: z.number(),
    max_drifted_share: z.number(),
    notes: z.array(z.string()),
    /** The strong-drift rule (drift.strong): whether it applied here, and the columns it flagged. */
    strong: z
      .object({
        active: z.boolean(),
        alpha: z.number(),
        min_effect: z.number(),
        /** One sentence: the rule, or why it did not apply. */
        description: z.string(),
        columns: z.array(z.string()),
      })
      .strict()
      .optional(),
    /** The rules that failed the drift check: the drifted share above its limit, strong drift in a column, or both. */
    failed_by: z.array(z.enum(["drifted_share", "strong_drift"])).optional(),
    passed: z.boolean(),
  })
  .strict();
export type DriftReport = z.infer<typeof DriftReportSchema>;

export const DataValidationReportSchema = z
  .object({
    version: z.literal(DATA_REPORT_VERSION),
    model: z.string(),
    data: z
      .object({
        path: z.string(),
        sha256: z.string(),
        bytes: z.number().int().nonnegative(),
        rows: z.number().int().nonnegative(),
        columns: z.number().int().nonnegative(),
      })
      .strict(),
    passed: z.boolean(),
    score: z.number().min(0).max(1),
    min_score: z.number(),
    /** The parts of the score (each 0..1) and their weights; see quality.ts for the formula. */
    score_components: z.record(z.string(), z.object({ value: z.number(), weight: z.number() }).strict()),
    counts: z.object({ error: z.number().int(), warning: z.number().int(), info: z.number().int() }).strict(),
    issues: z.array(IssueSchema),
    schema: z
      .object({
        violation_count: z.number().int().nonnegative(),
        violation_share: z.number(),
        max_violation_share: z.number(),
        violations_by_column: z.record(z.string(), z.number().int().nonnegative()),
        /** The first `max_listed_violations`; `violation_count` counts them all. */
        violations: z.array(ViolationSchema),
        missing_columns: z.array(z.string()),
        extra_columns: z.array(z.string()),
        header_map: z.record(z.string(), z.string()),
      })
      .strict(),
    columns: z.array(ColumnSummarySchema),
    duplicates: z
      .object({
        count: z.number().int().nonnegative(),
        share: z.number(),
        /** Identifier columns left out of the comparison (see quality.ts). */
        excluded_columns: z.array(z.string()),
      })
      .strict(),
    label: z
      .object({
        column: z.string(),
        classes: z.array(z.object({ name: z.string(), count: z.number().int().nonnegative(), share: z.number() }).strict()),
        missing: z.number().int().nonnegative(),
        unknown: z.number().int().nonnegative(),
      })
      .strict()
      .nullable(),
    drift: DriftReportSchema,
  })
  .strict();
export type DataValidationReport = z.infer<typeof DataValidationReportSchema>;
