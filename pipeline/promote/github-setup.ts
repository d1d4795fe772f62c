import type { Reporter } from "../core/reporter.js";
import { GitClient } from "./git.js";
import { createOctokit, gitHubClient, parseRepo, resolveToken, type GitHubClient, type GitHubToken } from "./github.js";

export interface GitHubSetup {
  openPr?: boolean;
  /** owner/name; default GITHUB_REPOSITORY, else parsed from the remote's URL. */
  repo?: string;
  /** Name of the environment variable holding the token (never the token itself). */
  tokenEnv?: string;
  tokenKind?: string;
  remote: string;
}

/**
 * The outside world of a PR-opening step, shared by the CLI and the actions: token from the
 * environment (never an argument, so it stays out of process listings and logs), repository from
 * the setup, GITHUB_REPOSITORY or the remote URL, API base from GITHUB_API_URL (GitHub Enterprise,
 * or the contract tests' mock).
 */
export async function gitHubFromEnvironment(
  root: string,
  setup: GitHubSetup,
  reporter: Reporter,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ token: GitHubToken | undefined; github: GitHubClient | null }> {
  if (!setup.openPr) return { token: undefined, github: null };
  const token = resolveToken(env, setup.tokenEnv, setup.tokenKind) ?? undefined;
  if (token) reporter.secret(token.value);
  if (!token) {
    reporter.warning("no GitHub token (PROMOTION_TOKEN, GH_TOKEN or GITHUB_TOKEN, or --token-env NAME): the branch will be pushed but no pull request opened");
    return { token, github: null };
  }
  // An empty value is unset (GitHub passes "" for inputs and variables not given).
  const repoSpec = setup.repo || env.GITHUB_REPOSITORY || (await new GitClient(root).remoteUrl(setup.remote)) || "";
  const repo = parseRepo(repoSpec);
  const octokit = createOctokit({ token: token.value, baseUrl: env.GITHUB_API_URL, reporter });
  return { token, github: gitHubClient(octokit, repo) };
}
