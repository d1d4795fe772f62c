import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { InputError } from "../core/errors.js";
import { sha256Hex } from "../core/hash.js";
import { parseProfile } from "../data/profile.js";
import type { DataProfile } from "../data/profile-schema.js";
import { RegistrySchema } from "../registry/schema.js";

export const REGISTRY_PATH = "models/registry.yaml";

export interface ResolvedReference {
  profile: DataProfile | null;
  /** What the reference is, for the report: a file path, or `production (v3, models/…/model.json)`. */
  source: string;
  /** Why there is no profile, when there is none. */
  note: string | null;
}

async function readText(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: cannot read ${what} (${code === "ENOENT" ? "file not found" : code ?? String(error)})`);
  }
}

function parseJson(bytes: Buffer, path: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new InputError(`${path}: not valid JSON (${(error as Error).message})`);
  }
}

/**
 * `--reference` accepts a profile JSON file, a model.json (its `reference_profile`), or the word
 * `production`: the version of this model tagged production in models/registry.yaml. Without a
 * registry or a production version there is nothing to compare against yet (the first run of a
 * new project), so drift is skipped with a note instead of failing.
 */
export async function resolveReference(spec: string, options: { root: string; modelName: string }): Promise<ResolvedReference> {
  if (spec === "production") return productionReference(options.root, options.modelName);
  const path = resolve(options.root, spec);
  const raw = parseJson(await readText(path, "reference"), spec);
  if (raw !== null && typeof raw === "object" && "reference_profile" in raw) {
    return { profile: parseProfile((raw as { reference_profile: unknown }).reference_profile, spec, "reference_profile"), source: spec, note: null };
  }
  return { profile: parseProfile(raw, spec), source: spec, note: null };
}

async function productionReference(root: string, modelName: string): Promise<ResolvedReference> {
  const registryPath = resolve(root, REGISTRY_PATH);
  let text: string;
  try {
    text = await readFile(registryPath, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { profile: null, source: "production", note: `no ${REGISTRY_PATH} yet: drift not checked` };
    throw new InputError(`${REGISTRY_PATH}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new InputError(`${REGISTRY_PATH}: invalid YAML (${(error as Error).message.split("\n")[0]})`);
  }
  const parsed = RegistrySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(`${REGISTRY_PATH}: ${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`);
  }
  const version = parsed.data.models[modelName]?.versions.find((v) => v.tags.includes("production"));
  if (!version) return { profile: null, source: "production", note: `no version of ${modelName} is tagged production in ${REGISTRY_PATH}: drift not checked` };
  const artifactPath = version.artifact.path;
  const bytes = await readText(resolve(root, artifactPath), `the production model (v${version.version})`);
  if (sha256Hex(bytes) !== version.artifact.sha256) {
    throw new InputError(`${artifactPath}: sha256 does not match ${REGISTRY_PATH} (v${version.version}); the artifact was changed outside the registry`);
  }
  const artifact = parseJson(bytes, artifactPath);
  const profile = parseProfile((artifact as { reference_profile?: unknown } | null)?.reference_profile, artifactPath, "reference_profile");
  return { profile, source: `production (v${version.version}, ${artifactPath})`, note: null };
}
