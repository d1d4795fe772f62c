import { z } from "zod";
import { PHYSICS_FEATURE_INPUTS, PHYSICS_FEATURES, PHYSICS_INPUT_MEANING, PHYSICS_INPUTS, type PhysicsDerivation, type PhysicsFeature, type PhysicsInput } from "../model/physics.js";

/**
 * The one schema of `config/pipeline.yaml` (and of dataset profiles, which extend it).
 * Every section has defaults so a minimal file works; every value a user can get wrong is
 * range-checked here so the steps can trust the types.
 */

const share = z.number().min(0).max(1);
const positiveInt = z.number().int().positive();

export const NumberColumnSchema = z
  .object({
    type: z.literal("number"),
    required: z.boolean().default(false),
    aliases: z.array(z.string().min(1)).default([]),
    range: z
      .tuple([z.number(), z.number()])
      .refine(([min, max]) => min <= max, "a range is [min, max] with min <= max")
      .optional(),
    unit: z.string().optional(),
    description: z.string().optional(),
  })
  .strict();

export const CategoryColumnSchema = z
  .object({
    type: z.literal("category"),
    required: z.boolean().default(false),
    aliases: z.array(z.string().min(1)).default([]),
    /** Allowed values; omit for an open set (ids, cities). */
    categories: z.array(z.string()).optional(),
    /** Values treated as the same category after trimming and case-folding (e.g. "Summer" → "summer"). */
    normalize: z.boolean().default(true),
    description: z.string().optional(),
  })
  .strict();

export const DateColumnSchema = z
  .object({
    type: z.literal("date"),
    required: z.boolean().default(false),
    aliases: z.array(z.string().min(1)).default([]),
    /** Optional inclusive range as ISO dates. */
    range: z
      .tuple([z.string(), z.string()])
      .refine(([from, to]) => from <= to, "a range is [earliest, latest] with earliest <= latest")
      .optional(),
    description: z.string().optional(),
  })
  .strict();

export const ColumnSchema = z.discriminatedUnion("type", [NumberColumnSchema, CategoryColumnSchema, DateColumnSchema]);
export type ColumnSpec = z.infer<typeof ColumnSchema>;

export const LabelBinningSchema = z.discriminatedUnion("kind", [
  /** ASHRAE 7-point scale: round half away from zero, clamp to [-3, 3]. */
  z
    .object({
      kind: z.literal("seven_point"),
      classes: z.array(z.string()).length(7).default(["cold", "cool", "slightly cool", "neutral", "slightly warm", "warm", "hot"]),
    })
    .strict(),
  /** cool < cool_below <= neutral <= warm_above < warm */
  z
    .object({
      kind: z.literal("three_class"),
      cool_below: z.number().default(-0.5),
      warm_above: z.number().default(0.5),
      classes: z.array(z.string()).length(3).default(["cool", "neutral", "warm"]),
    })
    .strict()
    .refine((b) => b.cool_below <= b.warm_above, { message: "cool_below must be <= warm_above", path: ["cool_below"] }),
  /** The label column is already categorical. */
  z.object({ kind: z.literal("categorical"), classes: z.array(z.string()).min(2).optional() }).strict(),
]);
export type LabelBinning = z.infer<typeof LabelBinningSchema>;

export const DerivedColumnSchema = z.discriminatedUnion("kind", [
  z
    .object({
      name: z.string().min(1),
      /** month_year: "YYYY-MM" from a date column (the original project's `mes_ano`). */
      kind: z.literal("month_year"),
      from: z.string().min(1),
    })
    .strict(),
  z
    .object({
      name: z.string().min(1),
      /** composite: one category per distinct combination of the `from` columns (a group key such as contributor + city + season). */
      kind: z.literal("composite"),
      from: z.array(z.string().min(1)).min(1),
    })
    .strict(),
]);

/**
 * `group: [a, b, c]` is shorthand for a derived composite key: it adds
 * `{ name: "a+b+c", kind: composite, from: [a, b, c] }` to `derived` and groups by it. Applied to
 * the raw `dataset` section before the schema (parseConfig), so the schema's input type stays exact.
 */
