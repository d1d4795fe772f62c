import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import { gitHubFromEnvironment, type GitHubSetup } from "../../pipeline/promote/github-setup.js";
import { promote } from "../../pipeline/promote/index.js";
import { action } from "../run-command.js";


/**
 * `pipeline promote`: thin shell over pipeline/promote. Exit 0 promoted or nothing to promote (the
 * last stdout line says `changed=true|false`), 1 refused (report missing, failed or not this
 * artifact's; registry failing its check; rejected push), 2 bad input.
 */
export function register(program: Command): void {
  program
    .command("promote")
    .description("Register a validated model as the next version and move production to it (with --open-pr: as a pull request).")
    .requiredOption("--model <path>", "training output directory or its model.json")
    .option("--config <file>", "pipeline configuration", DEFAULT_CONFIG_PATH)
    .option("--validation-report <file>", "the validate-model JSON report (its gates go into the PR body)")
    .option("--data-report <file>", "the validate-data JSON report (its drift section goes into the PR body)")
    .option("--unvalidated", "register without a validation report: untagged, never validated, so it cannot become production")
    .option("--open-pr", "commit on promote/<name>-v<N>, push, and open or update the pull request")
    .option("--repo <owner/name>", "GitHub repository (default: GITHUB_REPOSITORY or the remote's URL)")
    .option("--token-env <name>", "environment variable holding a GitHub App installation token or a personal access token")
    .option("--token-kind <kind>", "app, pat or github_token (default: <NAME>_KIND in the environment, else guessed from the name and prefix)")
    .option("--remote <name>", "git remote to push to", "origin")
    .option("--json", "print the result as JSON on stdout")
    .action(
      action(async (ctx, flags: GitHubSetup & { model: string; config: string; validationReport?: string; dataReport?: string; unvalidated?: boolean; json?: boolean }) => {
        const loaded = await loadConfig(flags.config, ctx.root);
        const { token, github } = await gitHubFromEnvironment(ctx.root, flags, ctx.reporter);
        const result = await promote({
          root: ctx.root,
          config: loaded.config,
          modelPath: flags.model,
          validationReport: flags.validationReport,
          dataReport: flags.dataReport,
          reporter: ctx.reporter,
          openPr: Boolean(flags.openPr),
          unvalidated: Boolean(flags.unvalidated),
          github,
          token,
          remote: flags.remote,
        });
        if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
        else if (!result.changed) process.stdout.write(`nothing to promote: the same model as ${result.name}@v${result.version}\nchanged=false\n`);
        else
          process.stdout.write(
            `${result.name} v${result.version} → ${result.dir}${result.replaced ? ` (replaces production v${result.replaced})` : ""}` +
              `${result.branch ? `; branch ${result.branch}` : ""}${result.pullRequest ? `; PR #${result.pullRequest.number} ${result.pullRequest.action}: ${result.pullRequest.url}` : ""}${result.validated ? "" : " (untagged: not validated)"}\nchanged=true\n`,
          );
        return 0;
      }),
    );
}
