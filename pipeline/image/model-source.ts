import { readFile, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { InputError, UsageError } from "../core/errors.js";
import { sha256Hex } from "../core/hash.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { modelContentHash } from "../model/identity.js";
import { parseModel } from "../model/load.js";
import { parseVersionRef, productionVersion, showVersion } from "../registry/query.js";
import { readRegistry } from "../registry/store.js";
import { ServingIdentitySchema, type ServingIdentity } from "../serve/model-source.js";

/**
 * `serving.json` (the server's schema, pipeline/serve/model-source.ts) is written beside the model
 * in the image: the identity the server must find in the model file it loads. It needs a registry
 * version, so an image always serves a registered version: what runs is what git records.
 */
export interface ImageModel {
  /** The artifact's bytes, copied into the image unchanged (so its sha256 stays the registry's). */
  bytes: Buffer;
  artifact: ModelArtifact;
  identity: ServingIdentity;
  /** Data the model was trained on (lineage), for the image labels. */
  dataSha256: string;
  /** Where it came from, for people: "production (v1, models/...)" or a path. */
  source: string;
}

/**
 * Resolves `--model`: `production` (the config's model in the registry), `name@vN`, or a path to
 * a model.json (or a directory holding one). A registered artifact must still match the sha256 the
 * registry records; a path must be a registered artifact (it gets its version from the registry).
 */
export async function resolveImageModel(root: string, spec: string, modelName: string): Promise<ImageModel> {
  if (spec === "production" || (/^[a-z0-9][a-z0-9-]*@v?\d+$/.test(spec) && !(await exists(resolve(root, spec))))) {
    const registry = await readRegistry(root);
    const version = spec === "production" ? productionVersion(registry, modelName) : showVersion(registry, parseVersionRef(spec)).version;
    const name = spec === "production" ? modelName : parseVersionRef(spec).name;
    if (!version) throw new UsageError(`--model production: "${modelName}" has no version tagged production in models/registry.yaml (build a registered version with name@vN, or a model.json path)`);
    const file = resolve(root, version.artifact.path);
    const bytes = await readArtifact(file);
    const sha256 = sha256Hex(bytes);
    if (sha256 !== version.artifact.sha256) {
      throw new InputError(`${version.artifact.path}: sha256 ${sha256} does not match models/registry.yaml (${name} v${version.version} records ${version.artifact.sha256}); the artifact was changed outside the registry`);
    }
    const artifact = parseModel(bytes.toString("utf8"), version.artifact.path);
    const label = spec === "production" ? `production (v${version.version}, ${version.artifact.path})` : `${name}@v${version.version} (${version.artifact.path})`;
    return {
      bytes,
      artifact,
      identity: ServingIdentitySchema.parse({ name, version: version.version, sha256, content_sha256: modelContentHash(artifact) }),
      dataSha256: version.data.sha256,
      source: label,
    };
  }
  let file = resolve(root, spec);
  if ((await stat(file).catch(() => null))?.isDirectory()) file = join(file, "model.json");
  const bytes = await readArtifact(file);
  const display = relative(root, file) || file;
  const artifact = parseModel(bytes.toString("utf8"), display);
  const sha256 = sha256Hex(bytes);
  // A registered file keeps its registry version; an unregistered candidate cannot be served as ready.
  const registry = await readRegistry(root).catch(() => null);
  const registered = registry?.models[artifact.name]?.versions.find((v) => v.artifact.sha256 === sha256) ?? null;
  if (!registered) {
    throw new UsageError(`${display}: not a version in models/registry.yaml (no ${artifact.name} version has sha256 ${sha256.slice(0, 12)}…); an image serves registered versions only: register it (pipeline promote) or build name@vN`);
  }
  return {
    bytes,
    artifact,
    identity: ServingIdentitySchema.parse({ name: artifact.name, version: registered.version, sha256, content_sha256: modelContentHash(artifact) }),
    dataSha256: artifact.lineage.data_sha256,
    source: `${display} (${artifact.name} v${registered.version})`,
  };
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

async function readArtifact(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: cannot read the model (${code === "ENOENT" ? "file not found" : (code ?? String(error))})`);
  }
}
