import { randomBytes } from "node:crypto";
import type { EnvironmentConfig } from "../config/schema.js";
import { PipelineError, UsageError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { runCanaryStep, type CanaryStepResult, type MetricsEndpoint } from "./canary.js";
import type { RevisionWindow } from "./canary-analysis.js";
import type { Clock } from "./clock.js";
import type { CloudRunApi } from "./cloud-run-api.js";
import { revisionResourceName, serviceParent, serviceResourceName, type Operation, type Service, type ServiceName, type TrafficTarget } from "./cloud-run-types.js";
import { DeployStepError, revisionFailure, waitForOperation, waitForRevisionReady } from "./operations.js";
import type { DeployResult } from "./result.js";
import { newServiceBody, revisionNameFor, revisionTemplate, updatableService, withNewTemplate, type Lineage } from "./service-spec.js";
import { smokeTest, type SmokeCase, type SmokeResult } from "./smoke.js";
import { canaryTargets, describeSplit, finalTargets, recordTraffic, resolvedSplit, restoreTargets, sameSplit, tagUrl, target, type RecordedTraffic, type TrafficEntry } from "./traffic.js";

/**
 * Progressive delivery to Cloud Run, which no Cloud Run action offers:
 * 1. record the serving revision and the exact traffic split;
 * 2. deploy the new revision with no traffic under a revision tag (a first deploy takes 100%:
 *    Cloud Run cannot create a service without traffic);
 * 3. wait on the operation and the revision's Ready condition, failing with its reason;
 * 4. smoke-test the tag URL;
 * 5. move traffic through the canary steps, judging each from both revisions' /metrics;
 * 6. on any failure restore the recorded split exactly and report why.
 */

export interface CloudRunDeployInput {
  environmentName: string;
  environment: EnvironmentConfig;
  /** The image, pinned by digest. */
  image: string;
  model: { name: string; version: number; contentSha256: string };
  gitSha: string;
  /** Deploy under this tag with no traffic and stop after the smoke test. */
  previewTag?: string;
  smokeCases: SmokeCase[];
  api: CloudRunApi;
  /** For the service itself (smoke test, /metrics). */
  fetch: typeof fetch;
  clock: Clock;
  reporter: Reporter;
  /** Authentication for calls to the deployed service. */
  invokerHeaders?: (audience: string) => Promise<Record<string, string>>;
  /** Revision name suffix (random by default; tests pin it). */
  revisionSuffix?: string;
}

const TAG_RE = /^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$/;
/** The tag the deploy gives the stable revision when it has none, to read its /metrics. */
export const STABLE_TAG = "stable";

export function defaultTag(version: number, gitSha: string): string {
  return `v${version}-${gitSha.slice(0, 7)}`;
}

class Failure extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

export async function deployCloudRun(input: CloudRunDeployInput): Promise<DeployResult> {
  const { environment: env, api, clock, reporter } = input;
  if (!env.project) throw new UsageError(`environments.${input.environmentName}.project: a Google Cloud project is required for a Cloud Run deploy`);
  if (!/@sha256:[0-9a-f]{64}$/.test(input.image)) {
    throw new UsageError(`--image ${input.image}: pin the image by digest (REPO@sha256:...; build-image outputs it), so every revision of this deploy runs exactly the image that was built and tested`);
  }
  const tag = input.previewTag ?? defaultTag(input.model.version, input.gitSha);
  if (!TAG_RE.test(tag)) throw new UsageError(`tag "${tag}": lowercase letters, digits and hyphens, starting with a letter, at most 46 characters`);
  if (tag === STABLE_TAG) throw new UsageError(`tag "${STABLE_TAG}" is reserved for the stable revision during a canary`);
  const names: ServiceName = { project: env.project, region: env.region, service: env.service };
  const serviceName = serviceResourceName(names);
  const revision = revisionNameFor(env.service, input.gitSha, input.revisionSuffix ?? randomBytes(3).toString("hex").slice(0, 5));
  const lineage: Lineage = { model: input.model.name, version: input.model.version, gitSha: input.gitSha, contentSha256: input.model.contentSha256 };
  const template = revisionTemplate({ environment: env, image: input.image, revisionName: revision, lineage });
  const opTimeoutMs = env.operation_timeout_seconds * 1000;
  const startedAt = clock.now();
  const steps: CanaryStepResult[] = [];
  let smoke: SmokeResult | null = null;

  const result = (fields: Partial<DeployResult> & Pick<DeployResult, "outcome" | "finalSplit" | "previousSplit" | "firstDeploy">, service: Service | null): DeployResult => ({
    environment: input.environmentName,
    target: "cloud-run",
    model: input.model,
    image: input.image,
    revision,
    serviceUrl: service?.uri ?? "",
    tagUrl: (service && tagUrl(service, tag)) ?? "",
    tag,
    smoke,
    steps,
    apiRetries: api.retried,
    ...fields,
    timings: { startedAt, finishedAt: clock.now(), ...(fields.timings ?? {}) },
  });

  const headersFor = async (url: string) => (input.invokerHeaders ? await input.invokerHeaders(url) : {});
  const runSmoke = async (service: Service): Promise<SmokeResult> => {
    const url = tagUrl(service, tag);
    if (!url) throw new PipelineError(`Cloud Run gave no URL for tag ${tag} (trafficStatuses: ${JSON.stringify(service.trafficStatuses ?? [])})`, 1);
    reporter.info(`smoke-testing ${revision} at ${url}`);
    return smokeTest({
      url,
      settings: env.smoke,
      cases: input.smokeCases,
      expectedVersion: String(input.model.version),
      expectedContentSha256: input.model.contentSha256,
      fetch: input.fetch,
      clock,
      reporter,
      headers: await headersFor(service.uri ?? url),
    });
  };
  /** The operation, then the revision's Ready condition; a failed operation is explained by the revision's reason. */
  const waitDeployed = async (op: Operation, what: string) => {
    const deadline = clock.now() + opTimeoutMs;
    try {
      await waitForOperation(api, op, deadline, clock, what);
    } catch (error) {
      if (!(error instanceof DeployStepError) || /did not finish in time/.test(error.message)) throw error;
      const failure = revisionFailure(await api.getRevision(revisionResourceName(names, revision)).catch(() => null));
      throw failure ? new DeployStepError(`revision ${revision} is not ready: ${failure}`) : error;
    }
    await waitForRevisionReady(api, revisionResourceName(names, revision), deadline, clock);
    reporter.info(`revision ${revision} is ready`);
  };

  let existing = await api.getService(serviceName);
  if (existing?.reconciling) existing = await waitUntilSettled(api, serviceName, clock.now() + opTimeoutMs, clock);

  // A first deploy, or a service that never had a ready revision: nothing serves, nothing to restore.
  const recorded = existing ? recordTraffic(existing) : null;
  if (!existing || !recorded) {
    if (input.previewTag) throw new UsageError(`--preview ${tag}: ${env.service} serves no revision yet, and Cloud Run cannot create a service without traffic; deploy it once first`);
    reporter.info(existing ? `${env.service} serves no ready revision: deploying ${revision} with 100% of traffic` : `first deploy: creating ${env.service} in ${env.project}/${env.region} with ${revision} taking 100% of traffic`);
    const traffic: TrafficTarget[] = [target(revision, 100, tag)];
    try {
      const op = existing
        ? await api.updateService(withNewTemplate(existing, env, template, lineage, traffic))
        : await api.createService(serviceParent(names), env.service, newServiceBody(env, template, lineage, traffic));
      await waitDeployed(op, existing ? `updating ${env.service}` : `creating ${env.service}`);
    } catch (error) {
      if (!(error instanceof PipelineError) || error instanceof UsageError) throw error;
      const service = await api.getService(serviceName).catch(() => null);
      return result({ outcome: "failed", reason: error.message, firstDeploy: !existing, previousSplit: null, finalSplit: resolvedSplit(service?.trafficStatuses), timings: { failedAt: clock.now(), startedAt, finishedAt: clock.now() } }, service);
    }
    const fullTrafficAt = clock.now();
    const service = (await api.getService(serviceName))!;
    smoke = await runSmoke(service);
    const finalSplit = resolvedSplit(service.trafficStatuses);
    if (!smoke.passed) {
      return result({ outcome: "failed", reason: `${smoke.reason} (first deploy: there is no earlier revision to restore, ${revision} keeps its traffic)`, firstDeploy: !existing, previousSplit: null, finalSplit, timings: { fullTrafficAt, failedAt: clock.now(), startedAt, finishedAt: clock.now() } }, service);
    }
    return result({ outcome: "deployed", firstDeploy: !existing, previousSplit: null, finalSplit, timings: { fullTrafficAt, startedAt, finishedAt: clock.now() } }, service);
  }

  reporter.info(`${env.service} serves ${describeSplit(recorded.split)}; stable revision ${recorded.stable}`);
  // Previews leave the serving side alone; a canary tags the stable revision to read its /metrics.
  const stableTag = input.previewTag ? undefined : (recorded.stableTag ?? STABLE_TAG);
  let trafficMoved = false;
  let lastService: Service = existing;

  const restore = async (failure: Failure): Promise<DeployResult> => {
    reporter.error(`deploy of ${revision} failed: ${failure.message}; restoring ${describeSplit(recorded.split)}`);
    const current = (await api.getService(serviceName)) ?? lastService;
    let service = current;
    if (!sameSplit(resolvedSplit(current.trafficStatuses), recorded.split)) {
      const op = await api.updateService({ ...updatableService(current), traffic: restoreTargets(recorded) });
      await waitForOperation(api, op, clock.now() + opTimeoutMs, clock, "restoring the traffic split");
      service = (await api.getService(serviceName))!;
    }
    const restoredAt = clock.now();
    const finalSplit = resolvedSplit(service.trafficStatuses);
    if (!sameSplit(finalSplit, recorded.split)) {
      throw new PipelineError(`${failure.message}; AND the traffic split could not be restored: it is ${describeSplit(finalSplit)}, expected ${describeSplit(recorded.split)}. Restore it by hand (gcloud run services update-traffic ${env.service}).`, 1);
    }
    reporter.info(`traffic restored: ${describeSplit(finalSplit)}`);
    return result(
      { outcome: trafficMoved ? "rolled_back" : "failed", reason: failure.message, firstDeploy: false, previousSplit: recorded.split, finalSplit, timings: { failedAt: failure.at, restoredAt, startedAt, finishedAt: clock.now() } },
      service,
    );
  };

  const moveTraffic = async (traffic: TrafficTarget[], what: string): Promise<Service> => {
    const current = (await api.getService(serviceName))!;
    const op = await api.updateService({ ...updatableService(current), traffic });
    await waitForOperation(api, op, clock.now() + opTimeoutMs, clock, what);
    const service = (await api.getService(serviceName))!;
    lastService = service;
    return service;
  };

  try {
    reporter.info(`deploying ${revision} (${input.image}) with no traffic under tag ${tag}`);
    const op = await api.updateService(withNewTemplate(existing, env, template, lineage, canaryTargets(recorded, { revision, tag, percent: 0, stableTag })));
    await waitDeployed(op, `deploying ${revision}`);
    lastService = (await api.getService(serviceName))!;
    const split = resolvedSplit(lastService.trafficStatuses).filter((e) => e.percent > 0);
    if (!sameSplit(split, recorded.split.filter((e) => e.percent > 0))) throw new Failure(`traffic changed while deploying with no traffic: ${describeSplit(split)}`, clock.now());
    smoke = await runSmoke(lastService);
    if (!smoke.passed) throw new Failure(smoke.reason!, clock.now());
    if (input.previewTag) {
      return result({ outcome: "preview", firstDeploy: false, previousSplit: recorded.split, finalSplit: resolvedSplit(lastService.trafficStatuses), timings: { startedAt, finishedAt: clock.now() } }, lastService);
    }

    const single = env.canary_steps.length === 1;
    let stableReference: RevisionWindow | null = null;
    let fullTrafficAt: number | undefined;
    for (const percent of env.canary_steps) {
      const traffic = percent >= 100 ? finalTargets(recorded, { revision, tag, stableTag: stableTag! }) : canaryTargets(recorded, { revision, tag, percent, stableTag });
      reporter.info(`canary: ${revision} → ${percent}%`);
      trafficMoved = true;
      const service = await moveTraffic(traffic, `moving ${percent}% of traffic to ${revision}`);
      const served = resolvedSplit(service.trafficStatuses).find((e) => e.revision === revision && e.percent > 0);
      if ((served?.percent ?? 0) !== percent) throw new Failure(`Cloud Run reports ${served?.percent ?? 0}% on ${revision}, expected ${percent}%`, clock.now());
      if (percent >= 100) fullTrafficAt = clock.now();
      // A single step of 100 is a plain switch after the smoke test: there is no stable side to compare with.
      if (single) break;
      const canaryUrl = tagUrl(service, tag)!;
      const stableUrl = percent < 100 ? tagUrl(service, stableTag!) : undefined;
      const canaryEndpoint: MetricsEndpoint = { url: canaryUrl, headers: await headersFor(service.uri ?? canaryUrl) };
      const stableEndpoint: MetricsEndpoint | null = stableUrl ? { url: stableUrl, headers: await headersFor(service.uri ?? stableUrl) } : null;
      const step = await runCanaryStep({ percent, canary: canaryEndpoint, stable: stableEndpoint, stableReference, settings: env.canary, fetch: input.fetch, clock, reporter });
      steps.push(step);
      if (step.stableWindow && step.stableWindow.requests > 0) stableReference = step.stableWindow;
      if (!step.judgement.passed) throw new Failure(`canary at ${percent}%: ${step.judgement.reason}`, step.decidedAt);
    }
    return result({ outcome: "deployed", firstDeploy: false, previousSplit: recorded.split, finalSplit: resolvedSplit(lastService.trafficStatuses), timings: { fullTrafficAt, startedAt, finishedAt: clock.now() } }, lastService);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof Failure) return restore(error);
    if (error instanceof PipelineError) return restore(new Failure(error.message, clock.now()));
    throw error;
  }
}

/** Another change is still rolling out: wait for it instead of racing it. */
async function waitUntilSettled(api: CloudRunApi, name: string, deadline: number, clock: Clock): Promise<Service> {
  while (true) {
    const service = await api.getService(name);
    if (!service) throw new PipelineError(`${name} disappeared while waiting for it to settle`, 1);
    if (!service.reconciling) return service;
    if (clock.now() >= deadline) throw new PipelineError(`${name} is still reconciling another change; try again when it has finished`, 1);
    await clock.sleep(1000);
  }
}

export type { RecordedTraffic, TrafficEntry };
