import type { ColumnSpec } from "../config/schema.js";
import type { DataProfile } from "../data/profile-schema.js";
import { MISSING_TOKENS, parseNumberText } from "../data/csv-values.js";
import type { FeatureSpec, InputPolicy, ModelArtifact } from "./artifact-schema.js";
import { categoryCode, compileTransform, encodePhysics, type CategoryStep, type NumericStep, type PhysicsStep } from "./transform.js";

/**
 * The one input contract: every path that turns a record into a prediction (`pipeline predict`,
 * the service, sanity gates, smoke tests) checks the record here, so aliases, types, required
 * features, categories and ranges are handled the same way everywhere and every problem names
 * its field.
 *
 * Rules, per feature of the artifact:
 * - A feature may arrive under its name or one of its `aliases`; two of them in one record is an
 *   error (which one would win is a guess).
 * - Missing (absent, null, empty text): an error for a required feature; otherwise the fitted fill
 *   value is used and a warning says so. `required` is about presence: a required feature that is
 *   present with an unknown category or an out-of-range value follows the policy below (a silently imputed feature is how a model answers
 *   nonsense with confidence).
 * - Number features take JSON numbers. Text is an error ("hot", "NaN", "Infinity"), except text that
 *   is a plain decimal: read from a CSV that is the format; in JSON it is read and warned about.
 *   Booleans, lists and objects are errors.
 * - A value outside a configured range, and a category the model never saw, follow the artifact's
 *   input policy per field: `error` refuses the record, `impute` treats the value as missing
 *   (fill value) and warns. A value outside a range that was only observed in training is kept and
 *   warned about (the model extrapolates; nothing says it is invalid).
 * - Fields that are not features are ignored (the label column silently, others with a warning,
 *   which is how a misspelt feature name becomes visible).
 *
 * Defaults for artifacts written before these fields existed: no aliases; a feature is required
 * when the training data never lacked it (its reference profile has no missing values); ranges are
 * configured ranges; the policy is `impute` for both cases.
 */

export type ProblemKind =
  | "not_an_object"
  | "missing_required"
  | "wrong_type"
  | "ambiguous_field"
  | "unknown_category"
  | "out_of_range"
  | "imputed_missing"
  | "numeric_text"
  | "outside_training_range"
  | "unknown_field";

export interface FieldProblem {
  /** The field as the input named it (an alias when the input used one), "(record)" for the whole record. */
  field: string;
  kind: ProblemKind;
  message: string;
}

export type PreparedValue = number | string | null;

export interface CheckedRecord {
  /** True when the record can be predicted (no errors). */
  ok: boolean;
  /** Canonical feature name → value after the policy (null = missing, the fill value applies). */
  record: Record<string, PreparedValue>;
  errors: FieldProblem[];
  warnings: FieldProblem[];
}

export interface ContractField {
  name: string;
  type: "number" | "category";
  /** Name first, then aliases. */
  keys: string[];
  required: boolean;
  range: [number, number] | null;
  rangeIsConfigured: boolean;
  categories: string[];
  onUnknownCategory: "error" | "impute";
  onOutOfRange: "error" | "impute";
  /** Text describing what a missing value becomes, for warnings. */
  fillText: string;
  numberStep: NumericStep | null;
  categoryStep: CategoryStep | null;
}

export interface InputContract {
  fields: ContractField[];
  /** Every accepted key (names and aliases) → field index. */
  byKey: Map<string, number>;
  /** Keys ignored without a warning (the label column). */
  quiet: Set<string>;
  /** Length of the encoded feature vector. */
  width: number;
  policy: InputPolicy;
  /** Derived physics features, computed from the checked inputs into the encoded vector (null: none declared). */
  physics: PhysicsStep | null;
}

export interface CheckOptions {
  /** "parse": text that is a decimal is a number without comment (CSV cells); "warn" (default, JSON): read it and warn. */
  numericText?: "parse" | "warn";
  /** Warn about fields that are not features (default true). */
  warnUnknownFields?: boolean;
}

export const DEFAULT_INPUT_POLICY: InputPolicy = { unknown_category: "impute", out_of_range: "impute", per_field: {} };
const EMPTY: FieldProblem[] = [];
Object.freeze(EMPTY);

const contracts = new WeakMap<ModelArtifact, InputContract>();

/** Whether the training data ever lacked the feature (the default `required` of old artifacts). */
function neverMissing(profile: DataProfile | undefined, name: string): boolean {
  const column = profile?.columns[name];
  return column !== undefined && column.count > 0 && column.missing === 0;
}

