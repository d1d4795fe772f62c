import { InvalidArgumentError, Option, type Command } from "commander";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import { buildNotificationInput, notify, slackWebhookFromEnvironment, NOTIFICATION_STAGES, NOTIFICATION_STATUSES, type NotificationStage, type NotificationStatus } from "../../pipeline/notify/index.js";
import { action } from "../run-command.js";

interface NotifyFlags {
  config: string;
  status?: NotificationStatus;
  stage?: NotificationStage;
  model?: string;
  modelVersion?: number;
  metrics?: string;
  compareWith?: string;
  environment?: string;
  revision?: string;
  serviceUrl?: string;
  pullRequest?: string;
  runUrl?: string;
  reason?: string;
  commit?: string;
  actor?: string;
  deployResult?: string;
  webhookEnv?: string;
  json?: boolean;
}

const versionNumber = (v: string) => {
  const m = /^v?(\d+)$/.exec(v);
  if (!m || Number(m[1]) < 1) throw new InvalidArgumentError(`expected a version number like 3 or v3, got "${v}"`);
  return Number(m[1]);
};

/**
 * `pipeline notify`: thin shell over pipeline/notify. Posts to the webhook in the environment
 * variable the config names (SLACK_WEBHOOK_URL by default), or prints the message when it is unset.
 * Exit 0 even when Slack refuses or cannot be reached (a warning says why); 2 only for bad flags.
 */
export function register(program: Command): void {
  program
    .command("notify")
    .description("Post the result of a run to Slack (Block Kit), or print it when no webhook is set.")
    .addOption(new Option("--status <status>", "the result (default: from --deploy-result)").choices([...NOTIFICATION_STATUSES]))
    .addOption(new Option("--stage <stage>", "which workflow reports").choices([...NOTIFICATION_STAGES]).default("deploy"))
    .option("--config <file>", "pipeline configuration", DEFAULT_CONFIG_PATH)
    .option("--model <name>", "model name (default: the config's model.name)")
    .option("--model-version <N>", "model version (default at deploy: the production version)", versionNumber)
    .option("--metrics <file>", "metrics.json, model.json or a validate-model report (default: the registry's metrics of the version)")
    .option("--compare-with <vN|none>", "version whose metrics the change is shown against (default: the previous production)")
    .option("--environment <name>", "environment deployed to")
    .option("--revision <name>", "Cloud Run revision")
    .option("--service-url <url>", "the service's URL (a button)")
    .option("--pull-request <url|number>", "the pull request (a button)")
    .option("--run-url <url>", "the workflow run (default: from GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID)")
    .option("--reason <text>", "why it failed, rolled back, or why nothing was promoted")
    .option("--commit <sha>", "commit (default: GITHUB_SHA)")
    .option("--actor <name>", "who triggered it (default: GITHUB_ACTOR)")
    .option("--deploy-result <file>", "the deploy step's JSON result: status, environment, revision, URL, canary")
    .option("--webhook-env <name>", "environment variable with the webhook URL (default: notifications.slack.webhook_env)")
    .option("--json", "print the Block Kit payload and the delivery result as JSON on stdout")
    .action(
      action(async (ctx, flags: NotifyFlags) => {
        const loaded = await loadConfig(flags.config, ctx.root);
        const webhookUrl = slackWebhookFromEnvironment(loaded.config, process.env, flags.webhookEnv);
        if (webhookUrl) ctx.reporter.secret(webhookUrl);
        let compareWith: number | "none" | undefined;
        if (flags.compareWith !== undefined) compareWith = flags.compareWith === "none" ? "none" : versionNumber(flags.compareWith);
        const input = await buildNotificationInput({
          request: {
            status: flags.status,
            stage: flags.stage,
            model: flags.model,
            version: flags.modelVersion,
            metricsPath: flags.metrics,
            compareWith,
            environment: flags.environment,
            revision: flags.revision,
            serviceUrl: flags.serviceUrl,
            pullRequest: flags.pullRequest,
            runUrl: flags.runUrl,
            reason: flags.reason,
            commit: flags.commit,
            actor: flags.actor,
            deployResultPath: flags.deployResult,
          },
          config: loaded.config,
          root: ctx.root,
          env: process.env,
          reporter: ctx.reporter,
        });
        const result = await notify({
          input,
          config: loaded.config,
          reporter: ctx.reporter,
          webhookUrl,
          console: flags.json ? () => {} : (text) => process.stdout.write(text),
        });
        if (flags.json) {
          process.stdout.write(JSON.stringify({ channel: result.channel, delivered: result.delivered, attempts: result.attempts, warning: result.warning, payload: result.message }, null, 2) + "\n");
        }
        return 0;
      }),
    );
}
