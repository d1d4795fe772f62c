import { isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { InputError } from "../core/errors.js";

const gunzipAsync = promisify(gunzip);

export interface CsvBytes {
  /** Decompressed text bytes without the BOM: what the parser scans. */
  text: Buffer;
  /** Size of the file on disk (compressed, if it is gzip). */
  bytes: number;
  /** sha256 of the file on disk, as lineage records it. */
  sha256: Promise<string>;
  /**
   * Resolves once the text is known to be NUL-free UTF-8, rejects with an InputError naming the
   * line otherwise. For large plain files the check runs on a worker thread while the caller
   * parses, so a caller must await it before trusting (or reporting errors about) the parse.
   */
  checked: Promise<void>;
}

/** A cap on gzip output, so a corrupt or hostile archive cannot exhaust memory. */
const MAX_DECOMPRESSED_BYTES = 2 * 2 ** 30;

/** Below this the worker's start-up costs more than hashing and checking on the main thread. */
const WORKER_MIN_BYTES = 8 * 1024 * 1024;

/**
 * Runs in a worker over the shared file bytes: sha256 plus the two native byte scans. Plain
 * CommonJS source so it needs no build step and works the same under tsx and from dist/.
 */
const CHECK_WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { isUtf8 } = require("node:buffer");
const bytes = Buffer.from(workerData.buffer, 0, workerData.length);
const sha256 = createHash("sha256").update(bytes).digest("hex");
const text = bytes.subarray(workerData.textStart);
parentPort.postMessage({ sha256, nul: text.indexOf(0), utf8: isUtf8(text) });
`;

interface CheckResult {
  sha256: string;
  nul: number;
  utf8: boolean;
}

function checkOnMainThread(raw: Uint8Array, text: Buffer): CheckResult {
  return { sha256: createHash("sha256").update(raw).digest("hex"), nul: text.indexOf(0), utf8: isUtf8(text) };
}

function checkInWorker(shared: SharedArrayBuffer, length: number, textStart: number): Promise<CheckResult> {
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(CHECK_WORKER, { eval: true, workerData: { buffer: shared, length, textStart } });
    worker.once("message", (m: CheckResult) => {
      resolvePromise(m);
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`check worker exited with code ${code}`)));
  });
}

async function readWhole(file: string): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    if (!Number.isFinite(size) || size === 0) return await handle.readFile();
    // One shared allocation and as few reads as the OS allows (readFile reads 512 KiB at a time);
    // shared so the check worker can hash it without a copy.
    const data = Buffer.from(size >= WORKER_MIN_BYTES ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(data, offset, size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return offset === size ? data : data.subarray(0, offset);
  } finally {
    await handle.close();
  }
}

/**
 * Reads the whole file: 100 MB of CSV is cheap to hold, and one contiguous buffer lets the
 * parser scan bytes without chunk-boundary logic. Gzip is recognised by its magic bytes, not
 * its name. Everything that would make the bytes unparseable as UTF-8 CSV is rejected with the
 * file and the line named (via `checked`).
 */
export async function readCsvBytes(file: string): Promise<CsvBytes> {
  let raw: Buffer;
  try {
    raw = await readWhole(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "file not found" : code === "EISDIR" ? "it is a directory" : code === "ERR_FS_FILE_TOO_LARGE" ? "file too large to read" : (code ?? String(error));
    throw new InputError(`${file}: cannot read data (${why})`, { cause: error });
  }

  let text = raw;
  const gzipped = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  if (gzipped) {
    try {
      text = await gunzipAsync(raw, { maxOutputLength: MAX_DECOMPRESSED_BYTES });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        throw new InputError(`${file}: decompresses to more than ${MAX_DECOMPRESSED_BYTES / 2 ** 30} GiB; split the dataset`, { cause: error });
      }
      const message = error instanceof Error ? error.message : String(error);
      throw new InputError(`${file}: gzip data is truncated or corrupt (${message}); re-download or re-compress the file`, { cause: error });
    }
  } else if (/\.gz$/i.test(file)) {
    const head = [...raw.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new InputError(`${file}: the name ends in .gz but the file is not gzip data (starts with bytes ${head || "(none)"}, gzip starts with 1f 8b)`);
  }

  if ((text[0] === 0xff && text[1] === 0xfe) || (text[0] === 0xfe && text[1] === 0xff)) {
    throw new InputError(`${file}: the file is UTF-16 encoded; re-encode it as UTF-8 (e.g. iconv -f utf-16 -t utf-8)`);
  }
  const bom = text[0] === 0xef && text[1] === 0xbb && text[2] === 0xbf ? 3 : 0;
  text = text.subarray(bom);

  const result = !gzipped && raw.buffer instanceof SharedArrayBuffer ? checkInWorker(raw.buffer, raw.length, bom).catch(() => checkOnMainThread(raw, text)) : Promise.resolve(checkOnMainThread(raw, text));
  const checked = result.then((r) => {
    if (r.nul >= 0) {
      const { line, column } = locate(text, r.nul);
      throw new InputError(`${file}: line ${line} contains a NUL byte (byte ${column} of the line); this looks like a binary file, not CSV text`);
    }
    if (!r.utf8) {
      const bad = firstInvalidUtf8(text);
      const { line, column } = locate(text, bad);
      throw new InputError(
        `${file}: line ${line}: invalid UTF-8 (byte 0x${text[bad]!.toString(16).padStart(2, "0")} at byte ${column} of the line); ` +
          `the file is probably Latin-1 or Windows-1252: re-encode it as UTF-8 (e.g. iconv -f latin1 -t utf-8 in.csv > out.csv)`,
      );
    }
  });
  // Callers await these later; an early parse error must not leave an unhandled rejection.
  checked.catch(() => undefined);
  const sha256 = result.then((r) => r.sha256);
  sha256.catch(() => undefined);
  return { text, bytes: raw.length, sha256, checked };
}

/** 1-based line and 1-based byte within the line of a buffer offset (error paths only). */
export function locate(buf: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (buf[i] === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Offset of the first byte that breaks UTF-8 (only called once isUtf8 said there is one). */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return n;
}
