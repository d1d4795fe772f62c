import { sha256Hex } from "../core/hash.js";
import type { ModelArtifact } from "./artifact-schema.js";

/**
 * Model identity is its content: a sha256 over what predicts (features, preprocessing with its
 * derived physics features, label binning, classes, algorithm, decision weights and trees), never over lineage,
 * metrics or times. Two artifacts with
 * the same content hash give the same prediction for every input, so they are "the same model"
 * whatever their file bytes. Keys are sorted so the hash does not depend on key order.
 */
export function modelContentHash(model: Pick<ModelArtifact, "features" | "preprocessing" | "label" | "classes" | "model"> & Pick<Partial<ModelArtifact>, "input_policy">): string {
  const predictive = {
    // The input policy decides which records are answered, so it is part of what predicts; an
    // artifact without one hashes exactly as before the field existed.
    ...(model.input_policy ? { input_policy: model.input_policy } : {}),
    features: model.features,
    preprocessing: model.preprocessing,
    label: model.label,
    classes: model.classes,
    algorithm: model.model.algorithm,
    // How the trees combine decides the probabilities; absent (every artifact before the field) hashes as before.
    ...(model.model.combine ? { combine: model.model.combine } : {}),
    // Decision weights choose the class; absent (plain argmax) hashes as before the field.
    ...(model.model.decision_weights ? { decision_weights: model.model.decision_weights } : {}),
    trees: model.model.trees,
  };
  return sha256Hex(canonicalJson(predictive));
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v as Record<string, unknown>).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}
