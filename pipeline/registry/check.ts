import { isAbsolute, join, relative, resolve } from "node:path";
import { sha256Hex } from "../core/hash.js";
import { assertDirInside, readFileSafe, UnsafeFileError } from "../core/safe-file.js";
import { artifactContentHash, MAX_ARTIFACT_BYTES } from "./identity.js";
import { GateFailure } from "../core/errors.js";
import type { ModelVersion, Registry } from "./schema.js";

export type RegistryRule =
  | "single-production"
  | "production-requires-validated"
  | "archived-not-production"
  | "artifact-path"
  | "artifact-missing"
  | "artifact-sha256"
  | "artifact-not-regular"
  | "content-sha256"
  | "report-mismatch"
  | "models-outside"
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
  try {
    await assertDirInside(root, "models", "the models folder");
  } catch (error) {
    problems.push({ model: "*", rule: "models-outside", message: (error as Error).message });
    // Nothing under models/ can be trusted to be this repository's.
    return { ok: false, problems };
  }
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
  const at = { model, version: v.version };
  if (isAbsolute(v.artifact.path) || rel.startsWith("..") || isAbsolute(rel)) {
    return [{ ...at, rule: "artifact-path", message: `${model}@v${v.version}: artifact path "${v.artifact.path}" must be relative and inside the repository` }];
  }
  // lstat before any read: a symlink could point outside the repository, a FIFO or /dev/zero would hang the reader.
  let bytes: Buffer;
  try {
    bytes = await readFileSafe(abs, { inside: root, what: "artifact", maxBytes: MAX_ARTIFACT_BYTES });
  } catch (error) {
    if (error instanceof UnsafeFileError) {
      if (error.problem === "missing") return [{ ...at, rule: "artifact-missing", message: `${model}@v${v.version}: artifact ${v.artifact.path} does not exist` }];
      if (error.problem === "outside") return [{ ...at, rule: "artifact-path", message: `${model}@v${v.version}: artifact ${v.artifact.path} resolves outside the repository` }];
      return [{ ...at, rule: "artifact-not-regular", message: `${model}@v${v.version}: artifact ${v.artifact.path} ${error.message.slice(error.message.indexOf(": ") + 2).replace(/^artifact /, "")}` }];
    }
    const code = (error as NodeJS.ErrnoException).code ?? ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    return [{ ...at, rule: "artifact-missing", message: `${model}@v${v.version}: artifact ${v.artifact.path} cannot be read (${code ?? (error as Error).message})` }];
  }
  const actual = sha256Hex(bytes);
  if (actual !== v.artifact.sha256) {
    return [{ ...at, rule: "artifact-sha256", message: `${model}@v${v.version}: artifact ${v.artifact.path} has sha256 ${actual}, the registry records ${v.artifact.sha256}` }];
  }
  const problems: RegistryProblem[] = [];
  if (v.content_sha256 !== undefined) {
    const content = artifactContentHash(bytes);
    if (content !== v.content_sha256) {
      problems.push({ ...at, rule: "content-sha256", message: `${model}@v${v.version}: artifact ${v.artifact.path} has content hash ${content ?? "(not a model artifact)"}, the registry records ${v.content_sha256}` });
    }
  }
  problems.push(...(await checkReportBinding(root, model, v)));
  return problems;
}

/**
 * A validation report published beside an artifact must be about that artifact: a folder left by an
 * earlier, killed promotion must not lend its report to another model.
 */
async function checkReportBinding(root: string, model: string, v: ModelVersion): Promise<RegistryProblem[]> {
  const file = join(resolve(root, v.artifact.path), "..", "validation-report.json");
  let bytes: Buffer;
  try {
    bytes = await readFileSafe(file, { inside: root, what: "validation report", maxBytes: MAX_ARTIFACT_BYTES });
  } catch (error) {
    if (error instanceof UnsafeFileError && error.problem === "missing") return [];
    return [{ model, version: v.version, rule: "report-mismatch", message: `${model}@v${v.version}: ${relative(root, file)}: ${(error as Error).message.slice((error as Error).message.indexOf(": ") + 2)}` }];
  }
  let named: unknown;
  try {
    named = (JSON.parse(bytes.toString("utf8")) as { challenger?: { sha256?: unknown } } | null)?.challenger?.sha256;
  } catch {
    named = undefined;
  }
  if (named !== v.artifact.sha256) {
    return [{ model, version: v.version, rule: "report-mismatch", message: `${model}@v${v.version}: ${relative(root, file)} is not the report of this artifact (it names sha256 ${typeof named === "string" ? named : "nothing"}, the artifact is ${v.artifact.sha256})` }];
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

/** Promote and rollback refuse to write on top of a registry that already fails its own check. */
export async function assertRegistryValid(root: string, registry: Registry, where: string): Promise<void> {
  const check = await checkRegistry(root, registry);
  if (!check.ok) {
    throw new GateFailure(
      `refusing to write: ${where} already fails \`pipeline registry check\`; fix it first:\n  ${check.problems.map((p) => `[${p.rule}] ${p.message}`).join("\n  ")}`,
    );
  }
}
