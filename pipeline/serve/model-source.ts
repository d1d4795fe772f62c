import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import { z } from "zod";
import { InputError, UsageError } from "../core/errors.js";
import { sha256Hex } from "../core/hash.js";
import { workerEntry } from "../core/worker-entry.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { modelContentHash } from "../model/identity.js";
import { parseModel } from "../model/load.js";
import { packForest } from "../model/predictor.js";
import { forestMemory, type ForestMemory } from "../model/forest-walk.js";
import { parseVersionRef, showVersion } from "../registry/query.js";
import { readRegistry } from "../registry/store.js";

/**
 * Which model a server serves, and what it must be for the server to call itself ready.
 *
 * `--model` is a path, `production` or `name@vN`. The expected identity comes from, in order:
 * 1. a `serving.json` beside the model file (`{name, version, sha256, content_sha256}`, baked into
 *    the image by the image build);
 * 2. the registry (`models/registry.yaml` under the root): the entry `production`/`name@vN` names,
 *    or the entry whose artifact path is the given path.
 * Without either, the model is unverified and the server is never ready unless the caller allows
 * unverified models (a local experiment). A file whose bytes or content do not hash to the
 * expected values is never served as ready: a tampered or half-written model must not take traffic.
 */

export const ServingIdentitySchema = z
  .object({
    name: z.string().min(1),
    version: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    content_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export type ServingIdentity = z.infer<typeof ServingIdentitySchema>;

export const SERVING_IDENTITY_FILE = "serving.json";

export interface ExpectedIdentity {
  name: string;
  version: number;
  sha256: string;
  /** Only serving.json carries it; the registry records the file hash. */
  content_sha256: string | null;
  source: "serving.json" | "registry";
}

export interface ResolvedModelSource {
  /** Absolute path of model.json. */
  path: string;
  /** As given (`production`, `name@v2`, a path). */
  spec: string;
  expected: ExpectedIdentity | null;
}

export interface LoadedServedModel {
  /** The artifact; when loaded on a loader thread its `model.trees` is empty and `forest` holds the trees. */
  model: ModelArtifact;
  forest: ForestMemory | null;
  treeCount: number;
  path: string;
  sha256: string;
  content_sha256: string;
  name: string;
  /** Registry version; null when unverified. */
  version: number | null;
  expected: ExpectedIdentity | null;
}

export type ModelState =
  | { status: "loading"; path: string | null }
  | { status: "ready"; served: LoadedServedModel; verified: boolean }
  | { status: "failed"; reason: string; path: string | null };

/** Reads serving.json beside the model when there is one; a present but invalid one is an error. */
export async function readServingIdentity(modelPath: string): Promise<ServingIdentity | null> {
  const file = join(dirname(modelPath), SERVING_IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new InputError(`${SERVING_IDENTITY_FILE}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InputError(`${SERVING_IDENTITY_FILE}: not valid JSON`);
  }
  const parsed = ServingIdentitySchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`${SERVING_IDENTITY_FILE}: expected {name, version, sha256, content_sha256}; ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

/**
 * Resolves `--model` against the registry under `root`. `defaultModelName` (the config's model
 * name) picks the model for `production` when the registry holds several.
 */
export async function resolveModelSource(spec: string, root: string, defaultModelName?: string): Promise<ResolvedModelSource> {
  const isRef = spec === "production" || /^[a-z0-9][a-z0-9-]*@v?\d+$/.test(spec);
  if (isRef) {
    const registry = await readRegistry(root);
    let name: string;
    let version: number | null = null;
    if (spec === "production") {
      const names = Object.keys(registry.models);
      name = defaultModelName && registry.models[defaultModelName] ? defaultModelName : names.length === 1 ? names[0]! : "";
      if (!name) throw new UsageError(`--model production: cannot tell which model (registry has ${names.join(", ") || "none"}); give name@vN`);
    } else {
      const ref = parseVersionRef(spec);
      name = ref.name;
      version = ref.version;
    }
    const shown = showVersion(registry, { name, version });
    if (spec === "production" && !shown.version.tags.includes("production")) throw new UsageError(`--model production: ${name} has no version tagged production`);
    const path = resolve(root, shown.version.artifact.path);
    return { path, spec, expected: { name, version: shown.version.version, sha256: shown.version.artifact.sha256, content_sha256: null, source: "registry" } };
  }
  const path = resolve(root, spec);
  const baked = await readServingIdentity(path);
  if (baked) return { path, spec, expected: { ...baked, source: "serving.json" } };
  // A path the registry knows gets that entry's identity.
  let registry;
  try {
    registry = await readRegistry(root);
  } catch {
    registry = null;
  }
  if (registry) {
    for (const [name, model] of Object.entries(registry.models)) {
      const hit = model.versions.find((v) => resolve(root, v.artifact.path) === path);
      if (hit) return { path, spec, expected: { name, version: hit.version, sha256: hit.artifact.sha256, content_sha256: null, source: "registry" } };
    }
  }
  return { path, spec, expected: null };
}

/**
 * Loads and verifies the model. Reads the bytes once, hashes and parses those same bytes (no window
 * in which the file could change between check and use). Never throws: every failure becomes a
 * `failed` state with a reason that names no absolute path.
 */
export async function loadServedModelHere(source: ResolvedModelSource, options: LoadOptions = {}): Promise<ModelState> {
  const shown = source.spec;
  let bytes: Buffer;
  try {
    bytes = await readFile(source.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { status: "failed", path: source.path, reason: `model ${shown}: cannot read the model file (${code === "ENOENT" ? "not found" : (code ?? "error")})` };
  }
  const sha256 = sha256Hex(bytes);
  const expected = source.expected;
  if (expected && expected.sha256 !== sha256) {
    return { status: "failed", path: source.path, reason: `model ${shown}: sha256 ${sha256} does not match the ${expected.source} (${expected.sha256}); refusing to serve a changed model` };
  }
  let model: ModelArtifact;
  try {
    model = parseModel(bytes.toString("utf8"), "model.json");
  } catch (error) {
    return { status: "failed", path: source.path, reason: `model ${shown}: ${(error as Error).message.split("\n")[0]}` };
  }
  const content = modelContentHash(model);
  if (expected?.content_sha256 && expected.content_sha256 !== content) {
    return { status: "failed", path: source.path, reason: `model ${shown}: content hash ${content} does not match ${expected.source} (${expected.content_sha256})` };
  }
  if (expected && expected.name !== model.name) {
    return { status: "failed", path: source.path, reason: `model ${shown}: the artifact is "${model.name}" but ${expected.source} says "${expected.name}"` };
  }
  const served: LoadedServedModel = { model, forest: null, treeCount: model.model.trees.length, path: source.path, sha256, content_sha256: content, name: model.name, version: expected?.version ?? null, expected };
  if (!expected && !options.allowUnverified) {
    return { status: "failed", path: source.path, reason: `model ${shown}: no expected identity (no ${SERVING_IDENTITY_FILE} beside it and not in the registry); start with --allow-unverified to serve it anyway` };
  }
  return { status: "ready", served, verified: expected !== null };
}

export interface LoadOptions {
  allowUnverified?: boolean;
}

/**
 * Loads the model on a short-lived worker thread and keeps only what serving needs: the artifact
 * without its trees and the trees packed into typed arrays (transferred, not copied). Parsing a
 * 4 MB model.json and validating it allocates several times its size; done on the main thread that
 * memory stays resident for the life of the server, done on a worker it goes when the worker ends.
 * Falls back to loading on this thread when a worker cannot start (e.g. a bundle without the
 * worker file).
 */
export async function loadServedModel(source: ResolvedModelSource, options: LoadOptions = {}): Promise<ModelState> {
  let entry: URL;
  try {
    entry = workerEntry(import.meta.url, "model-load-worker");
  } catch {
    return loadServedModelHere(source, options);
  }
  const viaWorker = await new Promise<ModelState | null>((resolveState) => {
    let settled = false;
    const worker = new Worker(entry, { workerData: { source, options } });
    worker.once("message", (state: ModelState) => {
      settled = true;
      resolveState(state);
      void worker.terminate();
    });
    worker.once("error", () => {
      if (!settled) resolveState(null);
    });
    worker.once("exit", () => {
      if (!settled) resolveState(null);
    });
  });
  return viaWorker ?? loadServedModelHere(source, options);
}

/** What a loader thread runs: load, verify, pack; the reply transfers the packed trees. */
export async function loadForTransfer(source: ResolvedModelSource, options: LoadOptions): Promise<{ state: ModelState; transfer: ArrayBuffer[] }> {
  const state = await loadServedModelHere(source, options);
  if (state.status !== "ready") return { state, transfer: [] };
  const served = state.served;
  // A shared memory: posted, not copied, and the batch helper threads (batch-helpers.ts) walk it too.
  const forest = forestMemory(packForest(served.model));
  const light: ModelArtifact = { ...served.model, model: { ...served.model.model, trees: [] } };
  return { state: { ...state, served: { ...served, model: light, forest } }, transfer: [] };
}
