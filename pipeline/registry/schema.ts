import { z } from "zod";

/** `models/registry.yaml`. One schema, one version field; invariants live in check.ts. */
export const REGISTRY_SCHEMA_VERSION = 1;

export const FIXED_TAGS = ["training", "validated", "production", "archived"] as const;
export const TagSchema = z.union([z.enum(FIXED_TAGS), z.string().regex(/^deployed-[0-9a-f]{7,40}$/, "deployed-<git sha>")]);
export type Tag = z.infer<typeof TagSchema>;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "a sha256 hex digest");

export const DeploymentSchema = z
  .object({
    environment: z.string().min(1),
    image_digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, "an image digest sha256:<64 hex>"),
    revision: z.string().min(1),
    url: z.string().url(),
    time: z.string().datetime({ offset: true }),
    git_sha: z.string().regex(/^[0-9a-f]{7,40}$/),
    status: z.enum(["succeeded", "rolled_back", "failed"]).default("succeeded"),
  })
  .strict();

export const ModelVersionSchema = z
  .object({
    version: z.number().int().positive(),
    created_at: z.string().datetime({ offset: true }),
    artifact: z.object({ path: z.string().min(1), sha256 }).strict(),
    /**
     * Model identity (modelContentHash over what predicts, not lineage or times). Optional: versions
     * registered before it existed (the committed v1) get it computed from their artifact on the fly.
     */
    content_sha256: sha256.optional(),
    data: z.object({ path: z.string(), sha256, rows: z.number().int().nonnegative() }).strict(),
    config_sha256: sha256,
    git_sha: z.string().nullable(),
    trainer: z.object({ name: z.string(), version: z.string(), seed: z.number().int(), candidate: z.string() }).strict(),
    metrics: z.record(z.string(), z.number()),
    tags: z.array(TagSchema),
    deployments: z.array(DeploymentSchema).default([]),
  })
  .strict();

export const RegisteredModelSchema = z
  .object({
    description: z.string().optional(),
    versions: z.array(ModelVersionSchema),
  })
  .strict();

export const RegistrySchema = z
  .object({
    version: z.literal(REGISTRY_SCHEMA_VERSION),
    models: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), RegisteredModelSchema),
  })
  .strict();

export type Registry = z.infer<typeof RegistrySchema>;
export type ModelVersion = z.infer<typeof ModelVersionSchema>;
export type Deployment = z.infer<typeof DeploymentSchema>;
