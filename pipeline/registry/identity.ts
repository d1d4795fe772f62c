import { resolve } from "node:path";
import { sha256Hex } from "../core/hash.js";
import { readFileSafe } from "../core/safe-file.js";
import { ModelArtifactSchema } from "../model/artifact-schema.js";
import { modelContentHash } from "../model/identity.js";
import type { ModelVersion } from "./schema.js";

/** Largest artifact the registry reads (the committed forest is about 4 MB). */
export const MAX_ARTIFACT_BYTES = 256 * 1024 * 1024;

/** The content hash of artifact bytes (modelContentHash), or null when they are not a model artifact. */
export function artifactContentHash(bytes: Uint8Array): string | null {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return null;
  }
  const parsed = ModelArtifactSchema.safeParse(raw);
  return parsed.success ? modelContentHash(parsed.data) : null;
}

/**
 * A registered version's model identity: the recorded `content_sha256`, or for versions registered
 * before it was recorded (the committed v1), computed from the artifact file under `root`, but only
 * when that file still has the registered sha256 (otherwise the registry check reports it).
 */
export async function versionContentHash(root: string, version: ModelVersion): Promise<string | null> {
  if (version.content_sha256) return version.content_sha256;
  try {
    const bytes = await readFileSafe(resolve(root, version.artifact.path), { inside: root, what: "artifact", maxBytes: MAX_ARTIFACT_BYTES });
    if (sha256Hex(bytes) !== version.artifact.sha256) return null;
    return artifactContentHash(bytes);
  } catch {
    return null;
  }
}

/** The first registered version of the same model (same content hash), if any. */
export async function findSameModel(root: string, versions: readonly ModelVersion[], contentSha256: string, artifactSha256: string): Promise<ModelVersion | null> {
  for (const v of versions) {
    if (v.artifact.sha256 === artifactSha256) return v;
    if ((await versionContentHash(root, v)) === contentSha256) return v;
  }
  return null;
}