function show(value: unknown): string {
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return text.length > 60 ? text.slice(0, 57) + "…" : text;
}

/** Compiles the contract of a model once (cached per artifact object). */
export function inputContract(model: ModelArtifact): InputContract {
  const cached = contracts.get(model);
  if (cached) return cached;
  const plan = compileTransform(model.preprocessing, model.features);
  const policy = model.input_policy ?? DEFAULT_INPUT_POLICY;
  const byKey = new Map<string, number>();
  const fields = model.features.map((f, i): ContractField => {
    const step = plan.steps[i]!;
    const keys = [f.name, ...(f.aliases ?? []).filter((a) => a !== f.name)];
    for (const k of keys) if (!byKey.has(k)) byKey.set(k, i);
    const rule = policy.per_field[f.name] ?? {};
    let fillText: string;
    if (step.kind === "number") fillText = Number.isNaN(step.fallback) ? "left missing" : `imputed with ${step.fallback}`;
    else fillText = step.fallback >= 0 ? `imputed with "${step.categories[step.fallback]}"` : "left missing";
    return {
      name: f.name,
      type: f.type,
      keys,
      required: f.required ?? neverMissing(model.reference_profile, f.name),
      range: f.type === "number" && f.range ? f.range : null,
      rangeIsConfigured: f.type === "number" ? (f.range_source ?? "config") === "config" : false,
      categories: step.kind === "category" ? step.categories : [],
      onUnknownCategory: rule.unknown_category ?? policy.unknown_category,
      onOutOfRange: rule.out_of_range ?? policy.out_of_range,
      fillText,
      numberStep: step.kind === "number" ? step : null,
      categoryStep: step.kind === "category" ? step : null,
    };
  });
  const contract: InputContract = { fields, byKey, quiet: new Set([model.label.column]), width: plan.names.length, policy, physics: plan.physics };
  contracts.set(model, contract);
  return contract;
}

function isMissingText(s: string, numeric: boolean): boolean {
  const t = s.trim();
  return t === "" || (numeric && MISSING_TOKENS.has(t));
}

/**
 * Checks one raw record (any JSON value) against the contract. When `encoded` is given (length
 * contract.width) and the record is ok, the feature vector the trees read is written into it, so a
 * served prediction needs no second pass and no allocation beyond the result object.
 */
