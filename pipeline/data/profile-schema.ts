import { z } from "zod";

/**
 * A reference profile of a dataset: enough to test drift (KS, chi-square, PSI) without keeping
 * the data. Stored inside model.json and as standalone `profile.json` files.
 */
export const NumericProfileSchema = z
  .object({
    kind: z.literal("number"),
    count: z.number().int().nonnegative(),
    missing: z.number().int().nonnegative(),
    mean: z.number(),
    std: z.number(),
    min: z.number(),
    max: z.number(),
    /** 101 quantiles (0%, 1%, …, 100%): the ECDF used by KS. */
    quantiles: z.array(z.number()),
    /** PSI bins: `edges` has bins+1 entries (first -Infinity written as null), counts per bin. */
    histogram: z.object({ edges: z.array(z.number().nullable()), counts: z.array(z.number().int().nonnegative()) }).strict(),
  })
  .strict();

export const CategoryProfileSchema = z
  .object({
    kind: z.literal("category"),
    count: z.number().int().nonnegative(),
    missing: z.number().int().nonnegative(),
    counts: z.record(z.string(), z.number().int().nonnegative()),
  })
  .strict();

export const ColumnProfileSchema = z.discriminatedUnion("kind", [NumericProfileSchema, CategoryProfileSchema]);

/**
 * Per-group summaries of the profiled data, so drift can be calibrated against the reference's
 * own variability when new data arrives a group (a building) at a time. Optional: profiles
 * written before it (the committed v1 model) do not have it, and drift falls back to an effective
 * sample size (see pipeline/validate-data/drift-calibration.ts).
 */
export const GroupSummaryColumnSchema = z
  .object({
    /** Categories, in the order of `counts` (numbers use the column's histogram bins instead). */
    keys: z.array(z.string()).optional(),
    /** Group-major: for each kept group, its non-missing count in each bin (or category). */
    counts: z.array(z.number().int().nonnegative()),
  })
  .strict();

export const GroupSummariesSchema = z
  .object({
    /** The grouping column (dataset.group), possibly a derived composite key. */
    column: z.string(),
    /** Distinct groups in the profiled data. */
    count: z.number().int().nonnegative(),
    /** Rows of each kept group; more groups than the size budget are a seeded random subset. */
    rows: z.array(z.number().int().nonnegative()),
    columns: z.record(z.string(), GroupSummaryColumnSchema),
  })
  .strict();

export const DataProfileSchema = z
  .object({
    version: z.literal(1),
    rows: z.number().int().nonnegative(),
    columns: z.record(z.string(), ColumnProfileSchema),
    /** Class counts of the binned label, when the data had one. */
    label: z.record(z.string(), z.number().int().nonnegative()).optional(),
    /** Per-group bin counts for calibrated drift thresholds (profiles since issue 11). */
    groups: GroupSummariesSchema.optional(),
  })
  .strict();

export type NumericProfile = z.infer<typeof NumericProfileSchema>;
export type CategoryProfile = z.infer<typeof CategoryProfileSchema>;
export type ColumnProfile = z.infer<typeof ColumnProfileSchema>;
export type DataProfile = z.infer<typeof DataProfileSchema>;
export type GroupSummaries = z.infer<typeof GroupSummariesSchema>;
