import { copyFile, link, lstat, mkdir, readdir, readFile, readlink, rm, symlink, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { InputError } from "../core/errors.js";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.js";
import type { ImageModel } from "./model-source.js";

/**
 * What the build context gets besides the sources, staged on the host under `out/image/stage/`:
 * the dependencies the image needs, and the model. The build runs without network (here there is
 * none; in CI it saves a registry round trip and pins exactly the lockfile's tree), so instead of
 * `npm ci --omit=dev` inside the build, the host copies the lockfile's production packages plus
 * the few build-only ones the compile needs (typescript and the @types of the dependencies) out of
 * its installed node_modules. The build stage compiles, then deletes the build-only packages
 * (listed in build-only.json) and the files that only matter to a compiler or a reader.
 */
export const STAGE_DIR = "out/image/stage";

const LockSchemaHint = "package-lock.json (lockfileVersion 2 or 3, as npm 7+ writes it)";

interface LockEntry {
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

interface Lock {
  packages: Record<string, LockEntry>;
}

export interface DependencySets {
  /** Lockfile paths (`node_modules/a`, `node_modules/a/node_modules/b`) of the packages the image runs with. */
  production: string[];
  /** Needed only to compile: typescript and the devDependencies' @types, with what they depend on. */
  buildOnly: string[];
}

export function parseLock(text: string, file = "package-lock.json"): Lock {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const packages = (raw as { packages?: unknown })?.packages;
  if (!packages || typeof packages !== "object") throw new InputError(`${file}: no "packages" map; expected ${LockSchemaHint}`);
  return { packages: packages as Record<string, LockEntry> };
}

/** Node's resolution over the lockfile tree: from `from`'s folder up to the top-level node_modules. */
function resolveIn(lock: Lock, from: string, name: string): string | null {
  let base = from;
  for (;;) {
    const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return null;
    const cut = base.lastIndexOf("/node_modules/");
    base = cut < 0 ? "" : base.slice(0, cut);
  }
}

/**
 * The production set is what `npm ci --omit=dev` installs: every lockfile package not flagged
 * `dev` (devOptional and optional ones included). Build-only packages are typescript and the
 * root's `@types/*` devDependencies, closed over their dependencies, minus the production set.
 */
export function dependencySets(lock: Lock, devDependencies: Record<string, string>): DependencySets {
  const production = Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith("node_modules/") && !entry.dev && !entry.link)
    .map(([path]) => path)
    .sort();
  const productionSet = new Set(production);
  const roots = Object.keys(devDependencies).filter((name) => name === "typescript" || name.startsWith("@types/"));
  const seen = new Set<string>();
  const queue = roots.map((name) => resolveIn(lock, "", name)).filter((p): p is string => p !== null);
  while (queue.length) {
    const path = queue.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const entry = lock.packages[path]!;
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      const resolved = resolveIn(lock, path, dep);
      if (resolved) queue.push(resolved);
    }
  }
  const buildOnly = [...seen].filter((p) => !productionSet.has(p)).sort();
  return { production, buildOnly };
}

/**
 * Copies one package folder without its nested node_modules (those are lockfile entries of their
 * own) and without dotfiles: package dotfiles are never runtime code, and some are test fixtures
 * that look like secrets (bottleneck ships a `.env`). Hard links when possible: staging is then
 * nearly free and the host's files are never written (the build copies them into its own layer).
 */
async function copyPackage(from: string, to: string): Promise<number> {
  let files = 0;
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      files += await copyPackage(source, target);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(source), target);
      files++;
    } else if (entry.isFile()) {
      await link(source, target).catch(() => copyFile(source, target));
      files++;
    }
  }
  return files;
}

export interface StagedContext {
  /** Absolute path of the stage directory. */
  dir: string;
  production: number;
  buildOnly: number;
  files: number;
}

/** Stages node_modules, build-only.json and model/{model.json,serving.json} under `<root>/out/image/stage`. */
export async function stageBuildContext(root: string, model: ImageModel): Promise<StagedContext> {
  const dir = join(root, STAGE_DIR);
  await rm(dir, { recursive: true, force: true });
  const lockText = await readFile(join(root, "package-lock.json"), "utf8").catch(() => {
    throw new InputError(`${join(root, "package-lock.json")}: not found; the image installs exactly the lockfile's dependencies (run npm install once to create it)`);
  });
  const lock = parseLock(lockText);
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { devDependencies?: Record<string, string> };
  const sets = dependencySets(lock, pkg.devDependencies ?? {});
  let files = 0;
  let missingRequired: string | null = null;
  for (const path of [...sets.production, ...sets.buildOnly]) {
    const source = join(root, path);
    if (!(await lstat(source).catch(() => null))) {
      // Optional packages for other platforms are in the lock but not installed: that is fine.
      if (!lock.packages[path]!.optional) missingRequired ??= path;
      continue;
    }
    files += await copyPackage(source, join(dir, path));
  }
  if (missingRequired) {
    await rm(dir, { recursive: true, force: true });
    throw new InputError(`${missingRequired}: in package-lock.json but not installed; run npm ci before building the image`);
  }
  await writeJsonAtomic(join(dir, "build-only.json"), sets.buildOnly);
  await mkdir(join(dir, "model"), { recursive: true });
  await writeFileAtomic(join(dir, "model", "model.json"), model.bytes);
  await writeJsonAtomic(join(dir, "model", "serving.json"), model.identity);
  await mkdir(dirname(dir), { recursive: true });
  await pinTimes(dir, [join(dir, "build-only.json"), join(dir, "model", "model.json"), join(dir, "model", "serving.json")]);
  return { dir, production: sets.production.length, buildOnly: sets.buildOnly.length, files };
}

/**
 * The stage is made afresh for every build, but the engines' layer cache keys a COPY on its
 * sources' metadata as well as their bytes: new directories and rewritten files would miss the
 * cache every time. Directories and the files written here get one fixed time; hard-linked
 * dependency files keep theirs (changing them would change the host's node_modules). The image's
 * own file times come from SOURCE_DATE_EPOCH, not from these.
 */
const STAGE_TIME = new Date(0);

async function pinTimes(dir: string, written: string[]): Promise<void> {
  for (const file of written) await utimes(file, STAGE_TIME, STAGE_TIME);
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) if (entry.isDirectory()) await walk(join(d, entry.name));
    await utimes(d, STAGE_TIME, STAGE_TIME);
  };
  await walk(dir);
}