export function expandCompositeGroup(raw: unknown): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const d = raw as Record<string, unknown>;
  if (!Array.isArray(d.group)) return raw;
  const from = d.group as unknown[];
  if (from.length === 1 && typeof from[0] === "string") return { ...d, group: from[0] };
  if (from.length === 0 || !from.every((x) => typeof x === "string" && x.length > 0)) return raw;
  const name = (from as string[]).join("+");
  const derived = Array.isArray(d.derived) ? (d.derived as unknown[]) : [];
  const exists = derived.some((x) => x !== null && typeof x === "object" && (x as { name?: unknown }).name === name);
  return { ...d, group: name, derived: exists ? derived : [...derived, { name, kind: "composite", from }] };
}

/**
 * `dataset.physics`: features computed from each row's inputs by thermal-comfort physics
 * (pipeline/model/physics.ts) and added to the model's features after `features`. Unlike
 * `derived` (columns of the table, computed from whole columns, usable as group or slice), these
 * belong to the model: the artifact carries the derivation and serving recomputes them from each
 * request's inputs, which is why the inputs must be number features.
 */
export const PhysicsSchema = z
  .object({
    /** Which ones, in this order after the configured features. */
    features: z.array(z.enum(PHYSICS_FEATURES)).min(1),
    /** The feature each physics input is read from; an input left out is read from the feature of its own name. */
    inputs: z.object(Object.fromEntries(PHYSICS_INPUTS.map((i) => [i, z.string().min(1).optional()])) as Record<PhysicsInput, z.ZodOptional<z.ZodString>>).strict().default({}),
    /** Other names for derived features whose own name is taken (the committed data has pmv and ppd columns). */
    names: z.object(Object.fromEntries(PHYSICS_FEATURES.map((f) => [f, z.string().min(1).optional()])) as Record<PhysicsFeature, z.ZodOptional<z.ZodString>>).strict().default({}),
    /** Also cross-validate every candidate without them, so the training report shows what they add (one more CV per candidate). */
    compare_without: z.boolean().default(true),
  })
  .strict();
export type PhysicsConfig = z.infer<typeof PhysicsSchema>;

interface PhysicsIssue {
  /** Under `dataset`. */
  path: (string | number)[];
  message: string;
}

/**
 * `dataset.physics` against the dataset's columns: the derivation train writes into the artifact, or
 * the problems with the section. Each physics input a chosen feature reads is taken from the feature
 * named in `inputs`, else from the feature of the input's own name; one that a feature needs (see
 * PHYSICS_FEATURE_INPUTS) must be found, one it only uses when present (tr, vel) may be absent.
 */
export function resolvePhysics(d: { columns: Record<string, ColumnSpec>; features: string[]; derived: { name: string }[]; physics?: PhysicsConfig }): { derivation: PhysicsDerivation | null; issues: PhysicsIssue[] } {
  const physics = d.physics;
  if (!physics) return { derivation: null, issues: [] };
  const issues: PhysicsIssue[] = [];
  const issue = (path: (string | number)[], message: string) => void issues.push({ path: ["physics", ...path], message });

  physics.features.forEach((kind, i) => {
    if (physics.features.indexOf(kind) !== i) issue(["features", i], `"${kind}" is listed twice`);
  });
  const chosen = [...new Set(physics.features)];
  for (const kind of Object.keys(physics.names) as PhysicsFeature[]) {
    if (physics.names[kind] !== undefined && !chosen.includes(kind)) issue(["names", kind], `"${kind}" is not in dataset.physics.features, so it has no name to change`);
  }

  // Names a derived feature cannot take: a request field with that name would mean two things.
  const taken = new Map<string, string>();
  for (const [name, spec] of Object.entries(d.columns)) {
    taken.set(name, `a column (dataset.columns.${name})`);
    for (const alias of spec.aliases) if (!taken.has(alias)) taken.set(alias, `an alias of dataset.columns.${name}`);
  }
  for (const x of d.derived) if (!taken.has(x.name)) taken.set(x.name, "a derived column (dataset.derived)");
  const features = chosen.map((kind) => {
    const name = physics.names[kind] ?? kind;
    const at = physics.names[kind] !== undefined ? ["names", kind] : ["features", physics.features.indexOf(kind)];
    const other = taken.get(name);
    if (other) issue(at, `"${name}" is already ${other}; give the derived ${kind} another name with dataset.physics.names: { ${kind}: <name> }`);
    taken.set(name, `the derived ${kind}`);
    return { name, kind };
  });

  const needs = new Set(chosen.flatMap((k) => PHYSICS_FEATURE_INPUTS[k].needs));
  const uses = new Set(chosen.flatMap((k) => PHYSICS_FEATURE_INPUTS[k].uses));
  const inputs: PhysicsDerivation["inputs"] = {};
  for (const input of PHYSICS_INPUTS) {
    const mapped = physics.inputs[input];
    const needed = needs.has(input);
    if (!needed && !uses.has(input)) {
      if (mapped !== undefined) issue(["inputs", input], `no chosen feature reads ${input} (${chosen.join(", ")}); remove it`);
      continue;
    }
    const readers = chosen.filter((k) => PHYSICS_FEATURE_INPUTS[k].needs.includes(input) || PHYSICS_FEATURE_INPUTS[k].uses.includes(input)).join(", ");
    const name = mapped ?? input;
    const column = d.columns[name];
    const what = `${readers} ${needed ? "needs" : "uses"} ${input} (${PHYSICS_INPUT_MEANING[input]})`;
    if (!column) {
      if (mapped !== undefined) issue(["inputs", input], `unknown column "${name}" (not in dataset.columns)`);
      else if (needed) issue(["inputs", input], `${what}, and the dataset has no column "${input}"; map it to a number feature, e.g. inputs: { ${input}: <column> }`);
      continue;
    }
    if (column.type !== "number") issue(["inputs", input], `${what}: "${name}" is a ${column.type} column; it must be a number column`);
    else if (!d.features.includes(name)) issue(["inputs", input], `${what}: "${name}" is not in dataset.features; serving reads physics inputs from the model's features, so add it there`);
    else inputs[input] = name;
  }
  return { derivation: issues.length === 0 ? { features, inputs } : null, issues };
}

