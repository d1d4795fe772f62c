import { join } from "node:path";
import { stringify } from "yaml";
import { writeFileAtomic } from "../core/atomic.js";
import { InputError } from "../core/errors.js";
import { assertDirInside, readFileSafe, UnsafeFileError } from "../core/safe-file.js";
import { parseYamlStrict } from "../core/yaml.js";
import { formatZodError } from "../config/load.js";
import { UsageError } from "../core/errors.js";
import { REGISTRY_SCHEMA_VERSION, RegistrySchema, type Deployment, type ModelVersion, type Registry, type Tag } from "./schema.js";

/** Where the registry lives, relative to the repository root. */
export const REGISTRY_FILE = "models/registry.yaml";

export function emptyRegistry(): Registry {
  return { version: REGISTRY_SCHEMA_VERSION, models: {} };
}

/**
 * Parses registry YAML text. `file` names the source in errors (a path, or `REF:models/registry.yaml`
 * when the text came from `git show`), so a reviewer knows which side of a PR is broken.
 */
export function parseRegistry(text: string | Uint8Array, file: string = REGISTRY_FILE): Registry {
  const raw: unknown = parseYamlStrict(text, file, InputError);
  // An empty or comment-only file is not an empty registry: a registry that lost its content must
  // not let the next promotion start again at v1 over the committed models. Only a missing file is.
  if (raw === null || raw === undefined) {
    throw new InputError(`${file}: the registry is empty (no "version" and "models"); restore it (git checkout ${REGISTRY_FILE}) or delete the file to start an empty registry`);
  }
  const result = RegistrySchema.safeParse(raw);
  if (!result.success) throw new InputError(formatZodError(result.error, raw, file).replace(": invalid configuration", ": invalid registry"));
  return result.data;
}

/** Largest registry file read (a registry of thousands of versions is a few MB). */
export const MAX_REGISTRY_BYTES = 32 * 1024 * 1024;

/**
 * Reads `models/registry.yaml` under root; a missing file is an empty registry (nothing promoted
 * yet). The file must be a regular file inside the repository (not a symlink, FIFO or device).
 */
export async function readRegistry(root: string): Promise<Registry> {
  const path = join(root, REGISTRY_FILE);
  let bytes: Buffer;
  try {
    await assertDirInside(root, "models", "the models folder");
    bytes = await readFileSafe(path, { what: "registry", maxBytes: MAX_REGISTRY_BYTES, inside: root });
  } catch (error) {
    if (error instanceof UnsafeFileError && error.problem === "missing") return emptyRegistry();
    if (error instanceof UnsafeFileError) throw new InputError(error.message.replace(path, REGISTRY_FILE));
    throw error;
  }
  return parseRegistry(bytes, REGISTRY_FILE);
}

/**
 * Canonical form: models sorted by name, versions by number, keys in schema order. The same
 * registry always serializes to the same bytes, so PR diffs show only what changed.
 */
export function canonicalRegistry(registry: Registry): Registry {
  const models: Registry["models"] = {};
  for (const name of Object.keys(registry.models).sort()) {
    const model = registry.models[name]!;
    models[name] = {
      ...(model.description !== undefined ? { description: model.description } : {}),
      versions: [...model.versions].sort((a, b) => a.version - b.version).map(canonicalVersion),
    };
  }
  return { version: registry.version, models };
}

function canonicalVersion(v: ModelVersion): ModelVersion {
  const metrics: Record<string, number> = {};
  for (const k of Object.keys(v.metrics).sort()) metrics[k] = v.metrics[k]!;
  return {
    version: v.version,
    created_at: v.created_at,
    artifact: { path: v.artifact.path, sha256: v.artifact.sha256 },
    ...(v.content_sha256 !== undefined ? { content_sha256: v.content_sha256 } : {}),
    data: { path: v.data.path, sha256: v.data.sha256, rows: v.data.rows },
    config_sha256: v.config_sha256,
    git_sha: v.git_sha,
    trainer: { name: v.trainer.name, version: v.trainer.version, seed: v.trainer.seed, candidate: v.trainer.candidate },
    metrics,
    tags: [...v.tags],
    deployments: v.deployments.map((d) => ({
      environment: d.environment,
      image_digest: d.image_digest,
      revision: d.revision,
      url: d.url,
      time: d.time,
      git_sha: d.git_sha,
      status: d.status,
    })),
  };
}

export function serializeRegistry(registry: Registry): string {
  const header = "# Model registry: every version of every model, its lineage, tags and deployments.\n# Written by the pipeline (promote, rollback, deploy); checked by `pipeline registry check`.\n";
  return header + stringify(canonicalRegistry(registry), { lineWidth: 0 });
}

/** Validates, then writes atomically: a reader (or a killed writer) sees the old or the new file, never a mix. */
export async function writeRegistry(root: string, registry: Registry): Promise<void> {
  const parsed = RegistrySchema.safeParse(registry);
  if (!parsed.success) throw new InputError(formatZodError(parsed.error, registry, REGISTRY_FILE).replace(": invalid configuration", ": refusing to write an invalid registry"));
  await assertDirInside(root, "models", "the models folder");
  await writeFileAtomic(join(root, REGISTRY_FILE), serializeRegistry(parsed.data));
}

/**
 * Records a deployment of `name@vN` (pure; write the result with writeRegistry). A succeeded
 * deployment also tags the version `deployed-<short git sha>`, the original design's marker.
 */
export function recordDeployment(registry: Registry, name: string, version: number, deployment: Deployment): Registry {
  const model = registry.models[name];
  const target = model?.versions.find((v) => v.version === version);
  if (!model || !target) throw new UsageError(`cannot record a deployment: ${name}@v${version} is not in the registry`);
  const tag = `deployed-${deployment.git_sha.slice(0, 7)}` as Tag;
  const versions = model.versions.map((v) =>
    v.version !== version
      ? v
      : { ...v, deployments: [...v.deployments, deployment], tags: deployment.status === "succeeded" && !v.tags.includes(tag) ? [...v.tags, tag] : v.tags },
  );
  return { ...registry, models: { ...registry.models, [name]: { ...model, versions } } };
}
