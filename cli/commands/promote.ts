import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import type { Reporter } from "../../pipeline/core/reporter.js";
import { GitClient } from "../../pipeline/promote/git.js";
import { createOctokit, gitHubClient, parseRepo, resolveToken, type GitHubClient, type GitHubToken } from "../../pipeline/promote/github.js";
import { promote } from "../../pipeline/promote/index.js";
import { action } from "../run-command.js";

export interface GitHubFlags {
  openPr?: boolean;
  repo?: string;
  tokenEnv?: string;
  tokenKind?: string;
  remote: string;
}

/**
 * The outside world of a PR-opening step: token from the environment (never an argument, so it
 * stays out of process listings), repository from --repo, GITHUB_REPOSITORY or the remote URL,
 * API base from GITHUB_API_URL (GitHub Enterprise, or the contract tests' mock).
 */
export async function gitHubFromFlags(root: string, flags: GitHubFlags, reporter: Reporter): Promise<{ token: GitHubToken | undefined; github: GitHubClient | null }> {
  if (!flags.openPr) return { token: undefined, github: null };
  const token = resolveToken(process.env, flags.tokenEnv, flags.tokenKind) ?? undefined;
  if (token) reporter.secret(token.value);
  if (!token) {
    reporter.warning("no GitHub token (PROMOTION_TOKEN, GH_TOKEN or GITHUB_TOKEN, or --token-env NAME): the branch will be pushed but no pull request opened");
    return { token, github: null };
  }
  const repoSpec = flags.repo ?? process.env.GITHUB_REPOSITORY ?? (await new GitClient(root).remoteUrl(flags.remote)) ?? "";
  const repo = parseRepo(repoSpec);
  const octokit = createOctokit({ token: token.value, baseUrl: process.env.GITHUB_API_URL, reporter });
  return { token, github: gitHubClient(octokit, repo) };
}

/** `pipeline promote`: thin shell over pipeline/promote. Exit 0 promoted, 1 refused (failed gates, rejected push), 2 bad input. */
export function register(program: Command): void {
  program
    .command("promote")
    .description("Register a validated model as the next version and move production to it (with --open-pr: as a pull request).")
    .requiredOption("--model <path>", "training output directory or its model.json")
    .option("--config <file>", "pipeline configuration", DEFAULT_CONFIG_PATH)
    .option("--validation-report <file>", "the validate-model JSON report (its gates go into the PR body)")
    .option("--data-report <file>", "the validate-data JSON report (its drift section goes into the PR body)")
    .option("--open-pr", "commit on promote/<name>-v<N>, push, and open or update the pull request")
    .option("--repo <owner/name>", "GitHub repository (default: GITHUB_REPOSITORY or the remote's URL)")
    .option("--token-env <name>", "environment variable holding a GitHub App installation token or a personal access token")
    .option("--token-kind <kind>", "app, pat or github_token (default: <NAME>_KIND in the environment, else guessed from the name and prefix)")
    .option("--remote <name>", "git remote to push to", "origin")
    .option("--json", "print the result as JSON on stdout")
    .action(
      action(async (ctx, flags: GitHubFlags & { model: string; config: string; validationReport?: string; dataReport?: string; json?: boolean }) => {
        const loaded = await loadConfig(flags.config, ctx.root);
        const { token, github } = await gitHubFromFlags(ctx.root, flags, ctx.reporter);
        const result = await promote({
          root: ctx.root,
          config: loaded.config,
          modelPath: flags.model,
          validationReport: flags.validationReport,
          dataReport: flags.dataReport,
          reporter: ctx.reporter,
          openPr: Boolean(flags.openPr),
          github,
          token,
          remote: flags.remote,
        });
        if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
        else
          process.stdout.write(
            `${result.name} v${result.version} → ${result.dir}${result.replaced ? ` (replaces production v${result.replaced})` : ""}` +
              `${result.branch ? `; branch ${result.branch}` : ""}${result.pullRequest ? `; PR #${result.pullRequest.number} ${result.pullRequest.action}: ${result.pullRequest.url}` : ""}\n`,
          );
        return 0;
      }),
    );
}
