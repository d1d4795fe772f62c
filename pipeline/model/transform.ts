import { normalizeCategory } from "../data/csv-values.js";
import type { Table } from "../data/table.js";
import type { FeatureSpec, PreprocessingParams } from "./artifact-schema.js";
import { PHYSICS_INPUTS, physicsRowWriter, type PhysicsDerivation, type PhysicsRowWriter } from "./physics.js";

/**
 * The serving half of preprocessing: turns raw values into the encoded feature vector the trees
 * were trained on, using only the fitted parameters stored in model.json. Training code
 * (pipeline/train/preprocess.ts) fits those parameters and re-uses this module, so a row is encoded
 * the same way at evaluation and at serving.
 *
 * Serving sees one row at a time, so the sequence-dependent strategies cannot run there:
 * `interpolate` and `ffill` (and `drop`, which cannot drop a request) fill a missing value with
 * the fitted fallback, the median of the training values (the mode for a category column).
 * Outliers are capped to the fitted bounds when the action is `cap`; `remove` only removes
 * training rows, and a served value outside the bounds is passed through (a tree treats it like
 * the nearest bound anyway, since every split threshold lies inside the training range).
 */

/** Column-major numeric matrix (NaN = missing): what the tree evaluator reads. */
export interface FeatureMatrix {
  rows: number;
  features: Float64Array[];
  names: string[];
}

export type RecordValue = number | string | null | undefined;
export type InputRecord = Record<string, RecordValue>;

/** How one input feature becomes one or more encoded columns. */
export interface NumericStep {
  kind: "number";
  name: string;
  /** Index of the encoded column. */
  column: number;
  fallback: number;
  capLower: number;
  capUpper: number;
}

export interface CategoryStep {
  kind: "category";
  name: string;
  categories: string[];
  /** First encoded column; one-hot uses categories.length columns from here. */
  column: number;
  onehot: boolean;
  /** Fitted code of the fallback category, -1 when there is none. */
  fallback: number;
  exact: Map<string, number>;
  normalized: Map<string, number>;
}

export type TransformStep = NumericStep | CategoryStep;

/**
 * The derived physics features (preprocessing.physics): computed from the raw input values of a row,
 * before imputation and capping, and written after the encoded inputs. A value outside its feature's
 * configured range counts as missing here, as the input contract makes it at serving, so a training row
 * and the same record served derive the same numbers.
 */
export interface PhysicsStep {
  /** Encoded column of the first derived feature; the others follow in order. */
  column: number;
  names: string[];
  /** Per PHYSICS_INPUTS entry: the model feature it is read from, null when unmapped (always missing). */
  sources: (string | null)[];
  /** Per PHYSICS_INPUTS entry: the configured range of its feature, null when there is none. */
  validRanges: ([number, number] | null)[];
  write: PhysicsRowWriter;
  /** One row's inputs; JavaScript runs one transform at a time. */
  inputs: Float64Array;
}

export interface TransformPlan {
  steps: TransformStep[];
  /** Encoded column names: the inputs' (encodedNames), then the derived physics features'. */
  names: string[];
  physics: PhysicsStep | null;
}

/** Names of the encoded columns for a list of input features, in order. */
export function encodedNames(features: FeatureSpec[], encoding: PreprocessingParams["encoding"]): string[] {
  const names: string[] = [];
  for (const f of features) {
    if (f.type === "category" && encoding === "onehot") for (const c of f.categories) names.push(`${f.name}=${c}`);
    else names.push(f.name);
  }
  return names;
}

/** Compiles preprocessing.physics against the model's features; the derivation's inputs must be number features. */
export function compilePhysics(derivation: PhysicsDerivation, features: FeatureSpec[], column: number): PhysicsStep {
  const byName = new Map(features.map((f) => [f.name, f]));
  const sources = PHYSICS_INPUTS.map((input) => {
    const name = derivation.inputs[input];
    if (name === undefined) return null;
    if (byName.get(name)?.type !== "number") throw new Error(`preprocessing.physics.inputs.${input}: "${name}" is not a number feature of the model`);
    return name;
  });
  const validRanges = sources.map((name) => {
    const f = name === null ? undefined : byName.get(name);
    // The input contract's rule (input-contract.ts): a range is a validity range unless it was only observed.
    return f?.type === "number" && f.range && (f.range_source ?? "config") === "config" ? f.range : null;
  });
  const kinds = derivation.features.map((f) => f.kind);
  return { column, names: derivation.features.map((f) => f.name), sources, validRanges, write: physicsRowWriter(kinds), inputs: new Float64Array(PHYSICS_INPUTS.length) };
}

