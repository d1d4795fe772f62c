import type { PipelineConfig } from "../config/schema.js";
import { UsageError, PipelineError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { googleCredentials, type GoogleCredentials } from "./auth.js";
import { systemClock, type Clock } from "./clock.js";
import { CloudRunApi, type RetryPolicy } from "./cloud-run-api.js";
import { serviceResourceName } from "./cloud-run-types.js";
import { deployCloudRun } from "./cloud-run-deploy.js";
import { deployLocal, type LocalDeployment } from "./local.js";
import { resolveDeployModel, smokeCases } from "./model-ref.js";
import { deploymentRecordOf } from "./record.js";
import { recordDeployment } from "../registry/deployments.js";
import type { DeployResult } from "./result.js";
import { deployMarkdown, toResultFile, writeDeployResult, type DeployResultFile } from "./result-file.js";
import { waitForOperation } from "./operations.js";
import { updatableService } from "./service-spec.js";

export type { DeployResult } from "./result.js";
export type { DeployResultFile } from "./result-file.js";

/** `pipeline deploy`: one function behind the CLI, the action and the tests. */
export interface DeployInput {
  config: PipelineConfig;
  root: string;
  /** A key of `environments` in the config. */
  environment: string;
  /** The image, pinned by digest (required for Cloud Run; optional for local). */
  image?: string;
  /** `production` (default), `name@vN`, or a model.json path. */
  model?: string;
  /** Deploy under this tag with no traffic, smoke-test, stop. */
  previewTag?: string;
  gitSha: string | null;
  /** Record the deployment in models/registry.yaml (Cloud Run, not previews). */
  record?: boolean;
  /** Write the JSON result here. */
  resultPath?: string;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  clock?: Clock;
  reporter: Reporter;
  credentials?: GoogleCredentials;
  workloadIdentityProvider?: string;
  serviceAccount?: string;
  retry?: RetryPolicy;
  revisionSuffix?: string;
  /** Local target: how to start the CLI, and whether to skip buildah. */
  cliCommand?: string[];
  forceProcess?: boolean;
}

export interface DeployOutput {
  result: DeployResult;
  file: DeployResultFile;
  /** The local target's running server; null for Cloud Run. */
  local: LocalDeployment | null;
}

export function environmentOf(config: PipelineConfig, name: string) {
  const environment = config.environments[name];
  if (!environment) throw new UsageError(`--env ${name}: no environments.${name} in the config (known: ${Object.keys(config.environments).join(", ") || "none"})`);
  return environment;
}

export function cloudRunApi(input: { env: NodeJS.ProcessEnv; credentials: GoogleCredentials; fetch?: typeof fetch; clock: Clock; reporter: Reporter; retry?: RetryPolicy }): CloudRunApi {
  return new CloudRunApi({ apiUrl: input.env.CLOUD_RUN_API_URL || undefined, token: input.credentials.accessToken, fetch: input.fetch, clock: input.clock, reporter: input.reporter, retry: input.retry });
}

export async function deploy(input: DeployInput): Promise<DeployOutput> {
  const env = input.env ?? process.env;
  const clock = input.clock ?? systemClock;
  const fetchImpl = input.fetch ?? fetch;
  const { reporter } = input;
  const environment = environmentOf(input.config, input.environment);
  const model = await resolveDeployModel(input.model ?? "production", input.root, input.config);
  const cases = await smokeCases(model, input.config, environment.smoke.rows_file, input.root);
  reporter.info(`deploy ${model.name}@v${model.version} (content ${model.contentSha256.slice(0, 12)}) to ${input.environment} (${environment.target})`);
  let result: DeployResult;
  let local: LocalDeployment | null = null;
  if (environment.target === "local") {
    if (input.previewTag) throw new UsageError("--preview applies to Cloud Run environments, not the local target");
    local = await deployLocal({ environmentName: input.environment, environment, root: input.root, model, image: input.image, smokeCases: cases, fetch: fetchImpl, clock, reporter, cliCommand: input.cliCommand, forceProcess: input.forceProcess });
    result = local.result;
  } else {
    if (!input.image) throw new UsageError("--image is required for a Cloud Run deploy (REPO@sha256:..., as build-image outputs it)");
    if (!input.gitSha) throw new UsageError("the git sha of the deployed commit is unknown (not a git checkout and GITHUB_SHA is unset)");
    const credentials = input.credentials ?? googleCredentials({ env, workloadIdentityProvider: input.workloadIdentityProvider, serviceAccount: input.serviceAccount, reporter });
    const api = cloudRunApi({ env, credentials, fetch: input.fetch, clock, reporter, retry: input.retry });
    result = await deployCloudRun({
      environmentName: input.environment,
      environment,
      image: input.image,
      model: { name: model.name, version: model.version, contentSha256: model.contentSha256 },
      gitSha: input.gitSha,
      previewTag: input.previewTag,
      smokeCases: cases,
      api,
      fetch: fetchImpl,
      clock,
      reporter,
      invokerHeaders: (audience) => credentials.invokerHeaders(audience),
      revisionSuffix: input.revisionSuffix,
    });
  }
  const file = toResultFile(result, input.gitSha);
  if (input.resultPath) await writeDeployResult(input.resultPath, file);
  reporter.summary(deployMarkdown(file));
  reporter.output("revision", file.revision);
  reporter.output("service-url", file.service_url);
  reporter.output("tag-url", file.tag_url);
  reporter.output("status", file.status);
  reporter.output("canary", file.canary.steps.length === 0 ? "none" : file.canary.passed ? "passed" : `failed at ${file.canary.failed_at ?? "?"}%`);
  if (input.resultPath) reporter.output("result", input.resultPath);
  if (input.record && environment.target === "cloud-run") {
    const record = deploymentRecordOf(file, reporter);
    if (record) {
      await recordDeployment(input.root, record);
      reporter.info(`registry: recorded ${record.deployment.status} deployment of ${model.name}@v${model.version} in ${input.environment}`);
    }
  }
  if (result.outcome === "deployed") reporter.info(`deployed ${result.revision}: ${result.serviceUrl} (tag ${result.tagUrl})`);
  else if (result.outcome === "preview") reporter.info(`preview ${result.revision} at ${result.tagUrl} (no traffic)`);
  else reporter.error(`deploy ${result.outcome.replace("_", " ")}: ${result.reason ?? "unknown reason"}`);
  return { result, file, local };
}

/** Removes a preview tag (the pull request closed). A tag that serves traffic is refused, never silently moved. */
export async function removePreview(input: { config: PipelineConfig; environment: string; tag: string; env?: NodeJS.ProcessEnv; fetch?: typeof fetch; clock?: Clock; reporter: Reporter; credentials?: GoogleCredentials; workloadIdentityProvider?: string; serviceAccount?: string; retry?: RetryPolicy }): Promise<boolean> {
  const env = input.env ?? process.env;
  const clock = input.clock ?? systemClock;
  const environment = environmentOf(input.config, input.environment);
  if (environment.target !== "cloud-run" || !environment.project) throw new UsageError(`--remove-preview: environments.${input.environment} is not a Cloud Run environment with a project`);
  const credentials = input.credentials ?? googleCredentials({ env, workloadIdentityProvider: input.workloadIdentityProvider, serviceAccount: input.serviceAccount, reporter: input.reporter });
  const api = cloudRunApi({ env, credentials, fetch: input.fetch, clock, reporter: input.reporter, retry: input.retry });
  const name = serviceResourceName({ project: environment.project, region: environment.region, service: environment.service });
  const service = await api.getService(name);
  const entry = service?.traffic?.find((t) => t.tag === input.tag);
  if (!service || !entry) {
    input.reporter.info(`preview tag ${input.tag}: not on ${environment.service}; nothing to remove`);
    return false;
  }
  if ((entry.percent ?? 0) > 0) throw new PipelineError(`preview tag ${input.tag} serves ${entry.percent}% of traffic on ${environment.service}; refusing to remove it`, 1);
  const traffic = (service.traffic ?? []).filter((t) => t !== entry);
  const op = await api.updateService({ ...updatableService(service), traffic });
  await waitForOperation(api, op, clock.now() + environment.operation_timeout_seconds * 1000, clock, `removing tag ${input.tag}`);
  input.reporter.info(`preview tag ${input.tag} removed from ${environment.service}`);
  return true;
}
