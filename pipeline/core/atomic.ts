import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname, basename, join } from "node:path";

/**
 * Writes a file so that readers only ever see the old or the new content: `write` fills a temporary
 * sibling (same filesystem, so rename is atomic), which is fsynced and renamed over the target. A
 * process killed at any point leaves at most a stray `.tmp` file, never a torn target; an error
 * removes the temporary file and leaves the target as it was.
 */
export async function writeStreamAtomic<T>(path: string, write: (handle: FileHandle) => Promise<T>): Promise<T> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
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

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeStreamAtomic(path, (handle) => handle.writeFile(data));
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}
