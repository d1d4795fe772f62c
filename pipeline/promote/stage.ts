import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { writeFileAtomic } from "../core/atomic.js";
import { sha256Hex } from "../core/hash.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { writeRegistry } from "../registry/store.js";
import type { ModelVersion, Registry, Tag } from "../registry/schema.js";

/**
 * Test hook: milliseconds to wait before each file write of a promotion, so the kill test can land
 * SIGKILL between writes (the real step finishes too fast to be hit anywhere but the start).
 */
export const SLOW_IO_ENV = "PIPELINE_TEST_SLOW_IO";

export function slowIoDelay(): number {
  const ms = Number(process.env[SLOW_IO_ENV] ?? 0);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

export function versionDir(name: string, version: number): string {
  return `models/${name}/v${version}`;
}

export function nextVersion(registry: Registry, name: string): number {
  const versions = registry.models[name]?.versions ?? [];
  return versions.reduce((m, v) => Math.max(m, v.version), 0) + 1;
}

function parseTrainer(trainer: string): { name: string; version: string } {
  const at = trainer.lastIndexOf("@");
  return at > 0 ? { name: trainer.slice(0, at), version: trainer.slice(at + 1) } : { name: trainer, version: "unknown" };
}

/** The registry entry for an artifact about to become version `version`. */
export function versionEntry(artifact: ModelArtifact, artifactBytes: Uint8Array, version: number, metrics: Record<string, number>, now: Date): ModelVersion {
  const l = artifact.lineage;
  return {
    version,
    created_at: now.toISOString(),
    artifact: { path: `${versionDir(artifact.name, version)}/model.json`, sha256: sha256Hex(artifactBytes) },
    data: { path: l.data_path, sha256: l.data_sha256, rows: l.data_rows },
    config_sha256: l.config_sha256,
    git_sha: l.git_sha,
    trainer: { ...parseTrainer(l.trainer), seed: l.seed, candidate: l.candidate },
    metrics,
    tags: ["validated"],
    deployments: [],
  };
}

const withTag = (tags: Tag[], tag: Tag): Tag[] => (tags.includes(tag) ? tags : [...tags, tag]);
const withoutTag = (tags: Tag[], tag: Tag): Tag[] => tags.filter((t) => t !== tag);

/**
 * Moves `production` to `target` and archives the version that held it on the base branch. Pure:
 * returns a new registry. This is exactly the change a promotion or rollback PR asks a reviewer to
 * approve. `base` is the base branch's registry when the change stacks on an open PR's branch: a
 * version that was only proposed there (never production on the base) goes back to plain
 * `validated` instead of being archived.
 */
export function moveProduction(registry: Registry, name: string, target: number, base: Registry = registry): { registry: Registry; replaced: number | null } {
  const model = registry.models[name];
  if (!model) throw new Error(`no model ${name}`);
  const baseProduction = base.models[name]?.versions.find((v) => v.tags.includes("production"))?.version ?? null;
  const replaced = baseProduction !== null && baseProduction !== target ? baseProduction : null;
  const versions = model.versions.map((v) => {
    if (v.version === target) return { ...v, tags: withTag(withoutTag(v.tags, "archived"), "production") };
    if (v.version === replaced) return { ...v, tags: withTag(withoutTag(v.tags, "production"), "archived") };
    if (v.tags.includes("production")) {
      // Production only on the stacked branch: back to what the base says (or plain validated if new).
      const onBase = base.models[name]?.versions.find((b) => b.version === v.version);
      return { ...v, tags: onBase ? onBase.tags : withoutTag(v.tags, "production") };
    }
    return v;
  });
  return { registry: { ...registry, models: { ...registry.models, [name]: { ...model, versions } } }, replaced };
}

export function addVersion(registry: Registry, name: string, entry: ModelVersion, description?: string): Registry {
  const model = registry.models[name] ?? { ...(description ? { description } : {}), versions: [] };
  return { ...registry, models: { ...registry.models, [name]: { ...model, versions: [...model.versions, entry] } } };
}

export interface StagedFile {
  /** Path relative to the root. */
  path: string;
  bytes: Uint8Array | string;
}

/**
 * Writes the version's files, then the registry, each atomically. The order is the crash-safety
 * argument: until the registry rename, the new folder is an unregistered orphan (harmless, and
 * overwritten by the next attempt); after it, every file the registry names is already complete.
 */
export async function writeStaged(root: string, files: StagedFile[], registry: Registry): Promise<void> {
  const delay = slowIoDelay();
  for (const file of files) {
    if (delay) await sleep(delay);
    await writeFileAtomic(join(root, file.path), file.bytes);
  }
  if (delay) await sleep(delay);
  await writeRegistry(root, registry);
}
