/**
 * Cleanup on SIGINT and SIGTERM: temporary files, staging folders and git worktrees registered
 * here are removed before the process exits with 128 + the signal's number, the shell convention.
 * Cleanups are synchronous (rmSync, spawnSync): a signal handler must finish before the process
 * ends, and an awaited promise might never resolve. SIGKILL cannot be caught; for that, later runs
 * prune what a killed run left (see promote/propose.ts and promote/stage.ts).
 */
import { rmSync } from "node:fs";

type Cleanup = () => void;

const cleanups = new Map<number, Cleanup>();
let nextId = 1;

const SIGNALS: Record<"SIGINT" | "SIGTERM", number> = { SIGINT: 2, SIGTERM: 15 };

function runAll(): void {
  // Newest first: a worktree is removed before the temporary folder that holds it.
  for (const id of [...cleanups.keys()].sort((a, b) => b - a)) {
    const fn = cleanups.get(id)!;
    cleanups.delete(id);
    try {
      fn();
    } catch {
      // Best effort: one failed cleanup must not stop the others.
    }
  }
}

const listeners = new Map<string, () => void>();

// Listeners are attached only while something is registered: a command that later waits for its
// own SIGINT/SIGTERM (a server draining, `pipeline run` keeping its service up) is not cut short.
function install(): void {
  if (listeners.size) return;
  for (const [signal, number] of Object.entries(SIGNALS)) {
    const listener = () => {
      runAll();
      process.exit(128 + number);
    };
    listeners.set(signal, listener);
    process.on(signal, listener);
  }
}

function uninstallIfIdle(): void {
  if (cleanups.size) return;
  for (const [signal, listener] of listeners) process.off(signal, listener);
  listeners.clear();
}

/** How long a signal's cleanup lets file operations already on the thread pool finish before it looks again. */
const IN_FLIGHT_GRACE_MS = 50;

/**
 * Removes a folder from a signal handler. A write already handed to the thread pool may still land
 * a file in it while the handler runs (then rmdir sees ENOTEMPTY): retried, since no new write can
 * start while the handler blocks the event loop. An operation in flight may also land after the
 * removal (a `mkdir -p` makes the folder again), so after a short grace the removal runs once more.
 */
export function removeNow(path: string): void {
  rmSync(path, { recursive: true, force: true, maxRetries: 10, retryDelay: 10 });
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, IN_FLIGHT_GRACE_MS);
  rmSync(path, { recursive: true, force: true, maxRetries: 10, retryDelay: 10 });
}

/** Registers a synchronous cleanup to run if the process is interrupted; returns the function that unregisters it. */
export function onInterrupt(fn: Cleanup): () => void {
  install();
  const id = nextId++;
  cleanups.set(id, fn);
  return () => {
    cleanups.delete(id);
    uninstallIfIdle();
  };
}

/** Runs `body` with `cleanup` registered for signals, and always runs `cleanup` (awaited) when the body ends. */
export async function withCleanup<T>(syncCleanup: Cleanup, body: () => Promise<T>, asyncCleanup?: () => Promise<void>): Promise<T> {
  const off = onInterrupt(syncCleanup);
  try {
    return await body();
  } finally {
    off();
    if (asyncCleanup) await asyncCleanup();
    else syncCleanup();
  }
}
