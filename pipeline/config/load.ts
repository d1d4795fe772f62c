import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import type { z } from "zod";
import { ConfigError } from "../core/errors.js";
import { sha256Hex } from "../core/hash.js";
import { readFileSafe, UnsafeFileError } from "../core/safe-file.js";
import { parseYamlStrict } from "../core/yaml.js";
import { expandCompositeGroup, PipelineConfigSchema, type PipelineConfig } from "./schema.js";

export const DEFAULT_CONFIG_PATH = "config/pipeline.yaml";

export interface LoadedConfig {
  config: PipelineConfig;
  /** Absolute path of the file that was named. */
  path: string;
  /** sha256 over the resolved configuration (after `extends`), recorded in lineage. */
  sha256: string;
  /** Root that relative paths inside the config resolve against (the repository root). */
  root: string;
}

/**
 * Formats zod issues as `key.path: expected …, got …` lines, naming the value that was found,
 * because "invalid input" alone does not tell a user which line of their YAML to fix.
 */
export function formatZodError(error: z.ZodError, raw: unknown, file: string): string {
  const lines = error.issues.map((issue) => {
    const path = issue.path.map(String).join(".") || "(root)";
    const found = valueAt(raw, issue.path as PropertyKey[]);
    let expected = issue.message;
    if (issue.code === "invalid_type") expected = `expected ${describeExpected(issue)}`;
    else if (issue.code === "too_small" || issue.code === "too_big") expected = `expected ${rangeText(issue)}`;
    else if (issue.code === "invalid_value") expected = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    else if (issue.code === "unrecognized_keys") return `${path}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    const got = found.present ? `, got ${describeValue(found.value)}` : found.parentPresent ? ", but it is missing" : "";
    return `${path}: ${expected}${got}`;
  });
  return `${file}: invalid configuration\n  ${lines.join("\n  ")}`;
}

/** JSON for the value found, except the numbers JSON cannot say (NaN, ±Infinity from YAML's .nan and .inf), which are named. */
export function describeValue(value: unknown): string {
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? `\u0000${String(v)}\u0000` : v));
  return (text ?? String(value)).replace(/"\\u0000(NaN|-?Infinity)\\u0000"/g, "$1");
}

/** The hash recorded as `config_sha256` in lineage and reports: sha256 over the resolved, validated configuration. */
export function configHash(config: PipelineConfig): string {
  return sha256Hex(JSON.stringify(config));
}

function describeExpected(issue: z.core.$ZodIssueInvalidType): string {
  return issue.expected === "number" ? "a number" : issue.expected === "string" ? "a string" : issue.expected === "array" ? "a list" : issue.expected === "object" ? "a mapping" : issue.expected === "boolean" ? "true or false" : String(issue.expected);
}

function rangeText(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const kind = issue.origin === "array" ? "a list with" : issue.origin === "string" ? "a string of length" : "a number";
  if (issue.code === "too_small") return `${kind} ${issue.inclusive === false ? ">" : ">="} ${String(issue.minimum)}`;
  return `${kind} ${issue.inclusive === false ? "<" : "<="} ${String(issue.maximum)}`;
}

function valueAt(raw: unknown, path: PropertyKey[]): { present: boolean; parentPresent: boolean; value?: unknown } {
  let cur: unknown = raw;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== "object") return { present: false, parentPresent: false };
    const key = path[i] as string | number;
    if (!(key in (cur as Record<string | number, unknown>))) return { present: false, parentPresent: i === path.length - 1 };
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return { present: true, parentPresent: true, value: cur };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Objects merge key by key; lists and scalars in the overlay replace the base; a key set to
 * `null` in the overlay removes it (e.g. `dataset.columns.record_id: null` drops a base column).
 */
export function deepMerge(base: unknown, overlay: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(overlay)) return overlay === undefined ? base : overlay;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overlay)) {
    if (v === null) delete out[k];
    else out[k] = deepMerge(base[k], v);
  }
  return out;
}

/**
 * The one rule for relative paths in a config file: they resolve from the directory of the file
 * that contains them, `extends` and `dataset.path` alike (paths given on the command line resolve
 * from the working directory). The loader rewrites `dataset.path` relative to `root` so the steps,
 * which resolve it against the repository root, and the config hash do not depend on where the
 * checkout lives.
 */
function rebaseDatasetPath(raw: Record<string, unknown>, file: string, root: string): Record<string, unknown> {
  const dataset = raw.dataset;
  if (!isPlainObject(dataset) || typeof dataset.path !== "string" || dataset.path === "" || isAbsolute(dataset.path)) return raw;
  const rebased = relative(root, resolve(dirname(file), dataset.path)) || ".";
  return { ...raw, dataset: { ...dataset, path: rebased.split(sep).join("/") } };
}

/** Config files are small; a larger one is not a config. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

async function readYaml(path: string): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readFileSafe(path, { what: "configuration", maxBytes: MAX_CONFIG_BYTES, allowSymlink: true });
  } catch (error) {
    if (error instanceof UnsafeFileError) throw new ConfigError(error.problem === "missing" ? `${path}: cannot read configuration (file not found)` : error.message);
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`${path}: cannot read configuration (${code ?? String(error)})`);
  }
  return parseYamlStrict(bytes, path, ConfigError);
}

async function resolveExtends(path: string, seen: Set<string>, root: string): Promise<unknown> {
  if (seen.has(path)) throw new ConfigError(`${path}: "extends" forms a cycle`);
  seen.add(path);
  const raw = await readYaml(path);
  if (!isPlainObject(raw)) throw new ConfigError(`${path}: expected a YAML mapping at the top level`);
  const { extends: parent, ...rest } = rebaseDatasetPath(raw, path, root);
  if (parent === undefined) return rest;
  if (typeof parent !== "string") throw new ConfigError(`${path}: extends: expected a path to another config file, got ${JSON.stringify(parent)}`);
  const base = await resolveExtends(resolve(dirname(path), parent), seen, root);
  return deepMerge(base, rest);
}

/** Parses an in-memory object (tests, actions that pass config inline). */
export function parseConfig(raw: unknown, file = "<config>"): PipelineConfig {
  const expanded = isPlainObject(raw) && isPlainObject(raw.dataset) ? { ...raw, dataset: expandCompositeGroup(raw.dataset) } : raw;
  const result = PipelineConfigSchema.safeParse(expanded);
  if (!result.success) throw new ConfigError(formatZodError(result.error, raw, file));
  return result.data;
}

/**
 * Loads a config file (following `extends`), validates it and hashes the resolved form.
 * Relative paths inside a config file resolve from that file's directory (rebaseDatasetPath);
 * `root` is the repository root (by default the cwd) that the resolved dataset.path is relative to.
 */
export async function loadConfig(path: string = DEFAULT_CONFIG_PATH, root: string = process.cwd()): Promise<LoadedConfig> {
  const abs = resolve(root, path);
  const raw = await resolveExtends(abs, new Set(), root);
  const config = parseConfig(raw, path);
  return { config, path: abs, sha256: configHash(config), root };
}
