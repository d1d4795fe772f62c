import { z } from "zod";
import { DataProfileSchema } from "../data/profile-schema.js";
import { PHYSICS_FEATURES, PHYSICS_INPUTS, type PhysicsDerivation, type PhysicsInput } from "./physics.js";
import { decodeTrees, PackedTreesSchema } from "./tree-codec.js";

/**
 * `model.json`: everything needed to serve a model without the training code.
 * Bump ARTIFACT_SCHEMA_VERSION on any incompatible change; loaders refuse versions they do not know.
 */
export const ARTIFACT_SCHEMA_VERSION = 2;
/**
 * Versions this build reads. 2 (written since the packed tree encoding) may hold the trees as
 * `model.packed_trees` (pipeline/model/tree-codec.ts; load.ts decodes them into `model.trees`) or as plain
 * arrays; 1 always holds plain arrays. After loading, both look the same.
 */
export const READABLE_SCHEMA_VERSIONS = [1, 2] as const;

/**
 * Input-contract fields (all optional, so artifacts written before them keep loading; see
 * pipeline/model/input-contract.ts for the defaults): `aliases` are other names a request may use
 * for the feature, `required` whether a record without it is refused, `range_source` whether
 * `range` was configured (a validity range: the input policy applies) or observed in training.
 */
const contractFields = {
  aliases: z.array(z.string().min(1)).optional(),
  required: z.boolean().optional(),
};

export const FeatureSpecSchema = z.discriminatedUnion("type", [
  z.object({ name: z.string(), type: z.literal("number"), range: z.tuple([z.number(), z.number()]).optional(), range_source: z.enum(["config", "training"]).optional(), ...contractFields }).strict(),
  z.object({ name: z.string(), type: z.literal("category"), categories: z.array(z.string()), ...contractFields }).strict(),
]);

/** What a non-error is done with: refuse the record, or impute the value (as missing) and warn. */
export const InputPolicyActionSchema = z.enum(["error", "impute"]);
export const InputPolicyRuleSchema = z
  .object({ unknown_category: InputPolicyActionSchema.optional(), out_of_range: InputPolicyActionSchema.optional() })
  .strict();
/** Per-artifact policy for values the model cannot trust; per_field overrides the defaults. */
export const InputPolicySchema = z
  .object({
    unknown_category: InputPolicyActionSchema.default("impute"),
    out_of_range: InputPolicyActionSchema.default("impute"),
    per_field: z.record(z.string(), InputPolicyRuleSchema).default({}),
  })
  .strict();
export type InputPolicy = z.infer<typeof InputPolicySchema>;
export type FeatureSpec = z.infer<typeof FeatureSpecSchema>;

/**
 * A tree as parallel arrays (compact JSON, fast to load). Node i is a leaf when feature[i] = -1.
 * Internal node: go left when x[feature] <= threshold; a missing value goes to `missing_left ? left : right`.
 * Leaves hold class probabilities in `value` (length = classes.length).
 */
export const TreeSchema = z
  .object({
    feature: z.array(z.number().int()),
    threshold: z.array(z.number()),
    left: z.array(z.number().int()),
    right: z.array(z.number().int()),
    missing_left: z.array(z.union([z.literal(0), z.literal(1)])),
    value: z.array(z.array(z.number()).nullable()),
    /** Weighted sample count per node (feature importance, explanation). */
    n: z.array(z.number()),
  })
  .strict();
export type TreeJson = z.infer<typeof TreeSchema>;

const TREE_KEYS = ["feature", "threshold", "left", "right", "missing_left", "value", "n"] as const;

/** TreeSchema's rules as one plain loop per array; the first problem with its path, or null. */
function treeProblem(v: unknown): { path: (string | number)[]; message: string } | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { path: [], message: "expected a tree object" };
  const t = v as Record<string, unknown>;
  for (const key of Object.keys(t)) if (!(TREE_KEYS as readonly string[]).includes(key)) return { path: [key], message: `unrecognized key "${key}"` };
  for (const key of TREE_KEYS) {
    const a = t[key];
    if (!Array.isArray(a)) return { path: [key], message: "expected an array" };
    const int = key === "feature" || key === "left" || key === "right";
    for (let i = 0; i < a.length; i++) {
      const x: unknown = a[i];
      if (key === "missing_left") {
        if (x !== 0 && x !== 1) return { path: [key, i], message: "expected 0 or 1" };
      } else if (key === "value") {
        if (x === null) continue;
        if (!Array.isArray(x)) return { path: [key, i], message: "expected an array of numbers or null" };
        for (let k = 0; k < x.length; k++) if (typeof x[k] !== "number" || !Number.isFinite(x[k])) return { path: [key, i, k], message: "expected a number" };
      } else if (typeof x !== "number" || !Number.isFinite(x) || (int && !Number.isInteger(x))) {
        return { path: [key, i], message: int ? "expected an integer" : "expected a number" };
      }
    }
  }
  return null;
}

/**
 * TreeSchema as one loop per array: an artifact holds hundreds of thousands of nodes, and checking them
 * element by element through zod took most of the time model.json needed to load.
 */
const TreeArraysSchema = z.custom<TreeJson>().superRefine((v, ctx) => {
  const problem = treeProblem(v);
  if (problem) ctx.addIssue({ code: "custom", message: problem.message, path: problem.path });
});

const imputationEntry = z.object({ strategy: z.enum(["drop", "mean", "median", "mode", "interpolate", "ffill"]), value: z.union([z.number(), z.string()]).nullable() }).strict();
const outlierEntry = z.object({ method: z.enum(["iqr", "zscore"]), action: z.enum(["cap", "remove"]), lower: z.number(), upper: z.number() }).strict();