export const DatasetSchema = z
  .object({
    path: z.string().min(1),
    delimiter: z.string().length(1).default(","),
    columns: z.record(z.string(), ColumnSchema).refine((c) => Object.keys(c).length > 0, { message: "at least one column" }),
    label: z
      .object({
        column: z.string().min(1),
        binning: LabelBinningSchema,
      })
      .strict(),
    features: z.array(z.string().min(1)).min(1),
    /** Column whose rows must stay together in splits (a building). Can be a derived column. */
    group: z.string().min(1).optional(),
    /** Columns that identify a record (record id, survey number): left out of duplicate detection, never features. */
    identifiers: z.array(z.string().min(1)).default([]),
    derived: z.array(DerivedColumnSchema).default([]),
    /** Columns used to slice metrics and gates (season, building type). */
    slices: z.array(z.string().min(1)).default([]),
    physics: PhysicsSchema.optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    const known = new Set([...Object.keys(d.columns), ...d.derived.map((x) => x.name)]);
    const physicsNames = new Set((d.physics?.features ?? []).map((kind) => d.physics?.names[kind] ?? kind));
    const check = (name: string, path: (string | number)[]) => {
      if (known.has(name)) return;
      if (physicsNames.has(name)) ctx.addIssue({ code: "custom", path, message: `"${name}" is a physics feature (dataset.physics): the model gets it by itself, it is not a column of the dataset` });
      else ctx.addIssue({ code: "custom", path, message: `unknown column "${name}" (not in dataset.columns or dataset.derived)` });
    };
    check(d.label.column, ["label", "column"]);
    d.features.forEach((f, i) => check(f, ["features", i]));
    if (d.group) check(d.group, ["group"]);
    d.slices.forEach((s, i) => check(s, ["slices", i]));
    d.identifiers.forEach((s, i) => {
      check(s, ["identifiers", i]);
      if (d.features.includes(s)) ctx.addIssue({ code: "custom", path: ["identifiers", i], message: `"${s}" identifies records; it cannot also be a feature` });
    });
    d.derived.forEach((x, i) => {
      if (x.kind === "composite") {
        x.from.forEach((f, j) => {
          if (!d.columns[f]) ctx.addIssue({ code: "custom", path: ["derived", i, "from", j], message: `unknown column "${f}"` });
        });
        return;
      }
      const src = d.columns[x.from];
      if (!src) ctx.addIssue({ code: "custom", path: ["derived", i, "from"], message: `unknown column "${x.from}"` });
      else if (src.type !== "date") ctx.addIssue({ code: "custom", path: ["derived", i, "from"], message: `"${x.from}" must be a date column for month_year` });
    });
    if (d.features.includes(d.label.column)) ctx.addIssue({ code: "custom", path: ["features"], message: "the label column cannot be a feature" });
    for (const problem of resolvePhysics(d).issues) ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
  });
export type DatasetConfig = z.infer<typeof DatasetSchema>;

