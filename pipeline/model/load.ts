import { InputError } from "../core/errors.js";
import { readFileSafe, UnsafeFileError } from "../core/safe-file.js";
import { modelContentHash } from "./identity.js";
import { ModelArtifactSchema, READABLE_SCHEMA_VERSIONS, type ModelArtifact } from "./artifact-schema.js";
import { decodeTrees, PackedTreesSchema } from "./tree-codec.js";
import { encodedNames } from "./transform.js";

/**
 * Reads and validates model.json. Serving-safe: no training code. A file that is not JSON, has a
 * schema_version this build does not know, or does not match the schema is an InputError (exit 2)
 * that names the file and the field.
 */
export function parseModel(text: string, file: string): ModelArtifact {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    // Never the parser's own message: it quotes the file's first bytes (which could be any file a symlink points at).
    throw new InputError(`${file}: not valid JSON (${jsonSyntaxPosition(error as Error, text)})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new InputError(`${file}: expected a JSON object (a model artifact)`);
  const version = (raw as Record<string, unknown>).schema_version;
  if (!(READABLE_SCHEMA_VERSIONS as readonly unknown[]).includes(version)) {
    const known = READABLE_SCHEMA_VERSIONS.join(" or ");
    throw new InputError(`${file}: schema_version: expected ${known}, got ${JSON.stringify(version) ?? "nothing"} (this build reads model artifacts of version ${known})`);
  }
  if (version === 2) unpackTrees(raw as Record<string, unknown>, file);
  const result = ModelArtifactSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.slice(0, 10).map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`);
    const more = result.error.issues.length > 10 ? `\n  … and ${result.error.issues.length - 10} more` : "";
    throw new InputError(`${file}: not a valid model artifact\n  ${lines.join("\n  ")}${more}`);
  }
  const model = result.data;
  checkConsistency(model, file);
  // A recorded identity must be this content's: trees edited by hand (or a torn copy) are refused.
  if (model.content_sha256 !== undefined && model.content_sha256 !== modelContentHash(model)) {
    throw new InputError(`${file}: content_sha256 ${model.content_sha256} does not match the model's content (${modelContentHash(model)}); the file was changed after training`);
  }
  return model;
}

/** Version 2 may carry `model.packed_trees`: decoded here into `model.trees`, so everything after loading sees plain trees. */
function unpackTrees(raw: Record<string, unknown>, file: string): void {
  const model = raw.model as Record<string, unknown> | undefined;
  if (!model || typeof model !== "object" || !("packed_trees" in model)) return;
  if ("trees" in model) throw new InputError(`${file}: model: has both "trees" and "packed_trees"; an artifact holds one of them`);
  const parsed = PackedTreesSchema.safeParse(model.packed_trees);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(`${file}: model.packed_trees.${issue.path.map(String).join(".")}: ${issue.message}`);
  }
  try {
    model.trees = decodeTrees(parsed.data);
  } catch (error) {
    throw new InputError(`${file}: model.packed_trees: ${(error as Error).message}`);
  }
  delete model.packed_trees;
}

/** What the schema cannot say: tree shapes must agree with the classes and the encoded features. */
function checkConsistency(model: ModelArtifact, file: string): void {
  checkPhysics(model, file);
  const derived = model.preprocessing.physics?.features.map((f) => f.name) ?? [];
  const expected = [...encodedNames(model.features, model.preprocessing.encoding), ...derived];
  const actual = model.preprocessing.encoded_features;
  if (expected.length !== actual.length || expected.some((name, i) => name !== actual[i])) {
    throw new InputError(`${file}: preprocessing.encoded_features: expected [${expected.join(", ")}] from "features"${derived.length ? ", " : " and "}the ${model.preprocessing.encoding} encoding${derived.length ? " and preprocessing.physics" : ""}, got [${actual.join(", ")}]`);
  }
  const nFeatures = actual.length;
  const nClasses = model.classes.length;
  model.model.trees.forEach((t, ti) => {
    const size = t.feature.length;
    for (const [key, arr] of Object.entries(t)) {
      if (arr.length !== size) throw new InputError(`${file}: model.trees.${ti}.${key}: expected ${size} entries like "feature", got ${arr.length}`);
    }
    for (let i = 0; i < size; i++) {
      const f = t.feature[i]!;
      if (f < 0) {
        const v = t.value[i];
        if (!v || v.length !== nClasses) throw new InputError(`${file}: model.trees.${ti}.value.${i}: a leaf needs ${nClasses} class probabilities`);
      } else if (f >= nFeatures || t.left[i]! <= i || t.right[i]! <= i || t.left[i]! >= size || t.right[i]! >= size) {
        throw new InputError(`${file}: model.trees.${ti}: node ${i} refers to a feature or child that does not exist`);
      }
    }
  });
}

/** A derivation reads number features of the model and names features of its own (never an input's name or alias). */
function checkPhysics(model: ModelArtifact, file: string): void {
  const physics = model.preprocessing.physics;
  if (!physics) return;
  const byName = new Map(model.features.map((f) => [f.name, f]));
  for (const [input, name] of Object.entries(physics.inputs)) {
    if (byName.get(name!)?.type !== "number") throw new InputError(`${file}: preprocessing.physics.inputs.${input}: "${name}" is not a number feature of the model`);
  }
  const taken = new Set(model.features.flatMap((f) => [f.name, ...(f.aliases ?? [])]));
  physics.features.forEach((f, i) => {
    if (taken.has(f.name)) throw new InputError(`${file}: preprocessing.physics.features.${i}.name: "${f.name}" names another feature of the model (an input, an alias or an earlier derived feature); each derived feature needs a name of its own`);
    taken.add(f.name);
  });
}

/** Where JSON.parse failed, as line and column, without quoting the content. */
export function jsonSyntaxPosition(error: Error, text: string): string {
  const m = /position (\d+)/.exec(error.message);
  if (!m) return /end of (JSON )?input/i.test(error.message) ? "unexpected end of input" : "syntax error";
  const before = text.slice(0, Number(m[1]));
  return `syntax error at line ${before.split("\n").length}, column ${Number(m[1]) - before.lastIndexOf("\n")}`;
}

/** Artifacts are a few MB; the cap keeps a wrong path (a huge file, /dev/zero) from exhausting memory. */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;

export interface LoadModelOptions {
  /** The file must resolve inside this directory (a registry artifact inside the repository). */
  inside?: string;
  /** Accept a symbolic link to a regular file (a path the user named). Default true; registry artifacts pass false. */
  allowSymlink?: boolean;
}

/** Reads model.json: a regular file (never a FIFO or device), at most MAX_MODEL_BYTES. */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<ModelArtifact> {
  let text: string;
  try {
    text = (await readFileSafe(path, { what: "model", maxBytes: MAX_MODEL_BYTES, allowSymlink: options.allowSymlink ?? true, inside: options.inside })).toString("utf8");
  } catch (error) {
    if (error instanceof UnsafeFileError) throw new InputError(error.problem === "missing" ? `${path}: cannot read the model (file not found)` : error.message);
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (error as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: cannot read the model (${code ?? String(error)})`);
  }
  return parseModel(text, path);
}
