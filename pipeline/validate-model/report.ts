import { z } from "zod";
import { writeJsonAtomic } from "../core/atomic.js";
import { ClassificationMetricsSchema } from "../train/metrics.js";

/**
 * The model-validation report (`validate-model --out`). One schema, one version field;
 * the promote step and the PR body read it back through this schema.
 */
export const MODEL_VALIDATION_REPORT_VERSION = 1;

export const GATE_KINDS = ["absolute", "class_recall", "champion", "slice", "sanity", "monotonic", "latency", "artifact_size"] as const;
export type GateKind = (typeof GATE_KINDS)[number];

export const GateResultSchema = z
  .object({
    /** Stable identifier, e.g. `absolute:macro_f1`, `slice:season=summer`, `sanity:hot and humid…`. */
    name: z.string(),
    kind: z.enum(GATE_KINDS),
    passed: z.boolean(),
    /** The gate could not run (no production model, latency not measured); never fails the run. */
    skipped: z.boolean().optional(),
    message: z.string(),
    value: z.number().optional(),
    baseline: z.number().optional(),
    threshold: z.number().optional(),
  })
  .strict();
export type GateResult = z.infer<typeof GateResultSchema>;

/** The held-out evaluation of one model: the trainer's own metrics shape, so figures compare across reports. */
export const EvaluationMetricsSchema = ClassificationMetricsSchema;
export type EvaluationMetrics = z.infer<typeof EvaluationMetricsSchema>;

export const SliceRowSchema = z
  .object({
    column: z.string(),
    value: z.string(),
    rows: z.number().int().nonnegative(),
    metric: z.string(),
    challenger: z.number().nullable(),
    champion: z.number().nullable(),
    /** How much worse the challenger is than the champion (positive = worse), in the metric's units. */
    drop: z.number().nullable(),
    /** Whether this slice was gated (enough rows and a champion to compare with). */
    gated: z.boolean(),
    passed: z.boolean().nullable(),
  })
  .strict();
export type SliceRow = z.infer<typeof SliceRowSchema>;

export const SanityCaseResultSchema = z
  .object({
    name: z.string(),
    predicted: z.string(),
    probabilities: z.record(z.string(), z.number()),
    expect: z.string().optional(),
    expect_not: z.array(z.string()).optional(),
    passed: z.boolean(),
  })
  .strict();

export const MonotonicResultSchema = z
  .object({
    feature: z.string(),
    direction: z.enum(["increasing", "decreasing"]),
    values: z.array(z.number()),
    /** Held-out rows the score is averaged over at each value (partial dependence). */
    rows: z.number().int().nonnegative(),
    /** Mean over those rows of the expected ordinal class index sum_k P(k)·k (classes ordered as the model lists them). */
    scores: z.array(z.number()),
    net_change: z.number(),
    /** Total movement in the expected direction and against it, summed over consecutive steps. */
    along: z.number(),
    against: z.number(),
    spearman: z.number().nullable(),
    passed: z.boolean(),
    message: z.string(),
  })
  .strict();
export type MonotonicResult = z.infer<typeof MonotonicResultSchema>;

const ModelRefSchema = z
  .object({
    path: z.string(),
    sha256: z.string(),
    bytes: z.number().int().nonnegative(),
    name: z.string(),
    candidate: z.string(),
    algorithm: z.string(),
    data_sha256: z.string(),
    /** Model identity (modelContentHash); optional so reports written before it still parse. */
    content_sha256: z.string().optional(),
  })
  .strict();

export const ModelValidationReportSchema = z
  .object({
    version: z.literal(MODEL_VALIDATION_REPORT_VERSION),
    created_at: z.string(),
    passed: z.boolean(),
    /** configHash of the configuration whose gates were applied; promote refuses a report made with another. */
    config_sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    /** The registered version that is the same model as the challenger (same content hash), e.g. `thermal-comfort@v1`. */
    same_as: z.string().nullable().optional(),
    gates: z.array(GateResultSchema),
    challenger: ModelRefSchema,
    champion: ModelRefSchema.extend({
      /** How it was chosen: `production`, a registry version `name@vN`, or a path. */
      source: z.string(),
      registry_version: z.number().int().nullable(),
    })
      .strict()
      .nullable(),
    /** Why there is no champion, when there is none. */
    champion_note: z.string().nullable(),
    data: z
      .object({
        path: z.string(),
        sha256: z.string(),
        rows: z.number().int().nonnegative(),
        test_rows: z.number().int().nonnegative(),
        split: z.object({ method: z.string(), test_share: z.number(), seed: z.number().int() }).strict(),
        matches_challenger_lineage: z.boolean(),
        matches_champion_lineage: z.boolean().nullable(),
      })
      .strict(),
    metrics: z.object({ challenger: EvaluationMetricsSchema, champion: EvaluationMetricsSchema.nullable() }).strict(),
    slices: z.array(SliceRowSchema),
    sanity: z.object({ cases: z.array(SanityCaseResultSchema), monotonic: z.array(MonotonicResultSchema) }).strict(),
    latency: z
      .object({ ms_per_row: z.number(), runs_ms: z.array(z.number()), rows: z.number().int(), budget_ms_per_row: z.number() })
      .strict()
      .nullable(),
    artifact: z.object({ bytes: z.number().int().nonnegative(), budget_bytes: z.number().int() }).strict(),
    warnings: z.array(z.string()),
  })
  .strict();
export type ModelValidationReport = z.infer<typeof ModelValidationReportSchema>;

/** Validates before writing so that a report on disk always parses with the schema. */
export async function writeModelValidationReport(path: string, report: ModelValidationReport): Promise<void> {
  await writeJsonAtomic(path, ModelValidationReportSchema.parse(report));
}