/**
 * Derived physics features (pipeline/model/physics.ts), recomputed from each record's inputs wherever the
 * model predicts: which ones, under which names, and the model feature each physics input is read from.
 */
export const PhysicsDerivationSchema: z.ZodType<PhysicsDerivation> = z
  .object({
    features: z.array(z.object({ name: z.string().min(1), kind: z.enum(PHYSICS_FEATURES) }).strict()).min(1),
    inputs: z.object(Object.fromEntries(PHYSICS_INPUTS.map((i) => [i, z.string().min(1).optional()])) as Record<PhysicsInput, z.ZodOptional<z.ZodString>>).strict(),
  })
  .strict();

export const PreprocessingParamsSchema = z
  .object({
    /** Per input column: how a missing value is filled at serving time (fill value fitted on training data). */
    imputation: z.record(z.string(), imputationEntry),
    outliers: z.record(z.string(), outlierEntry),
    encoding: z.enum(["ordinal", "onehot"]),
    /** Category columns: the fitted category list (its index is the ordinal code). */
    categories: z.record(z.string(), z.array(z.string())),
    /** Names of the encoded feature vector, in order (what the trees' feature indices refer to); derived physics features come last. */
    encoded_features: z.array(z.string()),
    /** Absent in artifacts without derived features (every artifact before the field). */
    physics: PhysicsDerivationSchema.optional(),
  })
  .strict();
export type PreprocessingParams = z.infer<typeof PreprocessingParamsSchema>;

export const LineageSchema = z
  .object({
    data_sha256: z.string().regex(/^[0-9a-f]{64}$/),
    data_rows: z.number().int().nonnegative(),
    data_path: z.string(),
    config_sha256: z.string().regex(/^[0-9a-f]{64}$/),
    git_sha: z.string().nullable(),
    trainer: z.string(),
    seed: z.number().int(),
    candidate: z.string(),
    split: z.object({ method: z.string(), test_share: z.number(), test_rows: z.number().int(), train_rows: z.number().int() }).passthrough(),
    created_at: z.string(),
  })
  .strict();

const ModelArtifactObjectSchema = z
  .object({
    schema_version: z.union([z.literal(1), z.literal(2)]),
    name: z.string(),
    task: z.literal("classification"),
    label: z.object({ column: z.string(), binning: z.record(z.string(), z.unknown()) }).strict(),
    classes: z.array(z.string()).min(2),
    features: z.array(FeatureSpecSchema).min(1),
    preprocessing: PreprocessingParamsSchema,
    /** How the input contract treats unknown categories and out-of-range values (absent: impute and warn). */
    input_policy: InputPolicySchema.optional(),
    model: z
      .object({
        algorithm: z.enum(["decision_tree", "random_forest", "gradient_boosting"]),
        params: z.record(z.string(), z.unknown()),
        /**
         * How the trees' leaf vectors become probabilities (absent = "mean", as every artifact before the
         * field): "mean" averages leaf class probabilities; "sum_softmax" sums leaf raw scores (gradient
         * boosting: learning rate and initial scores already folded into the leaves) and applies softmax.
         */
        combine: z.enum(["mean", "sum_softmax"]).optional(),
        /** Gradient boosting: the initial raw score per class, for information (already in the first iteration's leaves). */
        init_scores: z.array(z.number()).optional(),
        /** Gradient boosting: boosting iterations kept (trees = iterations x classes, tree t*K + k scores class k). */
        iterations: z.number().int().positive().optional(),
        /**
         * Per class (classes order), a factor on its probability before the argmax (pipeline/model/decision.ts),
         * tuned by the trainer for its selection metric; absent = plain argmax.
         */
        decision_weights: z.array(z.number().positive().finite()).optional(),
        trees: z.array(TreeArraysSchema).min(1),
      })
      .strict(),
    /** Evaluation on the held-out split (see metrics.json for the full report). */
    metrics: z.record(z.string(), z.unknown()),
    reference_profile: DataProfileSchema,
    lineage: LineageSchema,
    /**
     * Model identity: modelContentHash (pipeline/model/identity.ts) over what predicts, written by
     * train. Optional: artifacts written before it (the committed v1) have none; loaders that find
     * one check it against the content.
     */
    content_sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const weights = m.model.decision_weights;
    if (weights && weights.length !== m.classes.length) ctx.addIssue({ code: "custom", path: ["model", "decision_weights"], message: `expected one weight per class (${m.classes.length}), got ${weights.length}` });
  });

/**
 * A schema_version 2 artifact may hold its trees packed (`model.packed_trees`, see tree-codec.ts): they
 * are decoded into `model.trees` before validation (on a copy), so every reader of the schema sees plain
 * trees whatever the file's encoding.
 */
function unpackedTrees(raw: unknown, ctx: { addIssue(issue: { code: "custom"; message: string; path: (string | number)[] }): void }): unknown {
  if (!raw || typeof raw !== "object") return raw;
  const r = raw as Record<string, unknown>;
  const model = r.model as Record<string, unknown> | undefined;
  if (r.schema_version !== 2 || !model || typeof model !== "object" || !("packed_trees" in model) || "trees" in model) return raw;
  const packed = PackedTreesSchema.safeParse(model.packed_trees);
  if (!packed.success) {
    for (const issue of packed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: ["model", "packed_trees", ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))] });
    return raw;
  }
  try {
    const { packed_trees: _packed, ...rest } = model;
    return { ...r, model: { ...rest, trees: decodeTrees(packed.data) } };
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message, path: ["model", "packed_trees"] });
    return raw;
  }
}

export const ModelArtifactSchema = z.preprocess(unpackedTrees, ModelArtifactObjectSchema);
export type ModelArtifact = z.infer<typeof ModelArtifactSchema>;