export const ValidationSchema = z
  .object({
    min_rows: positiveInt.default(50),
    /** How many individual violations the report lists before it only counts. */
    max_listed_violations: positiveInt.default(100),
    /** Share of rows with a schema violation above which validation fails. */
    max_violation_share: share.default(0.01),
    missing: z
      .object({
        max_share: share.default(0.2),
        per_column: z.record(z.string(), share).default({}),
      })
      .strict()
      .prefault({}),
    duplicates: z
      .object({
        max_share: share.default(0.05),
        /** Compare rows on these columns only (default: every column except the identifiers). */
        columns: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .prefault({}),
    outliers: z
      .object({
        method: z.enum(["iqr", "zscore"]).default("iqr"),
        iqr_k: z.number().positive().default(3),
        z_threshold: z.number().positive().default(4),
        max_share: share.default(0.05),
        /** A value holding at least this share of a column is a spike: fences are computed without it (see outlier-shape.ts). */
        spike_share: share.default(0.1),
      })
      .strict()
      .prefault({}),
    imbalance: z.object({ min_class_share: share.default(0.02) }).strict().prefault({}),
    constant_columns: z.enum(["error", "warning", "ignore"]).default("error"),
    /** Overall quality score (0..1) below which validation fails. */
    min_score: share.default(0.6),
  })
  .strict();

export const DriftSchema = z
  .object({
    numeric_method: z.enum(["ks", "psi"]).default("psi"),
    categorical_method: z.enum(["chi2", "psi"]).default("psi"),
    psi_threshold: z.number().positive().default(0.2),
    psi_bins: z.number().int().min(2).max(100).default(10),
    /** KS and chi-square flag a column only if p < alpha AND the effect size exceeds min_effect. */
    alpha: share.default(0.01),
    ks_min_effect: share.default(0.1),
    chi2_min_effect: share.default(0.1),
    /** Share of drifted feature columns above which validation fails (0 = any drift fails). */
    max_drifted_share: share.default(0.3),
    /**
     * Strong drift: one column drifted this clearly fails validation by itself, whatever the
     * drifted share (pipeline/validate-data/drift.ts, strongDrift). Its calibrated test (KS or
     * chi-square on the group-calibrated effective sample sizes) has p < alpha and its effect
     * (KS D or Cramér's V) is at least min_effect. Needs calibrated p-values, so it is off when
     * the drift calibration is `none`.
     */
    strong: z
      .object({
        enabled: z.boolean().default(true),
        alpha: share.default(0.001),
        min_effect: share.default(0.3),
      })
      .strict()
      .prefault({}),
    /**
     * Thresholds calibrated against the reference's own variability, resampled by group
     * (pipeline/validate-data/drift-calibration.ts). auto: group bootstrap when the reference
     * profile has per-group summaries, else an effective sample size from the batch's groups.
     */
    calibration: z
      .object({
        method: z.enum(["auto", "group_bootstrap", "effective_n", "none"]).default("auto"),
        quantile: z.number().gt(0.5).lt(1).default(0.99),
        resamples: z.number().int().min(50).max(20_000).default(1000),
        /** Size budget of the per-group summaries stored in a profile (groups kept). */
        max_groups: z.number().int().min(2).max(10_000).default(300),
        seed: z.number().int().nonnegative().default(11),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const imputationStrategy = z.enum(["drop", "mean", "median", "mode", "interpolate", "ffill"]);

export const PreprocessingSchema = z
  .object({
    imputation: z
      .object({
        numeric: imputationStrategy.default("median"),
        categorical: z.enum(["drop", "mode", "ffill"]).default("mode"),
        per_column: z.record(z.string(), imputationStrategy).default({}),
        /** Sort key for interpolate / ffill (otherwise file order). */
        order_by: z.string().optional(),
      })
      .strict()
      .prefault({}),
    outliers: z
      .object({
        method: z.enum(["none", "iqr", "zscore"]).default("iqr"),
        action: z.enum(["cap", "remove"]).default("cap"),
        iqr_k: z.number().positive().default(3),
        z_threshold: z.number().positive().default(4),
      })
      .strict()
      .prefault({}),
    encoding: z.enum(["ordinal", "onehot"]).default("ordinal"),
    drop_duplicates: z.boolean().default(false),
  })
  .strict();

export const SplitSchema = z
  .object({
    method: z.enum(["group", "stratified", "time", "random"]).default("group"),
    test_share: z.number().gt(0).lt(1).default(0.2),
    /** For method=time: the date column; the latest test_share of rows is the test set. */
    time_column: z.string().optional(),
    cv_folds: z.number().int().min(2).max(20).default(5),
    seed: z.number().int().nonnegative().default(42),
  })
  .strict();

const classWeight = z.union([z.literal("none"), z.literal("balanced"), z.record(z.string(), z.number().positive())]);
const maxFeatures = z.union([z.enum(["sqrt", "log2", "all"]), z.number().positive()]);

export const TreeParamsSchema = z
  .object({
    criterion: z.enum(["gini", "entropy"]).default("gini"),
    max_depth: z.number().int().min(1).max(64).default(10),
    min_samples_split: z.number().int().min(2).default(2),
    min_samples_leaf: z.number().int().min(1).default(1),
    class_weight: classWeight.default("none"),
    max_bins: z.number().int().min(2).max(256).default(256),
  })
  .strict();

export const ForestParamsSchema = TreeParamsSchema.extend({
  n_trees: z.number().int().min(1).max(2000).default(100),
  max_features: maxFeatures.default("sqrt"),
  bootstrap: z.boolean().default(true),
  max_samples: z.number().gt(0).max(1).default(1),
  max_depth: z.number().int().min(1).max(64).default(20),
  /** Worker threads; 0 = one per core. */
  n_jobs: z.number().int().min(0).max(64).default(0),
}).strict();

/** Histogram gradient boosting (softmax); defaults follow scikit-learn's HistGradientBoostingClassifier. */
export const BoostingParamsSchema = z
  .object({
    learning_rate: z.number().gt(0).max(10).default(0.1),
    max_iter: z.number().int().min(1).max(10_000).default(100),
    /** Leaves per tree (grown best-first); 0 = no limit (then max_depth must be set). */
    max_leaf_nodes: z.number().int().min(0).max(4096).default(31),
    /** 0 = no limit. */
    max_depth: z.number().int().min(0).max(64).default(0),
    min_samples_leaf: z.number().int().min(1).default(20),
    l2_regularization: z.number().min(0).default(0),
    max_bins: z.number().int().min(2).max(255).default(255),
    class_weight: classWeight.default("none"),
    /** "auto": on when the training part has more than 10 000 rows. Validation rows are whole groups when the dataset has a group. */
    early_stopping: z.union([z.literal("auto"), z.boolean()]).default("auto"),
    validation_fraction: z.number().gt(0).lt(1).default(0.1),
    n_iter_no_change: z.number().int().min(1).default(10),
    tol: z.number().min(0).default(1e-7),
    /** Threads (the class trees of an iteration in parallel); 0 = one per core. The model does not depend on it. */
    n_jobs: z.number().int().min(0).max(64).default(0),
  })
  .strict()
  .refine((p) => p.max_leaf_nodes > 0 || p.max_depth > 0, { message: "max_leaf_nodes and max_depth cannot both be 0 (unlimited)", path: ["max_leaf_nodes"] });

export const CandidateSchema = z.discriminatedUnion("algorithm", [
  z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/i), algorithm: z.literal("decision_tree"), params: TreeParamsSchema.prefault({}) }).strict(),
  z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/i), algorithm: z.literal("random_forest"), params: ForestParamsSchema.prefault({}) }).strict(),
  z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/i), algorithm: z.literal("gradient_boosting"), params: BoostingParamsSchema.prefault({}) }).strict(),
]);
export type Candidate = z.infer<typeof CandidateSchema>;

