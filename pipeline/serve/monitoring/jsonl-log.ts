import { appendFile, mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";

export interface JsonlLogOptions {
  path: string;
  /** Rotate before the file would grow past this many bytes. */
  maxBytes: number;
  /** Rotated files kept: path.1 (newest) … path.<keep>. */
  keep: number;
  /** Called once per failed write; the log never throws into the request path. */
  onError?: (error: Error) => void;
  /** Buffered lines are written at most this long after they were appended. */
  flushMs?: number;
}

export interface JsonlLog {
  append(record: unknown): void;
  /** Writes everything appended so far. */
  flush(): Promise<void>;
  /** Flushes and stops the timer. */
  close(): Promise<void>;
}

/**
 * An append-only JSONL file rotated by size. Lines are buffered and written in batches off the
 * request path (one appendFile per batch instead of one per prediction); writes and rotations are
 * serialized on one promise chain, so a rotation never interleaves with a write.
 */
export function createJsonlLog(options: JsonlLogOptions): JsonlLog {
  const flushMs = options.flushMs ?? 250;
  let buffer: string[] = [];
  let bufferBytes = 0;
  let size: number | null = null;
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  const currentSize = async (): Promise<number> => {
    if (size !== null) return size;
    await mkdir(dirname(options.path), { recursive: true });
    try {
      size = (await stat(options.path)).size;
    } catch {
      size = 0;
    }
    return size;
  };

  const rotate = async (): Promise<void> => {
    await rm(`${options.path}.${options.keep}`, { force: true });
    for (let i = options.keep - 1; i >= 1; i--) {
      await rename(`${options.path}.${i}`, `${options.path}.${i + 1}`).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "ENOENT") throw e;
      });
    }
    await rename(options.path, `${options.path}.1`).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
    size = 0;
  };

  const write = async (lines: string[]): Promise<void> => {
    // Lines are written in runs that fit the current file; a run that would cross max_bytes
    // starts a new file first (a single oversized line still gets a file of its own).
    let run: string[] = [];
    let used = await currentSize();
    const writeRun = async () => {
      if (!run.length) return;
      await appendFile(options.path, run.join(""));
      size = used;
      run = [];
    };
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (used + bytes > options.maxBytes && used > 0) {
        await writeRun();
        await rotate();
        used = 0;
      }
      run.push(line);
      used += bytes;
    }
    await writeRun();
  };

  const flush = (): Promise<void> => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    const lines = buffer;
    buffer = [];
    bufferBytes = 0;
    if (lines.length) {
      chain = chain.then(() =>
        write(lines).catch((error: Error) => {
          size = null;
          options.onError?.(error);
        }),
      );
    }
    return chain;
  };

  return {
    append(record) {
      if (closed) return;
      const line = JSON.stringify(record) + "\n";
      buffer.push(line);
      bufferBytes += line.length;
      if (bufferBytes >= 256 * 1024) void flush();
      else if (!timer) {
        timer = setTimeout(() => void flush(), flushMs);
        timer.unref();
      }
    },
    flush,
    async close() {
      await flush();
      closed = true;
    },
  };
}