export function checkRecord(contract: InputContract, raw: unknown, options: CheckOptions = {}, encoded?: Float64Array): CheckedRecord {
  const record: Record<string, PreparedValue> = {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    const what = raw === null ? "null" : Array.isArray(raw) ? "a list" : typeof raw;
    return { ok: false, record, errors: [{ field: "(record)", kind: "not_an_object", message: `a record must be a JSON object of feature values, got ${what}` }], warnings: EMPTY };
  }
  const obj = raw as Record<string, unknown>;
  let errors: FieldProblem[] | null = null;
  let warnings: FieldProblem[] | null = null;
  const error = (field: string, kind: ProblemKind, message: string) => void (errors ??= []).push({ field, kind, message });
  const warn = (field: string, kind: ProblemKind, message: string) => void (warnings ??= []).push({ field, kind, message });
  const numericText = options.numericText ?? "warn";

  for (const f of contract.fields) {
    let key: string | null = null;
    let value: unknown = undefined;
    for (const k of f.keys) {
      if (!Object.hasOwn(obj, k)) continue;
      if (key !== null) {
        error(k, "ambiguous_field", `${k}: given together with ${key}; both name the feature ${f.name}, give one`);
        break;
      }
      key = k;
      value = obj[k];
    }
    const field = key ?? f.name;
    const named = key !== null && key !== f.name ? `${key} (${f.name})` : f.name;
    let prepared: PreparedValue = null;
    let missing = value === undefined || value === null;

    if (!missing) {
      if (f.type === "number") {
        let n = NaN;
        if (typeof value === "number") {
          if (Number.isFinite(value)) n = value;
          else error(field, "wrong_type", `${named}: expected a finite number, got ${String(value)}`);
        } else if (typeof value === "string") {
          if (isMissingText(value, true)) missing = true;
          else {
            n = parseNumberText(value);
            if (Number.isNaN(n) || !Number.isFinite(n)) {
              n = NaN;
              error(field, "wrong_type", `${named}: expected a number, got the text ${show(value)}`);
            } else if (numericText === "warn") warn(field, "numeric_text", `${named}: a number given as text (${show(value)}); read as ${n}`);
          }
        } else error(field, "wrong_type", `${named}: expected a number, got ${Array.isArray(value) ? "a list" : typeof value}`);
        if (!Number.isNaN(n)) {
          const r = f.range;
          if (r && (n < r[0] || n > r[1])) {
            if (!f.rangeIsConfigured) {
              warn(field, "outside_training_range", `${named}: ${n} is outside the range seen in training [${r[0]}, ${r[1]}]; kept (the model extrapolates)`);
              prepared = n;
            } else if (f.onOutOfRange === "error") {
              error(field, "out_of_range", `${named}: ${n} is outside the valid range [${r[0]}, ${r[1]}]`);
            } else {
              warn(field, "out_of_range", `${named}: ${n} is outside the valid range [${r[0]}, ${r[1]}]; treated as missing and ${f.fillText}`);
            }
          } else prepared = n;
        }
      } else {
        let s: string | null = null;
        if (typeof value === "string") s = value;
        else if (typeof value === "number" && Number.isFinite(value)) s = String(value);
        else error(field, "wrong_type", `${named}: expected a category (text), got ${Array.isArray(value) ? "a list" : typeof value}`);
        if (s !== null) {
          if (isMissingText(s, false)) missing = true;
          else {
            const code = categoryCode(f.categoryStep!, s);
            if (code >= 0) prepared = f.categories[code]!;
            else {
              const known = f.categories.map((c) => `"${c}"`).join(", ");
              if (f.onUnknownCategory === "error") {
                error(field, "unknown_category", `${named}: unknown category ${show(s)} (known: ${known})`);
              } else {
                warn(field, "unknown_category", `${named}: unknown category ${show(s)} (known: ${known}); treated as missing and ${f.fillText}`);
                }
            }
          }
        }
      }
    }
    if (missing) {
      if (f.required) error(field, "missing_required", `${named}: required feature missing`);
      else warn(field, "imputed_missing", `${named}: missing; ${f.fillText}`);
    }
    record[f.name] = prepared;
  }

  if (options.warnUnknownFields !== false) {
    for (const k in obj) {
      if (!Object.hasOwn(obj, k) || contract.byKey.has(k) || contract.quiet.has(k)) continue;
      // A derived feature is the model's own computation: a value sent for it is never used.
      const derived = contract.physics !== null && contract.physics.names.includes(k);
      warn(k, "unknown_field", derived ? `${show(k)}: computed by the model from its inputs; the value sent is ignored` : `${show(k)}: not a feature of this model; ignored`);
    }
  }

  const ok = errors === null;
  if (ok && encoded) encodeChecked(contract, record, encoded);
  return { ok, record, errors: errors ?? EMPTY, warnings: warnings ?? EMPTY };
}

/** Writes the encoded feature vector of a checked record (missing values get the fitted fill). */
export function encodeChecked(contract: InputContract, record: Record<string, PreparedValue>, out: Float64Array): Float64Array {
  for (const f of contract.fields) {
    const value = record[f.name] ?? null;
    if (f.numberStep) {
      const step = f.numberStep;
      const v = typeof value === "number" ? value : NaN;
      out[step.column] = Number.isNaN(v) ? step.fallback : v < step.capLower ? step.capLower : v > step.capUpper ? step.capUpper : v;
    } else {
      const step = f.categoryStep!;
      const code = value === null ? -1 : categoryCode(step, value);
      const c = code >= 0 ? code : step.fallback;
      if (!step.onehot) out[step.column] = c >= 0 ? c : NaN;
      else for (let j = 0; j < step.categories.length; j++) out[step.column + j] = c >= 0 ? (j === c ? 1 : 0) : NaN;
    }
  }
  if (contract.physics !== null) encodePhysics(contract.physics, record, out);
  return out;
}

/** The problems of a record as one line per problem (CLI output, error messages). */
export function describeProblems(problems: FieldProblem[]): string {
  return problems.map((p) => p.message).join("; ");
}

/**
 * What train writes into the artifact's features: the configured aliases, `required` (configured as
 * required, or never missing in the training data, the same rule old artifacts default to) and
 * whether a number feature's range was configured or only observed.
 */
export function contractFeatures(specs: FeatureSpec[], columns: Record<string, ColumnSpec>, profile: DataProfile): FeatureSpec[] {
  return specs.map((spec): FeatureSpec => {
    const column = columns[spec.name];
    const aliases = column?.aliases ?? [];
    const required = (column?.required ?? false) || neverMissing(profile, spec.name);
    if (spec.type === "number") {
      const configured = column?.type === "number" && column.range !== undefined;
      return { ...spec, ...(spec.range ? { range_source: configured ? "config" : "training" } : {}), aliases, required };
    }
    return { ...spec, aliases, required };
  });
}
