import { isAbsolute, relative, resolve } from "node:path";
import { sha256File } from "../core/hash.js";
import type { ModelVersion, Registry } from "./schema.js";

export type RegistryRule =
  | "single-production"
  | "production-requires-validated"
  | "archived-not-production"
  | "artifact-path"
  | "artifact-missing"
  | "artifact-sha256"
  | "versions-increasing"
  | "version-removed"
  | "version-rewritten";

export interface RegistryProblem {
  model: string;
  version?: number;
  rule: RegistryRule;
  message: string;
}

export interface RegistryCheckResult {
  ok: boolean;
  problems: RegistryProblem[];
}

export interface RegistryCheckOptions {
  /** The base branch's registry: versions may only be added; existing entries change only tags and deployments. */
  previous?: Registry;
}

/**
 * Enforces the registry's invariants. Folders under models/ without a registry entry are not a
 * problem: a promotion killed before it wrote the registry leaves one, and it is harmless.
 */
export async function checkRegistry(root: string, registry: Registry, options: RegistryCheckOptions = {}): Promise<RegistryCheckResult> {
  const problems: RegistryProblem[] = [];
  for (const [model, entry] of Object.entries(registry.models)) {
    const production = entry.versions.filter((v) => v.tags.includes("production"));
    if (production.length > 1) {
      problems.push({
        model,
        rule: "single-production",
        message: `${model}: ${production.length} versions are tagged production (${production.map((v) => `v${v.version}`).join(", ")}); at most one may be`,
      });
    }
    for (const v of production) {
      if (!v.tags.includes("validated")) {
        problems.push({ model, version: v.version, rule: "production-requires-validated", message: `${model}@v${v.version} is production but not validated; only a validated version may be production` });
      }
      if (v.tags.includes("archived")) {
        problems.push({ model, version: v.version, rule: "archived-not-production", message: `${model}@v${v.version} is tagged both archived and production; an archived version is never production` });
      }
    }
    let last = 0;
    for (const v of entry.versions) {
      if (v.version <= last) {
        problems.push({
          model,
          version: v.version,
          rule: "versions-increasing",
          message: `${model}: version v${v.version} follows v${last}; versions must be unique and strictly increasing`,
        });
      }
      last = Math.max(last, v.version);
      problems.push(...(await checkArtifact(root, model, v)));
    }
  }
  if (options.previous) problems.push(...checkGrowth(registry, options.previous));
  return { ok: problems.length === 0, problems };
}

async function checkArtifact(root: string, model: string, v: ModelVersion): Promise<RegistryProblem[]> {
  const abs = resolve(root, v.artifact.path);
  const rel = relative(resolve(root), abs);
  if (isAbsolute(v.artifact.path) || rel.startsWith("..") || isAbsolute(rel)) {
    return [{ model, version: v.version, rule: "artifact-path", message: `${model}@v${v.version}: artifact path "${v.artifact.path}" must be relative and inside the repository` }];
  }
  let actual: string;
  try {
    actual = await sha256File(abs);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return [{ model, version: v.version, rule: "artifact-missing", message: `${model}@v${v.version}: artifact ${v.artifact.path} ${code === "ENOENT" ? "does not exist" : `cannot be read (${code})`}` }];
  }
  if (actual !== v.artifact.sha256) {
    return [{ model, version: v.version, rule: "artifact-sha256", message: `${model}@v${v.version}: artifact ${v.artifact.path} has sha256 ${actual}, the registry records ${v.artifact.sha256}` }];
  }
  return [];
}

/** Everything but tags and deployments, which are the parts of a version that legitimately change. */
function immutablePart(v: ModelVersion): string {
  const { tags: _tags, deployments: _deployments, ...rest } = v;
  return JSON.stringify(rest, Object.keys(flatKeys(rest)).sort());
}

function flatKeys(value: unknown, acc: Record<string, true> = {}): Record<string, true> {
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      acc[k] = true;
      flatKeys(v, acc);
    }
  }
  return acc;
}

function checkGrowth(current: Registry, previous: Registry): RegistryProblem[] {
  const problems: RegistryProblem[] = [];
  for (const [model, before] of Object.entries(previous.models)) {
    const now = current.models[model];
    for (const old of before.versions) {
      const match = now?.versions.find((v) => v.version === old.version);
      if (!match) {
        problems.push({ model, version: old.version, rule: "version-removed", message: `${model}@v${old.version} exists on the base branch but not here; versions may only be added, never removed` });
      } else if (immutablePart(match) !== immutablePart(old)) {
        problems.push({
          model,
          version: old.version,
          rule: "version-rewritten",
          message: `${model}@v${old.version} differs from the base branch in ${changedFields(old, match).join(", ")}; a registered version is immutable except its tags and deployments`,
        });
      }
    }
  }
  return problems;
}

function changedFields(a: ModelVersion, b: ModelVersion): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  keys.delete("tags");
  keys.delete("deployments");
  const rec = (x: ModelVersion) => x as unknown as Record<string, unknown>;
  return [...keys].filter((k) => JSON.stringify(rec(a)[k], Object.keys(flatKeys(rec(a)[k])).sort()) !== JSON.stringify(rec(b)[k], Object.keys(flatKeys(rec(b)[k])).sort()));
}