/** A raw physics input as the derivation reads it: NaN when missing or outside its feature's configured range. */
function physicsInput(step: PhysicsStep, i: number, raw: number): number {
  const range = step.validRanges[i];
  return range && (raw < range[0] || raw > range[1]) ? NaN : raw;
}

/** Derives the physics features of one record (raw or checked values) into its encoded row. */
export function encodePhysics(step: PhysicsStep, record: Readonly<Record<string, RecordValue>>, row: Float64Array): void {
  for (let i = 0; i < step.sources.length; i++) {
    const name = step.sources[i];
    step.inputs[i] = name === null ? NaN : physicsInput(step, i, parseNumber(record[name]));
  }
  step.write(step.inputs, row, step.column);
}

const plans = new WeakMap<PreprocessingParams, WeakMap<FeatureSpec[], TransformPlan>>();

/** Compiles the fitted parameters into per-feature steps once (cached per params/specs object). */
export function compileTransform(params: PreprocessingParams, features: FeatureSpec[]): TransformPlan {
  let byFeatures = plans.get(params);
  const cached = byFeatures?.get(features);
  if (cached) return cached;
  const steps: TransformStep[] = [];
  let column = 0;
  for (const f of features) {
    const imputation = params.imputation[f.name];
    if (f.type === "number") {
      const outlier = params.outliers[f.name];
      const cap = outlier !== undefined && outlier.action === "cap";
      const fill = imputation?.value;
      steps.push({
        kind: "number",
        name: f.name,
        column,
        fallback: typeof fill === "number" ? fill : NaN,
        capLower: cap ? outlier.lower : -Infinity,
        capUpper: cap ? outlier.upper : Infinity,
      });
      column += 1;
    } else {
      const categories = params.categories[f.name] ?? f.categories;
      const exact = new Map<string, number>();
      const normalized = new Map<string, number>();
      categories.forEach((c, i) => {
        exact.set(c, i);
        const key = normalizeCategory(c);
        if (!normalized.has(key)) normalized.set(key, i);
      });
      const fill = imputation?.value;
      const onehot = params.encoding === "onehot";
      steps.push({
        kind: "category",
        name: f.name,
        categories,
        column,
        onehot,
        fallback: typeof fill === "string" ? (exact.get(fill) ?? -1) : -1,
        exact,
        normalized,
      });
      column += onehot ? categories.length : 1;
    }
  }
  const names = encodedNames(features, params.encoding);
  if (names.length !== column) throw new Error("encoded feature count does not match the plan");
  const physics = params.physics ? compilePhysics(params.physics, features, column) : null;
  const plan: TransformPlan = { steps, names: physics ? [...names, ...physics.names] : names, physics };
  if (!byFeatures) {
    byFeatures = new WeakMap();
    plans.set(params, byFeatures);
  }
  byFeatures.set(features, plan);
  return plan;
}

/** A raw number: numbers as given, numeric strings parsed, anything else missing (NaN). */
export function parseNumber(value: RecordValue): number {
  if (typeof value === "number") return Number.isFinite(value) ? value : NaN;
  if (typeof value === "string") {
    const s = value.trim();
    if (s === "") return NaN;
    const n = Number(s);
    return Number.isFinite(n) ? n : NaN;
  }
  return NaN;
}

/** Fitted code of a category value; -1 for missing or a category never seen in training. */
export function categoryCode(step: CategoryStep, value: RecordValue): number {
  if (value === null || value === undefined) return -1;
  const s = typeof value === "number" ? String(value) : value;
  if (s.trim() === "") return -1;
  return step.exact.get(s) ?? step.normalized.get(normalizeCategory(s)) ?? -1;
}

/** Applies a number step to one value (cap, then fill a missing value with the fallback). */
export function encodeNumber(step: NumericStep, raw: number): number {
  if (Number.isNaN(raw)) return step.fallback;
  return raw < step.capLower ? step.capLower : raw > step.capUpper ? step.capUpper : raw;
}

