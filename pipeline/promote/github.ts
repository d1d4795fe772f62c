import { Octokit } from "@octokit/rest";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { PipelineError, UsageError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";

export type TokenKind = "app" | "pat" | "github_token";

export interface GitHubToken {
  value: string;
  kind: TokenKind;
}

export interface RepoRef {
  owner: string;
  repo: string;
}

export interface PullRequestRef {
  number: number;
  url: string;
  head: string;
  title: string;
}

/** The GitHub operations a promotion needs; tests substitute the transport, never this shape. */
export interface GitHubClient {
  findOpenPullRequest(headPrefix: string, base: string): Promise<PullRequestRef | null>;
  createPullRequest(input: { title: string; body: string; head: string; base: string }): Promise<PullRequestRef>;
  updatePullRequest(number: number, input: { title: string; body: string }): Promise<void>;
  closePullRequest(number: number, comment: string): Promise<void>;
  addLabels(number: number, labels: string[]): Promise<void>;
  requestReviewers(number: number, reviewers: string[]): Promise<void>;
}

const PipelineOctokit = Octokit.plugin(retry, throttling);
export type PipelineOctokitInstance = InstanceType<typeof PipelineOctokit>;

export interface OctokitOptions {
  token?: string;
  baseUrl?: string;
  reporter?: Reporter;
  /** Base of the retry back-off in ms (retry n waits n² × this); tests shrink it. */
  retryAfterBaseValue?: number;
  retries?: number;
  /** Throttling spaces writes about a second apart, as GitHub asks; tests may switch it off. */
  throttle?: boolean;
}

/**
 * Octokit with GitHub's recommended behaviour: retry on 5xx (plugin-retry) and wait out primary and
 * secondary rate limits (plugin-throttling), retrying a limited number of times.
 */
export function createOctokit(options: OctokitOptions = {}): PipelineOctokitInstance {
  const reporter = options.reporter;
  return new PipelineOctokit({
    auth: options.token,
    baseUrl: options.baseUrl ?? "https://api.github.com",
    userAgent: "gitops-ml-pipeline",
    retry: { retries: options.retries ?? 3, ...(options.retryAfterBaseValue !== undefined ? { retryAfterBaseValue: options.retryAfterBaseValue } : {}) },
    throttle: {
      enabled: options.throttle ?? true,
      onRateLimit: (retryAfter: number, opts: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        reporter?.warning(`GitHub rate limit hit for ${opts.method} ${opts.url}; retrying after ${retryAfter}s`);
        return retryCount < 2;
      },
      onSecondaryRateLimit: (retryAfter: number, opts: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        reporter?.warning(`GitHub secondary rate limit for ${opts.method} ${opts.url}; retrying after ${retryAfter}s`);
        return retryCount < 1;
      },
    },
    log: { debug: () => {}, info: () => {}, warn: (m: string) => reporter?.warning(m), error: () => {} },
  });
}

/**
 * A failed GitHub API call (after the retry plugin gave up): an outside failure, exit 1, not a bug.
 * `status` is the HTTP status. The message may echo what GitHub echoed (a token, even): it is
 * printed only through the masking path (core/mask.ts), like every message.
 */
export class GitHubApiError extends PipelineError {
  constructor(
    readonly operation: string,
    readonly status: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`GitHub API: ${operation} failed${status ? ` (HTTP ${status})` : ""}: ${message}`, 1, options);
  }
}

function apiErrors<T extends object>(client: T): T {
  const wrapped = {} as T;
  for (const [name, fn] of Object.entries(client) as [keyof T & string, unknown][]) {
    wrapped[name] = (async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (error) {
        if (error instanceof PipelineError) throw error;
        const e = error as { status?: number; message?: string; response?: { data?: { message?: string } } };
        throw new GitHubApiError(name, typeof e.status === "number" ? e.status : undefined, e.response?.data?.message ?? e.message ?? String(error), { cause: error });
      }
    }) as T[keyof T & string];
  }
  return wrapped;
}

