import type { EnvironmentConfig } from "../config/schema.js";
import type { Service } from "./cloud-run-types.js";

/**
 * What goes into a Cloud Run service and its revision template, built from an environment of the
 * config. Only fields a client may set are written: the Admin API (and the stand-in) refuse
 * output-only ones.
 */

/**
 * Output-only fields of google.cloud.run.v2.Service, from `(google.api.field_behavior)` in the v2
 * description (test/deploy-spec.test.ts checks this list against protos.json). They are dropped from
 * a fetched service before it is sent back in a patch.
 */
export const SERVICE_OUTPUT_ONLY = [
  "uid",
  "generation",
  "createTime",
  "updateTime",
  "deleteTime",
  "expireTime",
  "creator",
  "lastModifier",
  "urls",
  "observedGeneration",
  "terminalCondition",
  "conditions",
  "latestReadyRevision",
  "latestCreatedRevision",
  "trafficStatuses",
  "uri",
  "satisfiesPzs",
  "threatDetectionEnabled",
  "reconciling",
] as const;

/** Output-only fields of google.cloud.run.v2.Container (nested in the template). */
export const CONTAINER_OUTPUT_ONLY = ["buildInfo"] as const;

export interface Lineage {
  model: string;
  version: number;
  gitSha: string;
  contentSha256: string;
}

export interface RevisionTemplateInput {
  environment: EnvironmentConfig;
  image: string;
  revisionName: string;
  lineage: Lineage;
}

const INGRESS = {
  all: "INGRESS_TRAFFIC_ALL",
  internal: "INGRESS_TRAFFIC_INTERNAL_ONLY",
  "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
} as const;

/** Labels carry the lineage so the console and `gcloud run revisions list` show what is served. */
export function lineageLabels(environment: EnvironmentConfig, lineage: Lineage): Record<string, string> {
  return {
    ...environment.labels,
    "managed-by": "gitops-ml-pipeline",
    model: lineage.model.slice(0, 63),
    "model-version": String(lineage.version),
    "git-sha": lineage.gitSha.slice(0, 12),
    // A label value holds 63 characters: the first 16 hex digits identify the content well enough.
    "model-content": lineage.contentSha256.slice(0, 16),
  };
}

/** The revision template (google.cloud.run.v2.RevisionTemplate) in its JSON form. */
export function revisionTemplate(input: RevisionTemplateInput): Record<string, unknown> {
  const { environment: e, lineage } = input;
  const probe = (p: EnvironmentConfig["probes"]["startup"]) => ({
    ...(p.initial_delay_seconds > 0 ? { initialDelaySeconds: p.initial_delay_seconds } : {}),
    timeoutSeconds: p.timeout_seconds,
    periodSeconds: p.period_seconds,
    failureThreshold: p.failure_threshold,
    httpGet: { path: p.path, port: e.port },
  });
  const env = Object.entries(e.env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ({ name, value }));
  return {
    revision: input.revisionName,
    labels: lineageLabels(e, lineage),
    annotations: { "gitops-ml-pipeline/model-content-sha256": lineage.contentSha256, "gitops-ml-pipeline/git-sha": lineage.gitSha },
    scaling: { minInstanceCount: e.min_instances, maxInstanceCount: e.max_instances },
    timeout: `${e.timeout_seconds}s`,
    ...(e.service_account ? { serviceAccount: e.service_account } : {}),
    maxInstanceRequestConcurrency: e.concurrency,
    containers: [
      {
        name: "model-server",
        image: input.image,
        ports: [{ name: "http1", containerPort: e.port }],
        ...(env.length ? { env } : {}),
        resources: { limits: { cpu: e.cpu, memory: e.memory } },
        startupProbe: probe(e.probes.startup),
        livenessProbe: probe(e.probes.liveness),
      },
    ],
  };
}

/** A new service (first deploy): `name` is left out, Cloud Run takes it from serviceId. */
export function newServiceBody(environment: EnvironmentConfig, template: Record<string, unknown>, lineage: Lineage, traffic: unknown[]): Record<string, unknown> {
  return {
    labels: lineageLabels(environment, lineage),
    ingress: INGRESS[environment.ingress],
    template,
    traffic,
  };
}

/**
 * A fetched service turned back into a request body: output-only fields dropped, everything a person
 * set by hand (description, VPC access, custom audiences, ...) kept, the etag kept so that a change
 * made meanwhile makes the patch fail instead of being overwritten.
 */
export function updatableService(service: Service): Record<string, unknown> & { name: string } {
  const body: Record<string, unknown> = { ...service };
  for (const key of SERVICE_OUTPUT_ONLY) delete body[key];
  if (service.template) {
    const template = { ...service.template };
    if (Array.isArray(template.containers)) {
      template.containers = (template.containers as Record<string, unknown>[]).map((c) => {
        const copy = { ...c };
        for (const key of CONTAINER_OUTPUT_ONLY) delete copy[key];
        return copy;
      });
    }
    body.template = template;
  }
  return body as Record<string, unknown> & { name: string };
}

/** A template patch: the new revision, plus the environment's service-level settings and labels. */
export function withNewTemplate(service: Service, environment: EnvironmentConfig, template: Record<string, unknown>, lineage: Lineage, traffic: unknown[]): Record<string, unknown> & { name: string } {
  return { ...updatableService(service), labels: { ...(service.labels ?? {}), ...lineageLabels(environment, lineage) }, ingress: INGRESS[environment.ingress], template, traffic };
}

/**
 * Revision names must start with `<service>-` and be at most 63 characters. We choose it ourselves
 * so the new revision can be tagged in the same request that creates it.
 */
export function revisionNameFor(service: string, gitSha: string, suffix: string): string {
  const tail = `${gitSha.slice(0, 7)}-${suffix}`.toLowerCase().replace(/[^a-z0-9-]/g, "");
  return `${service}-${tail}`.slice(0, 63).replace(/-+$/, "");
}