/** Writes a category code (after fallback) into the encoded columns of one row. */
export function writeCategory(step: CategoryStep, code: number, put: (column: number, value: number) => void): void {
  const c = code >= 0 ? code : step.fallback;
  if (!step.onehot) return put(step.column, c >= 0 ? c : NaN);
  for (let j = 0; j < step.categories.length; j++) put(step.column + j, c >= 0 ? (j === c ? 1 : 0) : NaN);
}

/** Encodes one record (a served request) into the feature vector the trees expect. */
export function transformRecord(record: InputRecord, params: PreprocessingParams, features: FeatureSpec[], out?: Float64Array): Float64Array {
  const plan = compileTransform(params, features);
  const row = out ?? new Float64Array(plan.names.length);
  const put = (column: number, value: number) => void (row[column] = value);
  for (const step of plan.steps) {
    const value = record[step.name];
    if (step.kind === "number") row[step.column] = encodeNumber(step, parseNumber(value));
    else writeCategory(step, categoryCode(step, value), put);
  }
  if (plan.physics) encodePhysics(plan.physics, record, row);
  return row;
}

/**
 * Encodes rows of a table exactly as transformRecord encodes each of them (no rows dropped, no
 * sequence-dependent filling): used for evaluation and batch prediction.
 */
export function transformTableRows(table: Table, params: PreprocessingParams, features: FeatureSpec[], rows?: ArrayLike<number>): FeatureMatrix {
  const plan = compileTransform(params, features);
  const n = rows ? rows.length : table.rowCount;
  const at = (i: number) => (rows ? rows[i]! : i);
  const out = plan.names.map(() => new Float64Array(n));
  for (const step of plan.steps) {
    const column = table.columns.get(step.name);
    if (step.kind === "number") {
      const dst = out[step.column]!;
      if (!column) {
        dst.fill(step.fallback);
        continue;
      }
      if (column.kind === "category") {
        for (let i = 0; i < n; i++) dst[i] = encodeNumber(step, parseNumber(column.codes[at(i)]! >= 0 ? column.categories[column.codes[at(i)]!] : null));
      } else {
        for (let i = 0; i < n; i++) {
          const r = at(i);
          dst[i] = encodeNumber(step, column.missing[r] === 1 ? NaN : column.values[r]!);
        }
      }
    } else {
      let i = 0;
      const put = (c: number, value: number) => void (out[c]![i] = value);
      if (!column) {
        for (; i < n; i++) writeCategory(step, -1, put);
        continue;
      }
      if (column.kind === "category") {
        const map = column.categories.map((c) => categoryCode(step, c));
        for (; i < n; i++) {
          const code = column.codes[at(i)]!;
          writeCategory(step, code >= 0 ? map[code]! : -1, put);
        }
      } else {
        for (; i < n; i++) {
          const r = at(i);
          writeCategory(step, column.missing[r] === 1 ? -1 : categoryCode(step, String(column.values[r])), put);
        }
      }
    }
  }
  if (plan.physics) physicsTableColumns(plan.physics, table, n, at, out);
  return { rows: n, features: out, names: plan.names };
}

/** The derived physics columns of table rows: each row's raw inputs through the same writer as encodePhysics. */
function physicsTableColumns(step: PhysicsStep, table: Table, n: number, at: (i: number) => number, out: Float64Array[]): void {
  const columns = step.sources.map((name) => (name === null ? undefined : table.columns.get(name)));
  const derived = new Float64Array(step.names.length);
  for (let i = 0; i < n; i++) {
    const r = at(i);
    for (let k = 0; k < columns.length; k++) {
      const c = columns[k];
      // Read like transformTableRows reads a number feature (a category column holding numbers as text included).
      const raw = !c ? NaN : c.kind === "category" ? parseNumber(c.codes[r]! >= 0 ? c.categories[c.codes[r]!] : null) : c.missing[r] === 1 ? NaN : c.values[r]!;
      step.inputs[k] = physicsInput(step, k, raw);
    }
    step.write(step.inputs, derived, 0);
    for (let j = 0; j < derived.length; j++) out[step.column + j]![i] = derived[j]!;
  }
}
