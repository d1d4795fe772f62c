import { constants } from "node:fs";
import { lstat, open, realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { fromOsError, InputError } from "./errors.js";

/** Model artifacts, reports and registries are far below this; anything larger is not ours. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

export interface SafeReadOptions {
  /** Refuse a file larger than this (bytes). */
  maxBytes?: number;
  /** The file (after resolving every symlink in its directories) must lie inside this directory. */
  inside?: string;
  /** Allow the final path component to be a symlink (to a regular file). Default false. */
  allowSymlink?: boolean;
  /** What the file is, for messages ("model artifact", "registry"). */
  what?: string;
}

export type FileProblem = "missing" | "symlink" | "not-regular" | "outside" | "too-large";

export class UnsafeFileError extends InputError {
  constructor(
    readonly problem: FileProblem,
    message: string,
  ) {
    super(message);
  }
}

/** True when `child` is `parent` or below it (both absolute, already resolved). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * Checks a path before it is read: it must exist, be a regular file (never a symlink unless
 * allowed, a device, a FIFO or a socket, which could hang the reader or leak another file), be no
 * larger than the cap and, with `inside`, resolve inside that directory. Returns the size.
 */
export async function checkRegularFile(path: string, options: SafeReadOptions = {}): Promise<number> {
  const what = options.what ?? "file";
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  let info;
  try {
    info = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") throw new UnsafeFileError("missing", `${path}: ${what} not found`);
    throw fromOsError(error, path);
  }
  if (info.isSymbolicLink()) {
    if (!options.allowSymlink) throw new UnsafeFileError("symlink", `${path}: ${what} is a symbolic link; only regular files are read`);
    // A link to nothing is a missing file, as a missing path is (realpath fails, not lstat).
    try {
      info = await lstat(await realpath(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") throw new UnsafeFileError("missing", `${path}: ${what} is a symbolic link to a file that does not exist`);
      throw fromOsError(error, path);
    }
  }
  if (!info.isFile()) {
    const kind = info.isDirectory() ? "a directory" : info.isFIFO() ? "a FIFO" : info.isCharacterDevice() || info.isBlockDevice() ? "a device" : info.isSocket() ? "a socket" : "not a regular file";
    throw new UnsafeFileError("not-regular", `${path}: ${what} is ${kind}; expected a regular file`);
  }
  if (info.size > maxBytes) throw new UnsafeFileError("too-large", `${path}: ${what} is ${info.size} bytes, over the ${maxBytes}-byte limit`);
  if (options.inside !== undefined) {
    const [base, real] = await Promise.all([realpath(options.inside), realpath(path)]).catch((error: unknown) => {
      throw fromOsError(error, path);
    });
    if (!isInside(base, real)) throw new UnsafeFileError("outside", `${path}: ${what} resolves to ${real}, outside ${base}`);
  }
  return info.size;
}

/**
 * Reads a file after `checkRegularFile`, opening it with O_NOFOLLOW | O_NONBLOCK (a file swapped
 * for a symlink or FIFO between the check and the open is refused, and never blocks) and reading at
 * most the cap.
 */
export async function readFileSafe(path: string, options: SafeReadOptions = {}): Promise<Buffer> {
  await checkRegularFile(path, options);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const flags = constants.O_RDONLY | (options.allowSymlink ? 0 : constants.O_NOFOLLOW) | constants.O_NONBLOCK;
  let handle;
  try {
    handle = await open(path, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") throw new UnsafeFileError("symlink", `${path}: ${options.what ?? "file"} is a symbolic link; only regular files are read`);
    throw fromOsError(error, path);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new UnsafeFileError("not-regular", `${path}: ${options.what ?? "file"} is not a regular file`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new UnsafeFileError("too-large", `${path}: ${options.what ?? "file"} is over the ${maxBytes}-byte limit`);
      chunks.push(buffer.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    throw fromOsError(error, path);
  } finally {
    await handle.close();
  }
}

/** `dir` (a folder the pipeline writes into, e.g. models/) must not resolve outside `root`; missing is fine. */
export async function assertDirInside(root: string, dir: string, what: string): Promise<void> {
  const abs = resolve(root, dir);
  let real: string;
  try {
    real = await realpath(abs);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw fromOsError(error, abs);
  }
  const base = await realpath(root);
  if (!isInside(base, real)) throw new InputError(`${dir}: ${what} resolves to ${real}, outside the repository ${base}; refusing to write there`);
}
