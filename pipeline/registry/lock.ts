import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import lockfile from "proper-lockfile";
import { PipelineError } from "../core/errors.js";
import { assertDirInside } from "../core/safe-file.js";

/** The lock guarding `models/registry.yaml` and the allocation of `models/<name>/vN/` folders. */
export const REGISTRY_LOCK_DIR = "models/.registry.lock";

export interface RegistryLockOptions {
  /** How long to wait for another writer before failing (ms). Default 120 s: a promotion with --open-pr takes seconds. */
  waitMs?: number;
  /** A lock not refreshed for this long is stale (its holder died) and is taken over (ms). Default 5 s, or PIPELINE_LOCK_STALE_MS; at least 2 s. */
  staleMs?: number;
  /**
   * Lock this path instead of `<root>/models/.registry.lock` (promotions by pull request lock in the
   * git directory, so the caller's checkout is not touched).
   */
  lockPath?: string;
}

/** Another writer held the registry lock for longer than we were willing to wait, or we lost ours. */
export class RegistryLockError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}

/**
 * Runs `fn` while holding the registry lock of the repository at `root`: one writer at a time for
 * every read-modify-write of the registry and every allocation of a version folder. The lock is a
 * directory (`models/.registry.lock`, created atomically by mkdir) refreshed while held; one whose
 * holder was killed goes stale after `staleMs` and the next writer takes it over, so a crash never
 * blocks the registry for good. Read the registry INSIDE `fn`, never before: a copy read earlier
 * may already be outdated.
 */
export async function withRegistryLock<T>(root: string, fn: () => Promise<T>, options: RegistryLockOptions = {}): Promise<T> {
  const waitMs = options.waitMs ?? 120_000;
  const staleMs = Math.max(2_000, options.staleMs ?? lockStaleFromEnv() ?? 5_000);
  // The lock lives in models/: that folder must be the repository's own before anything is created in it.
  if (!options.lockPath) await assertDirInside(root, "models", "the models folder");
  const lockPath = options.lockPath ?? join(root, REGISTRY_LOCK_DIR);
  const label = options.lockPath ?? REGISTRY_LOCK_DIR;
  await mkdir(dirname(lockPath), { recursive: true });
  // The lock targets a path that need not exist (the registry may not be written yet).
  const target = join(root, "models", "registry.yaml");
  let compromised: Error | undefined;
  const minTimeout = 25;
  const maxTimeout = 250;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      lockfilePath: lockPath,
      stale: staleMs,
      // Refreshed four times per stale period, so a busy event loop does not make a live lock look stale.
      update: Math.floor(staleMs / 4),
      retries: { retries: Math.ceil(waitMs / maxTimeout) + 8, factor: 1.5, minTimeout, maxTimeout, randomize: true },
      onCompromised: (error) => {
        compromised = error;
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOCKED") {
      throw new RegistryLockError(`${label}: another promotion, rollback or deployment is writing the registry; gave up after ${Math.round(waitMs / 1000)} s (if no such process runs, the lock goes stale after ${staleMs / 1000} s)`, { cause: error });
    }
    throw error;
  }
  let result: T;
  try {
    result = await fn();
  } finally {
    try {
      await release();
    } catch (error) {
      compromised ??= error as Error;
    }
  }
  if (compromised) {
    throw new RegistryLockError(`${label}: the registry lock was lost while writing (${compromised.message}); check the registry with \`pipeline registry check\``, { cause: compromised });
  }
  return result;
}

/** PIPELINE_LOCK_STALE_MS: how long a killed writer can block the others (the kill test shortens it). */
function lockStaleFromEnv(): number | undefined {
  const raw = process.env.PIPELINE_LOCK_STALE_MS;
  const ms = raw ? Number(raw) : NaN;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}