export function gitHubClient(octokit: PipelineOctokitInstance, { owner, repo }: RepoRef): GitHubClient {
  const ref = (pr: { number: number; html_url: string; head: { ref: string }; title: string }): PullRequestRef => ({ number: pr.number, url: pr.html_url, head: pr.head.ref, title: pr.title });
  return apiErrors<GitHubClient>({
    async findOpenPullRequest(headPrefix, base) {
      // One page of 100 open PRs against the base is plenty for a repository's promotion queue.
      const { data } = await octokit.rest.pulls.list({ owner, repo, state: "open", base, per_page: 100, sort: "created", direction: "desc" });
      const mine = data.filter((pr) => pr.head.ref.startsWith(headPrefix) && (pr.head.repo?.full_name ?? `${owner}/${repo}`) === `${owner}/${repo}`);
      return mine.length ? ref(mine[0]!) : null;
    },
    async createPullRequest({ title, body, head, base }) {
      const { data } = await octokit.rest.pulls.create({ owner, repo, title, body, head, base, maintainer_can_modify: true });
      return ref(data);
    },
    async updatePullRequest(number, { title, body }) {
      await octokit.rest.pulls.update({ owner, repo, pull_number: number, title, body });
    },
    async closePullRequest(number, comment) {
      await octokit.rest.issues.createComment({ owner, repo, issue_number: number, body: comment });
      await octokit.rest.pulls.update({ owner, repo, pull_number: number, state: "closed" });
    },
    async addLabels(number, labels) {
      if (labels.length) await octokit.rest.issues.addLabels({ owner, repo, issue_number: number, labels });
    },
    async requestReviewers(number, reviewers) {
      if (reviewers.length) await octokit.rest.pulls.requestReviewers({ owner, repo, pull_number: number, reviewers });
    },
  });
}

/** `owner/name`, or parsed from a GitHub remote URL (https or ssh). */
export function parseRepo(spec: string): RepoRef {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(spec) ?? /github[^/:]*[/:]([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/.exec(spec);
  if (!m) throw new UsageError(`"${spec}": expected a repository as owner/name`);
  return { owner: m[1]!, repo: m[2]! };
}

export const TOKEN_KINDS: readonly TokenKind[] = ["app", "pat", "github_token"];

/**
 * Which token to use: an explicit variable name wins; otherwise PROMOTION_TOKEN (an App
 * installation token or a PAT) before GH_TOKEN and the default GITHUB_TOKEN. The kind decides the
 * warning: `kind`, else `<NAME>_KIND` in the environment (a workflow that falls back from a secret
 * to GITHUB_TOKEN says which it used), else the variable's name and the token's prefix.
 */
export function resolveToken(env: NodeJS.ProcessEnv, tokenEnv?: string, kind?: string): GitHubToken | null {
  const kindOf = (name: string, value: string): TokenKind => {
    const stated = kind || env[`${name}_KIND`];
    if (stated) {
      if (!(TOKEN_KINDS as readonly string[]).includes(stated)) throw new UsageError(`token kind "${stated}": expected one of ${TOKEN_KINDS.join(", ")}`);
      return stated as TokenKind;
    }
    // Installation tokens (an App's and the default GITHUB_TOKEN) both start with ghs_: only the name tells them apart.
    return name === "GITHUB_TOKEN" ? "github_token" : /^(ghp_|github_pat_)/.test(value) ? "pat" : "app";
  };
  if (tokenEnv) {
    const value = env[tokenEnv];
    if (!value) throw new UsageError(`--token-env ${tokenEnv}: the environment variable is not set`);
    return { value, kind: kindOf(tokenEnv, value) };
  }
  for (const name of ["PROMOTION_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"]) {
    const value = env[name];
    if (value) return { value, kind: kindOf(name, value) };
  }
  return null;
}

/**
 * The kind of the action's `token` input: what the workflow stated, else `github_token` when it is
 * the workflow's own token (the `default-token` input, `${{ github.token }}`), else left to the
 * prefix. Without this, the default input (a ghs_ token) would pass for an App token and the
 * default-token warning would never show.
 */
export function actionTokenKind(token: string | undefined, defaultToken: string | undefined, stated: string | undefined): string | undefined {
  if (stated) return stated;
  if (token && defaultToken && token === defaultToken) return "github_token";
  return undefined;
}

export const DEFAULT_TOKEN_WARNING =
  "Opening the promotion PR with the default GITHUB_TOKEN: GitHub does not start other workflows for events it causes, " +
  "so the PR's checks (tests, `pipeline registry check`) will not run on it and a protected branch cannot be merged. " +
  "Fix: pass a GitHub App installation token (actions/create-github-app-token) or a fine-grained personal access token with " +
  "contents: write and pull-requests: write as the action's `token` input (CLI: --token-env NAME), and give the same token to actions/checkout so the push also triggers checks.";
