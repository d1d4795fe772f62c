import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { writeFileAtomic, processAlive } from "../core/atomic.js";
import { sha256Hex } from "../core/hash.js";
import { onInterrupt, removeNow } from "../core/cleanup.js";
import { assertDirInside } from "../core/safe-file.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { modelContentHash } from "../model/identity.js";
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
export function versionEntry(artifact: ModelArtifact, artifactBytes: Uint8Array, version: number, metrics: Record<string, number>, now: Date, options: { validated?: boolean } = {}): ModelVersion {
  const l = artifact.lineage;
  return {
    version,
    created_at: now.toISOString(),
    artifact: { path: `${versionDir(artifact.name, version)}/model.json`, sha256: sha256Hex(artifactBytes) },
    content_sha256: modelContentHash(artifact),
    data: { path: l.data_path, sha256: l.data_sha256, rows: l.data_rows },
    config_sha256: l.config_sha256,
    git_sha: l.git_sha,
    trainer: { ...parseTrainer(l.trainer), seed: l.seed, candidate: l.candidate },
    metrics,
    // Untagged when registered without a validation report: never validated, so never production.
    tags: options.validated === false ? [] : ["validated"],
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
 * Writes the version's files, then the registry. The version folder is staged: its files go into a
 * fresh temporary sibling (`models/<name>/.staging-v<N>-<pid>-<random>`), which is renamed to
 * `v<N>` when complete, so the published folder holds exactly this promotion's files and nothing an
 * earlier run left. The order is the crash-safety argument: until the registry rename, the new
 * folder is unregistered (harmless: the next promotion, holding the lock, replaces it); after it,
 * every file the registry names is complete. Call with the registry lock held.
 */
export async function writeStaged(root: string, files: StagedFile[], registry: Registry): Promise<void> {
  const delay = slowIoDelay();
  await assertDirInside(root, "models", "the models folder");
  const dirs = [...new Set(files.map((f) => dirname(f.path)))];
  if (dirs.length > 1) throw new Error(`writeStaged: files of one version expected, got folders ${dirs.join(", ")}`);
  const dir = dirs[0];
  if (dir !== undefined) {
    if (!/^models\/[a-z0-9][a-z0-9-]*\/v[1-9][0-9]*$/.test(dir)) throw new Error(`writeStaged: ${dir} is not a version folder`);
    const target = join(root, dir);
    const parent = dirname(target);
    await mkdir(parent, { recursive: true });
    await assertDirInside(root, relative(root, parent), "the model's folder");
    await pruneStaleStaging(parent);
    const staging = join(parent, `.staging-${basename(target)}-${process.pid}-${randomBytes(4).toString("hex")}`);
    // Registered first and created synchronously: a signal between an asynchronous mkdir and the
    // registration would leave the folder behind.
    const off = onInterrupt(() => removeNow(staging));
    mkdirSync(staging);
    try {
      for (const file of files) {
        if (delay) await sleep(delay);
        // No mkdir: the folder exists, and one in flight at a SIGTERM would recreate it after the cleanup.
        await writeFileAtomic(join(staging, basename(file.path)), file.bytes, { mkdir: false });
      }
      if (delay) await sleep(delay);
      // A folder already at vN is not registered (the caller allocated N under the lock as the next
      // version): it is what a killed promotion left, and must not lend its files to this one. It is
      // moved aside (a staging name, so a later run prunes it if this one dies) and the staged folder
      // takes its place. Both renames are synchronous: a SIGTERM's cleanup removes the staging folder,
      // and with a rename still on the thread pool it could empty the folder while it was being
      // published (a test saw a v<N> without its card.md); now the cleanup runs before or after them.
      const aside = join(parent, `.staging-${basename(target)}-${process.pid}-${randomBytes(4).toString("hex")}`);
      const replaced = existsSync(target);
      if (replaced) renameSync(target, aside);
      renameSync(staging, target);
      if (replaced) {
        // The moved-aside folder is now what an interrupt must remove (registered before the staging
        // cleanup is dropped, so no moment is without one).
        const offAside = onInterrupt(() => removeNow(aside));
        off();
        try {
          await rm(aside, { recursive: true, force: true });
        } finally {
          offAside();
        }
      }
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    } finally {
      off();
    }
  }
  if (delay) await sleep(delay);
  await writeRegistry(root, registry);
}

/** Staging folders of processes that no longer run (killed with SIGKILL, which cannot be caught). */
async function pruneStaleStaging(parent: string): Promise<void> {
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const m = /^\.staging-v\d+-(\d+)-[0-9a-f]+$/.exec(name);
    if (m && !processAlive(Number(m[1]))) await rm(join(parent, name), { recursive: true, force: true });
  }
}

export { processAlive };
