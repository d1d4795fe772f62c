import { z } from "zod";

/**
 * The subset of the Cloud Run Admin API v2 resources the deploy reads, in their proto3 JSON form
 * (lowerCamelCase names, int64 as strings, enums as names, zero values omitted). Responses are
 * parsed loosely: Google adds fields over time and a deploy must not break on one it does not use.
 */

export const ConditionSchema = z
  .object({
    type: z.string().optional(),
    state: z.string().optional(),
    message: z.string().optional(),
    lastTransitionTime: z.string().optional(),
    severity: z.string().optional(),
    reason: z.string().optional(),
    revisionReason: z.string().optional(),
    executionReason: z.string().optional(),
  })
  .loose();
export type Condition = z.infer<typeof ConditionSchema>;

export const TrafficTargetSchema = z
  .object({
    type: z.enum(["TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED", "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"]).optional(),
    revision: z.string().optional(),
    percent: z.number().int().optional(),
    tag: z.string().optional(),
  })
  .loose();
export type TrafficTarget = z.infer<typeof TrafficTargetSchema>;

export const TrafficTargetStatusSchema = TrafficTargetSchema.extend({ uri: z.string().optional() }).loose();
export type TrafficTargetStatus = z.infer<typeof TrafficTargetStatusSchema>;

/** A service as returned by services.get; `template` is kept as raw JSON and rewritten as a whole. */
export const ServiceSchema = z
  .object({
    name: z.string(),
    uid: z.string().optional(),
    generation: z.string().optional(),
    observedGeneration: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    template: z.record(z.string(), z.unknown()).optional(),
    traffic: z.array(TrafficTargetSchema).optional(),
    trafficStatuses: z.array(TrafficTargetStatusSchema).optional(),
    uri: z.string().optional(),
    urls: z.array(z.string()).optional(),
    latestReadyRevision: z.string().optional(),
    latestCreatedRevision: z.string().optional(),
    terminalCondition: ConditionSchema.optional(),
    conditions: z.array(ConditionSchema).optional(),
    reconciling: z.boolean().optional(),
    etag: z.string().optional(),
  })
  .loose();
export type Service = z.infer<typeof ServiceSchema>;

export const RevisionSchema = z
  .object({
    name: z.string(),
    service: z.string().optional(),
    generation: z.string().optional(),
    reconciling: z.boolean().optional(),
    conditions: z.array(ConditionSchema).optional(),
    containers: z.array(z.object({ image: z.string().optional() }).loose()).optional(),
    createTime: z.string().optional(),
  })
  .loose();
export type Revision = z.infer<typeof RevisionSchema>;

export const ListRevisionsResponseSchema = z.object({ revisions: z.array(RevisionSchema).optional(), nextPageToken: z.string().optional() }).loose();

export const StatusSchema = z.object({ code: z.number().int().optional(), message: z.string().optional(), details: z.array(z.unknown()).optional() }).loose();

export const OperationSchema = z
  .object({
    name: z.string(),
    done: z.boolean().optional(),
    error: StatusSchema.optional(),
    response: z.record(z.string(), z.unknown()).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();
export type Operation = z.infer<typeof OperationSchema>;

/** Google's error envelope: `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`. */
export const GoogleErrorSchema = z.object({ error: z.object({ code: z.number().optional(), message: z.string().optional(), status: z.string().optional() }).loose() }).loose();

/** The resource names the deploy works with. */
export interface ServiceName {
  project: string;
  region: string;
  service: string;
}

export function serviceParent(n: ServiceName): string {
  return `projects/${n.project}/locations/${n.region}`;
}

export function serviceResourceName(n: ServiceName): string {
  return `${serviceParent(n)}/services/${n.service}`;
}

/** Revision names in traffic entries are short (`svc-00001-abc`); resources are full paths. */
export function revisionResourceName(n: ServiceName, revision: string): string {
  return `${serviceResourceName(n)}/revisions/${shortRevisionName(revision)}`;
}

export function shortRevisionName(revision: string): string {
  return revision.split("/").at(-1)!;
}

/** The Ready condition of a service or revision. */
export function readyCondition(conditions: Condition[] | undefined, terminal?: Condition): Condition | undefined {
  return terminal?.type === "Ready" ? terminal : conditions?.find((c) => c.type === "Ready");
}
