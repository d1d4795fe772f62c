import type { Reporter } from "../../core/reporter.js";
import { createOctokit, parseRepo, resolveToken, type PipelineOctokitInstance, type RepoRef } from "../../promote/github.js";
import type { MonitoringConfig } from "./config.js";

/** A workflow run as the monitoring endpoints show it (a subset of GitHub's workflow-run). */
export interface WorkflowRunSummary {
  id: number;
  run_number: number | null;
  status: string | null;
  conclusion: string | null;
  event: string | null;
  head_branch: string | null;
  head_sha: string | null;
  title: string | null;
  url: string;
  created_at: string | null;
  updated_at: string | null;
  run_started_at: string | null;
}

export interface DispatchResult {
  /** The new run, when GitHub returned its details (return_run_details); null on older servers. */
  run: { id: number; url: string; api_url: string } | null;
  /** The workflow's page of runs (always known). */
  workflow_url: string;
}

/** The GitHub operations of the monitoring routes; built over Octokit by `trainingWorkflow`. */
export interface TrainingWorkflow {
  readonly repo: RepoRef;
  readonly workflow: string;
  readonly ref: string;
  /** Most recent runs of the training workflow, newest first. */
  recentRuns(perPage?: number): Promise<WorkflowRunSummary[]>;
  /** workflow_dispatch of the training workflow on `ref`. */
  dispatch(inputs: Record<string, string>): Promise<DispatchResult>;
  /** repository_dispatch (e.g. `drift-detected`) with a small JSON payload. */
  repositoryDispatch(eventType: string, payload: Record<string, unknown>): Promise<void>;
}

/** Run statuses GitHub uses for a run that has not finished. */
export const ACTIVE_RUN_STATUSES: readonly string[] = ["queued", "in_progress", "waiting", "requested", "pending"];

export function isActiveRun(run: WorkflowRunSummary): boolean {
  return run.status !== null && ACTIVE_RUN_STATUSES.includes(run.status);
}

interface RawRun {
  id: number;
  run_number?: number;
  status?: string | null;
  conclusion?: string | null;
  event?: string;
  head_branch?: string | null;
  head_sha?: string;
  display_title?: string;
  name?: string | null;
  html_url: string;
  created_at?: string;
  updated_at?: string;
  run_started_at?: string;
}

function summarize(run: RawRun): WorkflowRunSummary {
  return {
    id: run.id,
    run_number: run.run_number ?? null,
    status: run.status ?? null,
    conclusion: run.conclusion ?? null,
    event: run.event ?? null,
    head_branch: run.head_branch ?? null,
    head_sha: run.head_sha ?? null,
    title: run.display_title ?? run.name ?? null,
    url: run.html_url,
    created_at: run.created_at ?? null,
    updated_at: run.updated_at ?? null,
    run_started_at: run.run_started_at ?? null,
  };
}

export function trainingWorkflow(octokit: PipelineOctokitInstance, repo: RepoRef, options: { workflow: string; ref: string; webUrl?: string }): TrainingWorkflow {
  const { owner, repo: name } = repo;
  const web = (options.webUrl ?? "https://github.com").replace(/\/$/, "");
  return {
    repo,
    workflow: options.workflow,
    ref: options.ref,
    async recentRuns(perPage = 20) {
      const { data } = await octokit.rest.actions.listWorkflowRuns({ owner, repo: name, workflow_id: options.workflow, per_page: perPage, exclude_pull_requests: true });
      return (data.workflow_runs as RawRun[]).map(summarize);
    },
    async dispatch(inputs) {
      // return_run_details asks GitHub for the new run's id and URL in the answer (200); servers
      // that do not know the flag answer 204 and the caller links the workflow's runs instead.
      const response = await octokit.rest.actions.createWorkflowDispatch({ owner, repo: name, workflow_id: options.workflow, ref: options.ref, inputs, return_run_details: true });
      const workflow_url = `${web}/${owner}/${name}/actions/workflows/${encodeURIComponent(options.workflow)}`;
      const data = ((response.status as number) === 200 ? (response.data as unknown) : null) as { workflow_run_id?: number; run_url?: string; html_url?: string } | null;
      if (data && typeof data.workflow_run_id === "number" && data.html_url) {
        return { run: { id: data.workflow_run_id, url: data.html_url, api_url: data.run_url ?? "" }, workflow_url };
      }
      return { run: null, workflow_url };
    },
    async repositoryDispatch(eventType, payload) {
      await octokit.rest.repos.createDispatchEvent({ owner, repo: name, event_type: eventType, client_payload: payload });
    },
  };
}

export type TrainingWorkflowFactory = () => TrainingWorkflow | null;

/**
 * The training workflow from the environment, as promote finds GitHub: the token from
 * `retrain.token_env` or PROMOTION_TOKEN / GH_TOKEN / GITHUB_TOKEN (masked through the reporter),
 * the repository from `retrain.repo` or GITHUB_REPOSITORY, the API base from GITHUB_API_URL.
 * Returns null (with the reason) when either is missing: the routes then answer 503.
 */
export function trainingWorkflowFromEnvironment(
  retrain: MonitoringConfig["retrain"],
  env: NodeJS.ProcessEnv = process.env,
  reporter?: Reporter,
): { workflow: TrainingWorkflow | null; reason: string | null } {
  const token = resolveToken(env, retrain.token_env);
  const repoSpec = retrain.repo ?? env.GITHUB_REPOSITORY;
  if (!token) return { workflow: null, reason: `no GitHub token (${retrain.token_env ?? "PROMOTION_TOKEN, GH_TOKEN or GITHUB_TOKEN"})` };
  if (!repoSpec) return { workflow: null, reason: "no repository (monitoring.retrain.repo or GITHUB_REPOSITORY)" };
  reporter?.secret(token.value);
  const octokit = createOctokit({ token: token.value, baseUrl: env.GITHUB_API_URL, ...(reporter ? { reporter } : {}) });
  return { workflow: trainingWorkflow(octokit, parseRepo(repoSpec), { workflow: retrain.workflow, ref: retrain.ref, ...(env.GITHUB_SERVER_URL ? { webUrl: env.GITHUB_SERVER_URL } : {}) }), reason: null };
}
