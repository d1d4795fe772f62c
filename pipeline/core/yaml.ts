import { isMap, isScalar, parseDocument, visit } from "yaml";
import type { PipelineError } from "./errors.js";

/**
 * YAML read from files a pull request can change (the config, the registry) is hostile input:
 * aliases are capped (an alias bomb expands exponentially), duplicate keys and keys that would
 * reach an object's prototype are refused, and bytes that are not UTF-8 are refused with their line
 * instead of turning silently into U+FFFD.
 */
export const MAX_YAML_ALIASES = 100;
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

type ErrorClass = new (message: string, options?: { cause?: unknown }) => PipelineError;

/** Decodes UTF-8 strictly; the error names the line and column of the first invalid byte. */
export function decodeUtf8Strict(bytes: Uint8Array, file: string, ErrorType: ErrorClass): string {
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    return text;
  } catch {
    let line = 1;
    let lineStart = 0;
    const decoder = new TextDecoder("utf-8", { fatal: true });
    for (let i = 0; i <= bytes.length; i++) {
      if (i === bytes.length || bytes[i] === 0x0a) {
        try {
          decoder.decode(bytes.subarray(lineStart, i));
        } catch {
          // Find the column: the longest prefix of the line that decodes.
          let col = 0;
          for (let j = lineStart; j < i; j++) {
            try {
              decoder.decode(bytes.subarray(lineStart, j + 1));
              col = j + 1 - lineStart;
            } catch {
              if (j + 1 - lineStart - col > 4) break;
            }
          }
          throw new ErrorType(`${file}:${line}:${col + 1}: not valid UTF-8 (byte 0x${bytes[lineStart + col]?.toString(16).padStart(2, "0") ?? "??"}); save the file as UTF-8`);
        }
        line++;
        lineStart = i + 1;
      }
    }
    throw new ErrorType(`${file}: not valid UTF-8; save the file as UTF-8`);
  }
}

/** Parses one YAML document to plain JS with the limits above. `null` for an empty document. */
export function parseYamlStrict(source: string | Uint8Array, file: string, ErrorType: ErrorClass): unknown {
  const text = typeof source === "string" ? source : decodeUtf8Strict(source, file, ErrorType);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    const message = e.message.split("\n")[0]!.replace(/^Map keys must be unique.*/, "duplicate key (each key may appear once in a mapping)");
    throw new ErrorType(`${file}${pos ? `:${pos.line}:${pos.col}` : ""}: invalid YAML: ${message}`);
  }
  visit(doc, {
    Pair(_key, pair) {
      const key = isScalar(pair.key) ? pair.key.value : pair.key;
      if (typeof key === "string" && FORBIDDEN_KEYS.has(key)) {
        const range = isScalar(pair.key) ? pair.key.range : undefined;
        const line = range ? text.slice(0, range[0]).split("\n").length : undefined;
        throw new ErrorType(`${file}${line ? `:${line}` : ""}: invalid YAML: the key "${key}" is not allowed`);
      }
      if (isMap(pair.key)) throw new ErrorType(`${file}: invalid YAML: a mapping used as a key is not allowed`);
    },
  });
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (error) {
    if (error instanceof ReferenceError || /alias/i.test((error as Error).message)) {
      throw new ErrorType(`${file}: invalid YAML: too many alias expansions (limit ${MAX_YAML_ALIASES}); aliases that expand to huge documents are refused`, { cause: error });
    }
    throw new ErrorType(`${file}: invalid YAML: ${(error as Error).message}`, { cause: error });
  }
}
