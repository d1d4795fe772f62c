import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * `.dockerignore` with the semantics of Docker's (and buildah's) pattern matcher, so the credentials
 * guard sees exactly the files the engine would send: patterns are Go `filepath.Match` globs over
 * slash-separated paths relative to the context root, `**` spans directories, a leading `!`
 * re-includes, the last matching pattern wins, and a pattern that matches a directory excludes
 * everything under it.
 */
export interface IgnorePattern {
  /** The cleaned pattern text (no `!`, no leading `/`). */
  pattern: string;
  exclusion: boolean;
  regex: RegExp;
}

export function parseIgnoreFile(text: string): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const exclusion = line.startsWith("!");
    let pattern = cleanPath(exclusion ? line.slice(1).trim() : line);
    if (pattern === "") continue;
    if (pattern === ".") pattern = "*";
    patterns.push({ pattern, exclusion, regex: globToRegex(pattern) });
  }
  return patterns;
}

/** filepath.Clean plus Docker's stripping of a leading slash. */
function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const part of p.replace(/\\(?=[^*?[\]\\])/g, "/").split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

function escapeRegex(ch: string): string {
  return /[.+^${}()|[\]\\/*?]/.test(ch) ? `\\${ch}` : ch;
}

/** The regular expression Docker's patternmatcher compiles a pattern to. */
function globToRegex(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        // `**/` at a segment boundary matches zero or more directories; a trailing `**` anything.
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else {
          re += ".*";
        }
      } else {
        re += "[^/]*";
      }
    } else if (ch === "?") {
      re += "[^/]";
    } else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) {
        re += "\\[";
      } else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith("^") || body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else if (ch === "\\" && i + 1 < pattern.length) {
      re += escapeRegex(pattern[++i]!);
    } else {
      re += escapeRegex(ch);
    }
  }
  return new RegExp(re + "$");
}

/** True when `relPath` (slash-separated, relative to the context) is sent to the engine. */
export function isIncluded(patterns: IgnorePattern[], relPath: string): boolean {
  const path = cleanPath(relPath);
  const parents = path.split("/").slice(0, -1);
  let excluded = false;
  for (const p of patterns) {
    // Same short-cut as Docker: an exclusion cannot change an excluded path, nor an inclusion an included one.
    if (p.exclusion !== excluded) continue;
    let match = p.regex.test(path);
    for (let i = 1; !match && i <= parents.length; i++) match = p.regex.test(parents.slice(0, i).join("/"));
    if (match) excluded = !p.exclusion;
  }
  return !excluded;
}

/**
 * Whether a directory that is itself excluded may still contain re-included files: then the walk
 * has to descend into it (Docker does the same check before skipping a directory). True when an
 * exception pattern's leading segments match the directory's and the pattern goes deeper.
 */
function mayReinclude(patterns: IgnorePattern[], dir: string): boolean {
  const dirSegments = dir.split("/");
  return patterns.some((p) => {
    if (!p.exclusion) return false;
    const segments = p.pattern.split("/");
    for (let i = 0; i < dirSegments.length; i++) {
      if (segments[i]?.includes("**")) return true;
      if (i >= segments.length || !globToRegex(segments[i]!).test(dirSegments[i]!)) return false;
    }
    return segments.length > dirSegments.length;
  });
}

/** The ignore file an engine reads: buildah prefers `.containerignore`, both read `.dockerignore`. */
export async function readIgnorePatterns(contextDir: string, candidates: string[] = [".containerignore", ".dockerignore"]): Promise<{ file: string | null; patterns: IgnorePattern[] }> {
  for (const name of candidates) {
    const text = await readFile(join(contextDir, name), "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return null;
      throw error;
    });
    if (text !== null) return { file: name, patterns: parseIgnoreFile(text) };
  }
  return { file: null, patterns: [] };
}

/** Every regular file (and symlink) of the context that the engine would receive, as slash-separated relative paths. */
export async function listContextFiles(contextDir: string, patterns: IgnorePattern[]): Promise<string[]> {
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(rel ? join(contextDir, rel) : contextDir, { withFileTypes: true });
    for (const entry of entries) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      const included = isIncluded(patterns, path);
      if (entry.isDirectory()) {
        if (included || mayReinclude(patterns, path)) await walk(path);
      } else if (included && (entry.isFile() || entry.isSymbolicLink())) {
        files.push(path);
      }
    }
  };
  await walk("");
  return files;
}
