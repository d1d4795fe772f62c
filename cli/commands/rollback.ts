import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import { UsageError } from "../../pipeline/core/errors.js";
import { rollback } from "../../pipeline/promote/rollback.js";
import { action } from "../run-command.js";
import { gitHubFromEnvironment, type GitHubSetup as GitHubFlags } from "../../pipeline/promote/github-setup.js";

/** `pipeline rollback <name> [--to vN]`: the registry change that moves production back, reviewed like a promotion. */
export function register(program: Command): void {
  program
    .command("rollback")
    .argument("<model>", "model name")
    .description("Move production back to an earlier validated version (with --open-pr: as a pull request).")
    .option("--to <version>", "target version, e.g. v3 (default: the previous production version)")
    .option("--reason <text>", "why (goes into the commit and the PR)")
    .option("--config <file>", "pipeline configuration", DEFAULT_CONFIG_PATH)
    .option("--open-pr", "commit on rollback/<name>-v<N>, push, and open or update the pull request")
    .option("--repo <owner/name>", "GitHub repository (default: GITHUB_REPOSITORY or the remote's URL)")
    .option("--token-env <name>", "environment variable holding a GitHub App installation token or a personal access token")
    .option("--token-kind <kind>", "app, pat or github_token (default: <NAME>_KIND in the environment, else guessed)")
    .option("--remote <name>", "git remote to push to", "origin")
    .option("--json", "print the result as JSON on stdout")
    .action(
      action(async (ctx, name: string, flags: GitHubFlags & { to?: string; reason?: string; config: string; json?: boolean }) => {
        let to: number | undefined;
        if (flags.to !== undefined) {
          const m = /^v?(\d+)$/.exec(flags.to);
          if (!m) throw new UsageError(`--to ${flags.to}: expected a version like v3`);
          to = Number(m[1]);
        }
        const loaded = await loadConfig(flags.config, ctx.root);
        const { token, github } = await gitHubFromEnvironment(ctx.root, flags, ctx.reporter);
        const result = await rollback({ root: ctx.root, config: loaded.config, name, to, reason: flags.reason, reporter: ctx.reporter, openPr: Boolean(flags.openPr), github, token, remote: flags.remote });
        if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
        else
          process.stdout.write(
            `${name}: production ${result.from ? `v${result.from} ` : ""}→ v${result.to}${result.branch ? `; branch ${result.branch}` : ""}${result.pullRequest ? `; PR #${result.pullRequest.number} ${result.pullRequest.action}: ${result.pullRequest.url}` : ""}\n`,
          );
        return 0;
      }),
    );
}