export const TrainingSchema = z
  .object({
    seed: z.number().int().nonnegative().default(42),
    selection_metric: z.enum(["macro_f1", "accuracy", "balanced_accuracy"]).default("macro_f1"),
    candidates: z.array(CandidateSchema).min(1),
    /**
     * Tune a weight per class on the out-of-fold predictions for the selection metric and store it in
     * the artifact (pipeline/train/decision-weights.ts); the CV score is then the nested estimate.
     */
    tune_decision_weights: z.boolean().default(false),
    permutation_importance_repeats: z.number().int().min(0).max(20).default(3),
  })
  .strict()
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.candidates.forEach((c, i) => {
      if (seen.has(c.name)) ctx.addIssue({ code: "custom", path: ["candidates", i, "name"], message: `duplicate candidate name "${c.name}"` });
      seen.add(c.name);
    });
  });

const metricName = z.string().min(1);

/** Mirrors MLflow's MetricThreshold: threshold, min_absolute_change, min_relative_change, greater_is_better. */
export const MetricThresholdSchema = z
  .object({
    metric: metricName,
    threshold: z.number().optional(),
    min_absolute_change: z.number().optional(),
    min_relative_change: z.number().optional(),
    greater_is_better: z.boolean().default(true),
  })
  .strict();
export type MetricThreshold = z.infer<typeof MetricThresholdSchema>;

