import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { onInterrupt, removeNow } from "./cleanup.js";
import { fromOsError, InputError } from "./errors.js";

/**
 * Writes a file so that readers only ever see the old or the new content: `write` fills a temporary
 * sibling (same filesystem, so rename is atomic), which is fsynced and renamed over the target. A
 * process killed at any point leaves at most a stray `.tmp` file, never a torn target; an error
 * removes the temporary file and leaves the target as it was.
 */
export interface AtomicWriteOptions {
  /**
   * Create the file's folder when missing (default true). False for a staging folder the caller
   * made and an interrupt cleanup removes: a `mkdir` still on the thread pool when the signal's
   * cleanup removes the folder would create it again after the cleanup, and leave it behind (the
   * kill test saw an empty `.staging-v2-…` folder after a SIGTERM).
   */
  mkdir?: boolean;
}

export async function writeStreamAtomic<T>(path: string, write: (handle: FileHandle) => Promise<T>, options: AtomicWriteOptions = {}): Promise<T> {
  try {
    return await writeStreamAtomicRaw(path, write, options);
  } catch (error) {
    // EACCES, ENOSPC, EROFS, EISDIR…: a clear error naming the target, not the temporary file.
    throw fromOsError(error, path);
  }
}

async function writeStreamAtomicRaw<T>(path: string, write: (handle: FileHandle) => Promise<T>, options: AtomicWriteOptions): Promise<T> {
  // A directory named as the file (`--out somedir`, `--out /`): refused before any temporary file exists.
  const existing = await lstat(path).catch(() => null);
  if (existing?.isDirectory()) throw new InputError(`${path}: is a directory; name a file to write`);
  const dir = dirname(path);
  if (options.mkdir !== false) await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(tmp, "w");
  let result: T;
  try {
    result = await write(handle);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  // fsync the directory so the rename itself survives a crash.
  try {
    const dh = await open(dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
  return result;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  await writeStreamAtomic(path, (handle) => handle.writeFile(data), options);
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

export interface DirFile {
  /** File name inside the folder (no slashes). */
  name: string;
  data: string | Uint8Array;
}

/**
 * Writes a whole output folder so that it holds either the previous run's files or this run's, never
 * a mix: the files go into a staging sibling, which replaces `dir` by rename. A folder already at
 * `dir` is replaced only when it holds nothing but files of the same set (a previous output);
 * anything else there is refused rather than deleted. The rename pair leaves a moment where `dir`
 * is missing, never one where it is mixed; staging leftovers of killed runs are removed.
 */
export async function writeDirAtomic(dir: string, files: DirFile[]): Promise<void> {
  const parent = dirname(dir);
  const base = basename(dir);
  await mkdir(parent, { recursive: true });
  const names = new Set(files.map((f) => f.name));
  let existing: string[] | null = null;
  try {
    const info = await lstat(dir);
    if (!info.isDirectory()) throw new InputError(`${dir}: exists and is not a directory; name a folder for the output`);
    existing = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw fromOsError(error, dir);
  }
  const foreign = (existing ?? []).filter((n) => !names.has(n));
  if (foreign.length) {
    throw new InputError(`${dir}: holds files this step does not write (${foreign.slice(0, 5).join(", ")}${foreign.length > 5 ? ", …" : ""}); name a new or empty folder, so no earlier file is left beside the new ones`);
  }
  for (const name of await readdir(parent)) {
    const m = new RegExp(`^\\.${escapeRegExp(base)}\\.(?:staging|old)-(\\d+)-[0-9a-f]+$`).exec(name);
    if (m && !processAlive(Number(m[1]))) await rm(join(parent, name), { recursive: true, force: true });
  }
  const tag = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const staging = join(parent, `.${base}.staging-${tag}`);
  const old = join(parent, `.${base}.old-${tag}`);
  // Registered first and created synchronously: a signal between an asynchronous mkdir and the
  // registration would leave the folder behind.
  const off = onInterrupt(() => removeNow(staging));
  try {
    mkdirSync(staging);
  } catch (error) {
    off();
    throw fromOsError(error, dir);
  }
  try {
    for (const f of files) await writeFileAtomic(join(staging, f.name), f.data, { mkdir: false });
    if (existing !== null) await rename(dir, old);
    try {
      await rename(staging, dir);
    } catch (error) {
      if (existing !== null) await rename(old, dir);
      throw error;
    }
    if (existing !== null) await rm(old, { recursive: true, force: true });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw fromOsError(error, dir);
  } finally {
    off();
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether a process of this machine still runs (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
