import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { z } from "zod";
import type { PipelineConfig } from "../config/schema.js";
import { UsageError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { readMetricsView } from "../promote/metrics-view.js";
import type { ModelVersion, Registry } from "../registry/schema.js";
import { readRegistry } from "../registry/store.js";
import { NotificationInputSchema, type CanaryResult, type NotificationInput, type NotificationStage, type NotificationStatus } from "./message.js";

/**
 * Builds the notification's content from what a workflow step has at hand: its flags or inputs,
 * the GitHub environment (run, commit, actor), the registry (the version, its metrics and the
 * previous production's) and the deploy step's result file. A notification is the last step of a
 * run that may have failed anywhere, so missing or unreadable sources are warnings, not errors: the
 * message goes out with what is known.
 */
export interface NotifyRequest {
  status?: NotificationStatus;
  stage?: NotificationStage;
  model?: string;
  version?: number;
  /** metrics.json, model.json, a validate-model report, or a plain { metric: number } object. */
  metricsPath?: string;
  /** The version to compare with; default: the previous production (see previousProduction). */
  compareWith?: number | "none";
  environment?: string;
  revision?: string;
  serviceUrl?: string;
  /** A pull request URL or number. */
  pullRequest?: string;
  runUrl?: string;
  reason?: string;
  commit?: string;
  actor?: string;
  /** The deploy step's JSON result (see DeployResultSchema for what is read). */
  deployResultPath?: string;
}

/**
 * The deploy result as far as a notification needs it. Lenient on purpose (snake or camel case,
 * a few synonyms), because the deploy step's full result evolves on its own; anything else in the
 * file is ignored.
 */
export const DeployResultSchema = z
  .object({
    status: z.string().optional(),
    result: z.string().optional(),
    /** pipeline/deploy's DeployResult: deployed, preview, rolled_back or failed. */
    outcome: z.string().optional(),
    environment: z.string().optional(),
    model: z.union([z.string(), z.object({ name: z.string().optional(), version: z.number().optional() }).loose()]).optional(),
    version: z.number().optional(),
    revision: z.string().optional(),
    revision_name: z.string().optional(),
    revisionName: z.string().optional(),
    service_url: z.string().optional(),
    serviceUrl: z.string().optional(),
    url: z.string().optional(),
    reason: z.string().optional(),
    error: z.union([z.string(), z.object({ message: z.string() }).loose()]).optional(),
    rolled_back: z.boolean().optional(),
    rolledBack: z.boolean().optional(),
    /** pipeline/deploy's canary steps: { percent, judgement: { passed, reason } }. */
    steps: z.array(z.object({ percent: z.number(), judgement: z.object({ passed: z.boolean(), reason: z.string().optional() }).loose().optional(), passed: z.boolean().optional(), reason: z.string().optional() }).loose()).optional(),
    canary: z
      .object({
        passed: z.boolean().optional(),
        status: z.string().optional(),
        steps: z.array(z.union([z.number(), z.object({ percent: z.number(), passed: z.boolean().optional(), reason: z.string().optional() }).loose()])).optional(),
        failed_at: z.number().optional(),
        failedAt: z.number().optional(),
        reason: z.string().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
export type DeployResult = z.infer<typeof DeployResultSchema>;

export interface DeployFacts {
  status?: NotificationStatus;
  environment?: string;
  model?: string;
  version?: number;
  revision?: string;
  serviceUrl?: string;
  reason?: string;
  canary?: CanaryResult;
}

export function deployFacts(result: DeployResult): DeployFacts {
  const raw = (result.outcome ?? result.status ?? result.result ?? "").toLowerCase();
  const rolledBack = result.rolled_back ?? result.rolledBack ?? false;
  const status: NotificationStatus | undefined = rolledBack || /roll/.test(raw) ? "rollback" : /^(succeeded|success|ok|passed|deployed|preview)$/.test(raw) ? "success" : /fail|error/.test(raw) ? "failure" : undefined;
  const facts: DeployFacts = { status };
  facts.environment = result.environment;
  if (typeof result.model === "string") facts.model = result.model;
  else if (result.model) {
    facts.model = result.model.name;
    facts.version = result.model.version;
  }
  facts.version = result.version ?? facts.version;
  facts.revision = result.revision ?? result.revision_name ?? result.revisionName;
  facts.serviceUrl = result.service_url ?? result.serviceUrl ?? result.url;
  facts.reason = result.reason ?? (typeof result.error === "string" ? result.error : result.error?.message);
  // pipeline/deploy writes its steps at the top level; other producers nest them under `canary`.
  const c: DeployResult["canary"] = result.canary ?? (result.steps?.length ? { steps: result.steps.map((s) => ({ percent: s.percent, passed: s.judgement?.passed ?? s.passed, reason: s.judgement?.reason ?? s.reason })) } : undefined);
  if (c) {
    const steps = (c.steps ?? []).map((s) => (typeof s === "number" ? s : s.percent));
    const failedStep = (c.steps ?? []).find((s): s is { percent: number; passed?: boolean; reason?: string } => typeof s !== "number" && s.passed === false);
    const passed = c.passed ?? (c.status ? /^(passed|succeeded|success|ok)$/i.test(c.status) : failedStep === undefined);
    facts.canary = {
      passed,
      steps,
      ...((c.failed_at ?? c.failedAt ?? failedStep?.percent) !== undefined ? { failed_at: c.failed_at ?? c.failedAt ?? failedStep?.percent } : {}),
      ...((c.reason ?? failedStep?.reason) ? { reason: c.reason ?? failedStep?.reason } : {}),
    };
  }
  return facts;
}

/**
 * The production version this one is compared with. While a candidate is proposed (train), that is
 * the current production. Once it is production itself (after the merge, at deploy time), it is the
 * newest lower version that was archived, which is what the promotion did to the old production.
 */
export function previousProduction(registry: Registry, name: string, version: number | undefined): ModelVersion | undefined {
  const versions = registry.models[name]?.versions ?? [];
  const production = versions.find((v) => v.tags.includes("production"));
  if (production && production.version !== version) return production;
  if (version === undefined) return undefined;
  return versions.filter((v) => v.version < version && v.tags.includes("archived")).sort((a, b) => b.version - a.version)[0];
}

/** GitHub's default environment of a job, for links and lineage. */
export function gitHubLinks(env: NodeJS.ProcessEnv): { server: string | undefined; repository: string | undefined; run: string | undefined; commit: string | undefined; actor: string | undefined } {
  const server = (env.GITHUB_SERVER_URL || (env.GITHUB_REPOSITORY ? "https://github.com" : undefined))?.replace(/\/+$/, "");
  const repository = env.GITHUB_REPOSITORY || undefined;
  const runId = env.GITHUB_RUN_ID;
  const attempt = env.GITHUB_RUN_ATTEMPT && env.GITHUB_RUN_ATTEMPT !== "1" ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : "";
  return {
    server,
    repository,
    run: server && repository && runId ? `${server}/${repository}/actions/runs/${runId}${attempt}` : undefined,
    commit: env.GITHUB_SHA || undefined,
    actor: env.GITHUB_TRIGGERING_ACTOR || env.GITHUB_ACTOR || undefined,
  };
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, "utf8"));
}

export interface BuildInputOptions {
  request: NotifyRequest;
  config: PipelineConfig;
  root: string;
  env: NodeJS.ProcessEnv;
  reporter: Reporter;
  /** Already read (tests, or a caller that has it); otherwise read from root. */
  registry?: Registry;
}

export async function buildNotificationInput(options: BuildInputOptions): Promise<NotificationInput> {
  const { request, root, env, reporter } = options;
  let facts: DeployFacts = {};
  if (request.deployResultPath) {
    const path = resolve(root, request.deployResultPath);
    try {
      const parsed = DeployResultSchema.safeParse(await readJson(path));
      if (parsed.success) facts = deployFacts(parsed.data);
      else reporter.warning(`${request.deployResultPath}: not a deploy result (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}); notifying without it`);
    } catch (error) {
      reporter.warning(`${request.deployResultPath}: cannot read the deploy result (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); notifying without it`);
    }
  }

  // A rollback is more precise than the job's "failure": the deploy result knows which it was.
  let status = request.status ?? facts.status;
  if (status === "failure" && facts.status === "rollback") status = "rollback";
  if (!status) throw new UsageError(`no status: pass --status (success, failure, rollback or nothing_to_promote) or a deploy result with one`);

  const model = request.model ?? facts.model ?? options.config.model.name;
  let registry = options.registry;
  if (!registry) {
    try {
      registry = await readRegistry(root);
    } catch (error) {
      reporter.warning(`registry unreadable, notifying without metrics: ${(error as Error).message}`);
    }
  }
  const versions = registry?.models[model]?.versions ?? [];
  const stage = request.stage ?? "deploy";
  let version = request.version ?? facts.version;
  // At deploy time the version is the one in production unless said otherwise.
  if (version === undefined && stage === "deploy") version = versions.find((v) => v.tags.includes("production"))?.version;
  const entry = versions.find((v) => v.version === version);

  let metrics: Record<string, number> = entry?.metrics ?? {};
  if (request.metricsPath) {
    try {
      const view = readMetricsView([await readJson(resolve(root, request.metricsPath))], []);
      metrics = view.scalars;
    } catch (error) {
      reporter.warning(`${request.metricsPath}: cannot read metrics (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); notifying without them`);
    }
  }

  let previous: NotificationInput["previous"];
  if (request.compareWith !== "none" && registry) {
    const prev = typeof request.compareWith === "number" ? versions.find((v) => v.version === request.compareWith) : previousProduction(registry, model, version);
    if (typeof request.compareWith === "number" && !prev) reporter.warning(`${model} has no version v${request.compareWith} to compare with`);
    if (prev) previous = { version: prev.version, metrics: prev.metrics };
  }

  const gh = gitHubLinks(env);
  const commit = request.commit ?? gh.commit;
  const pr = request.pullRequest;
  const prUrl = pr === undefined ? undefined : /^\d+$/.test(pr) ? (gh.server && gh.repository ? `${gh.server}/${gh.repository}/pull/${pr}` : undefined) : pr;
  if (pr !== undefined && prUrl === undefined) reporter.warning(`pull request #${pr}: no GITHUB_REPOSITORY to link it to`);

  const candidate = {
    status,
    stage,
    model,
    ...(version !== undefined ? { version } : {}),
    metrics,
    ...(previous ? { previous } : {}),
    ...(request.environment ?? facts.environment ? { environment: request.environment ?? facts.environment } : {}),
    ...(request.revision ?? facts.revision ? { revision: request.revision ?? facts.revision } : {}),
    ...(facts.canary ? { canary: facts.canary } : {}),
    ...(request.reason ?? facts.reason ? { reason: request.reason ?? facts.reason } : {}),
    links: {
      ...(request.runUrl ?? gh.run ? { run: request.runUrl ?? gh.run } : {}),
      ...(prUrl ? { pull_request: prUrl } : {}),
      ...(request.serviceUrl ?? facts.serviceUrl ? { service: request.serviceUrl ?? facts.serviceUrl } : {}),
      ...(commit && gh.server && gh.repository ? { commit: `${gh.server}/${gh.repository}/commit/${commit}` } : {}),
    },
    ...(commit ? { commit } : {}),
    ...(request.actor ?? gh.actor ? { actor: request.actor ?? gh.actor } : {}),
    ...(options.config.notifications.slack?.mention_on_failure ? { mention: options.config.notifications.slack.mention_on_failure } : {}),
  };
  const parsed = NotificationInputSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`notification: ${issue.path.join(".") || "(input)"}: ${issue.message}`);
  }
  return parsed.data;
}