export const SanityCaseSchema = z
  .object({
    name: z.string().min(1),
    input: z.record(z.string(), z.union([z.number(), z.string()])),
    expect: z.string().optional(),
    expect_not: z.array(z.string()).optional(),
  })
  .strict()
  .refine((c) => c.expect !== undefined || (c.expect_not?.length ?? 0) > 0, { message: "a sanity case needs expect or expect_not" });

export const PromotionSchema = z
  .object({
    gates: z
      .object({
        absolute: z.array(MetricThresholdSchema).default([]),
        min_class_recall: share.optional(),
        champion: z.array(MetricThresholdSchema).default([]),
        slices: z
          .object({
            columns: z.array(z.string()).default([]),
            metric: metricName.default("macro_f1"),
            max_drop: share.default(0.05),
            min_rows: positiveInt.default(30),
          })
          .strict()
          .prefault({}),
        sanity: z
          .object({
            cases: z.array(SanityCaseSchema).default([]),
            monotonic: z
              .array(z.object({ feature: z.string(), direction: z.enum(["increasing", "decreasing"]), steps: z.number().int().min(3).default(12) }).strict())
              .default([]),
            max_latency_ms_per_row: z.number().positive().default(1),
            max_artifact_bytes: positiveInt.default(50_000_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    github: z
      .object({
        base_branch: z.string().default("main"),
        labels: z.array(z.string()).default(["model-promotion"]),
        reviewers: z.array(z.string()).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** An HTTP probe of the revision's container (Cloud Run startup / liveness probes). */
export const ProbeSchema = z
  .object({
    path: z.string().startsWith("/", "a path starting with /"),
    initial_delay_seconds: z.number().int().min(0).max(240).default(0),
    period_seconds: z.number().int().min(1).max(240).default(5),
    timeout_seconds: z.number().int().min(1).max(240).default(2),
    failure_threshold: z.number().int().min(1).max(100).default(3),
  })
  .strict()
  .refine((p) => p.timeout_seconds <= p.period_seconds, { message: "timeout_seconds must be <= period_seconds (Cloud Run refuses otherwise)", path: ["timeout_seconds"] });

/**
 * When a canary step passes, judged from the new and the stable revisions' /metrics over the step:
 * the defaults are the original design's (5xx share <= 1%, p99 <= 500 ms and <= 1.5x stable's,
 * predicted-class distribution within PSI 0.2 of stable's).
 */
export const CanaryThresholdsSchema = z
  .object({
    max_5xx_share: share.default(0.01),
    max_p99_ms: z.number().positive().default(500),
    max_p99_ratio: z.number().positive().default(1.5),
    /** The ratio rule applies only when the new p99 is above this (ms): 2 ms against 1 ms is not a regression worth a rollback. */
    p99_ratio_floor_ms: z.number().min(0).default(0),
    max_class_psi: z.number().positive().default(0.2),
  })
  .strict();

export const CanarySchema = z
  .object({
    /** Minimum time each step holds before it is judged. */
    hold_seconds: z.number().min(0).default(300),
    /** Minimum requests the new revision must have served in the step; fewer is "no data", a failure. */
    min_requests: positiveInt.default(100),
    /** How long a step may wait for min_requests after the hold time before it fails for lack of data. */
    max_wait_seconds: z.number().positive().default(1800),
    /** How often the step reads /metrics while it holds. */
    poll_seconds: z.number().positive().default(10),
    /** Routes (the `route` label of http_requests_total) whose requests are judged. */
    routes: z.array(z.string().startsWith("/")).min(1).default(["/predict", "/predict/batch"]),
    thresholds: CanaryThresholdsSchema.prefault({}),
  })
  .strict();

/** The smoke test of a new revision's tag URL, before it gets any traffic. */
export const SmokeSchema = z
  .object({
    /** Consecutive healthy /ready answers required. */
    ready_checks: positiveInt.default(3),
    interval_seconds: z.number().min(0).default(2),
    /** How long to keep trying for ready_checks consecutive healthy answers. */
    timeout_seconds: z.number().positive().default(120),
    request_timeout_seconds: z.number().positive().default(10),
    /** Predictions sent after the smoke test passed and before any traffic moves, so a cold start does not count against the canary's p99. */
    warmup_requests: z.number().int().min(0).max(10_000).default(20),
    /** Extra records (a JSON list) to predict; their expected class is the local artifact's prediction. */
    rows_file: z.string().min(1).optional(),
  })
  .strict();

const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name");
/** Cloud Run sets these itself and refuses them in a revision template. */
const RESERVED_ENV = new Set(["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"]);
const labelKey = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, "a Google Cloud label key: lowercase letter first, then lowercase letters, digits, _ or -, up to 63");
const labelValue = z.string().regex(/^[a-z0-9_-]{0,63}$/, "a Google Cloud label value: lowercase letters, digits, _ or -, up to 63");

export const EnvironmentSchema = z
  .object({
    target: z.enum(["cloud-run", "local"]).default("cloud-run"),
    project: z.string().regex(/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/, "a Google Cloud project id").optional(),
    region: z.string().default("europe-west1"),
    service: z.string().regex(/^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$/, "a Cloud Run service name: lowercase letters, digits and hyphens, 1-49 chars"),
    cpu: z.string().regex(/^(\d+(\.\d+)?|\d+m)$/, 'a CPU limit like "1", "2" or "500m"').default("1"),
    memory: z.string().regex(/^\d+(Mi|Gi)$/, "a memory size like 512Mi or 1Gi").default("512Mi"),
    min_instances: z.number().int().nonnegative().default(0),
    max_instances: z.number().int().positive().default(3),
    /** Requests one instance serves at a time (Cloud Run's maxInstanceRequestConcurrency). */
    concurrency: z.number().int().min(1).max(1000).default(80),
    /** Request timeout of the revision. */
    timeout_seconds: z.number().int().min(1).max(3600).default(300),
    /** The runtime service account (email); omit for the project's default compute account. */
    service_account: z.string().email().optional(),
    ingress: z.enum(["all", "internal", "internal-and-cloud-load-balancing"]).default("all"),
    env: z.record(envVarName, z.string()).default({}),
    /** Extra labels on the service and revision; the lineage labels (model, version, git sha) are added. */
    labels: z.record(labelKey, labelValue).default({}),
    probes: z
      .object({
        startup: ProbeSchema.prefault({ path: "/ready", period_seconds: 5, failure_threshold: 24 }),
        liveness: ProbeSchema.prefault({ path: "/health", period_seconds: 15, failure_threshold: 3 }),
      })
      .strict()
      .prefault({}),
    /** Traffic percentages for a canary rollout, increasing and ending at 100, e.g. [10, 50, 100]. */
    canary_steps: z.array(z.number().int().min(1).max(100)).min(1).default([100]),
    canary: CanarySchema.prefault({}),
    smoke: SmokeSchema.prefault({}),
    /** How long one Cloud Run operation (create, update, traffic move) may take. */
    operation_timeout_seconds: z.number().positive().default(600),
    /** The port the container listens on (and the local target's default). */
    port: z.number().int().min(1).max(65535).default(8080),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (e.max_instances < e.min_instances) ctx.addIssue({ code: "custom", message: "max_instances must be >= min_instances", path: ["max_instances"] });
    e.canary_steps.forEach((s, i) => {
      if (i > 0 && s <= e.canary_steps[i - 1]!) ctx.addIssue({ code: "custom", message: "canary steps must increase", path: ["canary_steps", i] });
    });
    if (e.canary_steps.at(-1) !== 100) ctx.addIssue({ code: "custom", message: "the last canary step must be 100", path: ["canary_steps", e.canary_steps.length - 1] });
    for (const name of Object.keys(e.env)) {
      if (RESERVED_ENV.has(name)) ctx.addIssue({ code: "custom", message: `${name} is set by Cloud Run and cannot be configured`, path: ["env", name] });
    }
  });
export type EnvironmentConfig = z.infer<typeof EnvironmentSchema>;

export const NotificationsSchema = z
  .object({
    slack: z
      .object({
        /** Name of the environment variable / secret that holds the webhook URL (never the URL itself). */
        webhook_env: z.string().default("SLACK_WEBHOOK_URL"),
        /** Which results are posted; the console fallback (no webhook) prints every one. */
        on: z.array(z.enum(["success", "failure", "rollback", "nothing_to_promote"])).default(["success", "failure", "rollback"]),
        /** Slack mention put before failures and rollbacks, e.g. "<!here>" or "<!subteam^S0123>". */
        mention_on_failure: z.string().optional(),
        /** Attempts in all on 429, 5xx and network errors (the first included). */
        max_attempts: z.number().int().min(1).max(10).default(4),
        /** The longest wait between attempts; a longer Retry-After gives up (a late message is a warning). */
        max_wait_seconds: z.number().positive().max(600).default(60),
        timeout_seconds: z.number().positive().max(120).default(10),
      })
      .strict()
      .optional(),
  })
  .strict();

const inputPolicyAction = z.enum(["error", "impute"]);

/**
 * `serving`: the prediction service (`pipeline serve`, pipeline/serve/). Every field has a default,
 * so the section can be left out. `input_policy` is written into each trained artifact (it is part
 * of the model: what it answers); the rest is read by the server when it starts.
 */
/**
 * Where the deploy workflow pushes the image: one repository for every environment, so the digest
 * that passed staging is the one production runs. Artifact Registry (`REGION-docker.pkg.dev/...`)
 * is logged in to with the deploy identity's Google token.
 */
export const ImageSchema = z
  .object({
    repository: z
      .string()
      .regex(/^[a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+$/, "a registry host and repository, e.g. europe-west1-docker.pkg.dev/my-project/models/thermal-comfort")
      .optional(),
  })
  .strict();

export const ServingSchema = z
  .object({
    /** Unknown categories and out-of-range values: refuse the record (error) or treat the value as missing and warn (impute). */
    input_policy: z
      .object({
        unknown_category: inputPolicyAction.default("impute"),
        out_of_range: inputPolicyAction.default("impute"),
        per_field: z.record(z.string(), z.object({ unknown_category: inputPolicyAction.optional(), out_of_range: inputPolicyAction.optional() }).strict()).default({}),
      })
      .strict()
      .prefault({}),
    /** Used when neither --port nor PORT is given. */
    port: z.number().int().min(0).max(65535).default(8080),
    host: z.string().min(1).default("0.0.0.0"),
    /** Records per POST /predict/batch. */
    max_batch: positiveInt.max(100_000).default(1000),
    /** Threads that share a large batch, the request's own included (default: 2 on a machine with 2 or more cores, else 1). */
    batch_threads: z.number().int().min(1).max(16).optional(),
    /** POST /predict parsed by the service's own strict HTTP/1.1 front; false leaves every request to node's parser. */
    http1_front: z.boolean().default(true),
    /** Largest request body accepted (413 above). */
    body_limit_bytes: positiveInt.default(1_048_576),
    /** On SIGTERM: how long in-flight requests may take before the process exits anyway. */
    shutdown_timeout_seconds: z.number().positive().max(600).default(10),
    log: z
      .object({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
        /** Share of predictions written as a log line (1 = every one). */
        prediction_sample_rate: share.default(1),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** Whether /predict and /predict/batch need an API key (any role). */
        predict_requires_key: z.boolean().default(false),
        /** Environment variable with keys: `role:key` entries separated by commas or newlines; a key may be given as sha256:<hex>. */
        keys_env: z.string().min(1).default("PIPELINE_API_KEYS"),
        /** A mounted file in the same format, one entry per line (# comments). */
        keys_file: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    rate_limit: z
      .object({
        enabled: z.boolean().default(true),
        /** Requests per window per API key (or per client address without a key). */
        max: positiveInt.default(6000),
        window_seconds: z.number().positive().max(3600).default(60),
      })
      .strict()
      .prefault({}),
    /** Trust X-Forwarded-For for the client address (behind Cloud Run's front end). */
    trust_proxy: z.boolean().default(true),
    /** Settings of the monitoring endpoints (validated by pipeline/serve/monitoring/config.ts). */
    monitoring: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type ServingConfig = z.infer<typeof ServingSchema>;

export const PipelineConfigSchema = z
  .object({
    version: z.literal(1),
    model: z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lowercase letters, digits and hyphens") , description: z.string().optional() }).strict(),
    dataset: DatasetSchema,
    validation: ValidationSchema.prefault({}),
    drift: DriftSchema.prefault({}),
    preprocessing: PreprocessingSchema.prefault({}),
    split: SplitSchema.prefault({}),
    training: TrainingSchema,
    promotion: PromotionSchema.prefault({}),
    environments: z.record(z.string(), EnvironmentSchema).default({}),
    notifications: NotificationsSchema.prefault({}),
    serving: ServingSchema.prefault({}),
    image: ImageSchema.prefault({}),
  })
  .strict();

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;
export type PipelineConfigInput = z.input<typeof PipelineConfigSchema>;
