import type { FetchFunction } from "@slack/webhook";
import { NotificationsSchema, type PipelineConfig } from "../config/schema.js";
import type { Reporter } from "../core/reporter.js";
import type { SlackMessage } from "./blocks.js";
import type { LimitAdjustment } from "./limits.js";
import { buildSlackMessage, type NotificationInput } from "./message.js";
import { scrubWebhookUrl, sendToSlack, type SendAttempt } from "./send.js";
import { renderMessageText } from "./text.js";

export { buildSlackMessage, headline, NotificationInputSchema, NOTIFICATION_STATUSES, NOTIFICATION_STAGES, type NotificationInput, type NotificationStatus, type NotificationStage } from "./message.js";
export { BLOCK_KIT_LIMITS, fitToBlockKitLimits, truncateText } from "./limits.js";
export { sendToSlack, scrubWebhookUrl, parseRetryAfter } from "./send.js";
export { renderMessageText } from "./text.js";
export { buildNotificationInput, deployFacts, previousProduction, gitHubLinks, DeployResultSchema, type NotifyRequest } from "./context.js";
export type { SlackMessage } from "./blocks.js";

export interface NotifyOptions {
  input: NotificationInput;
  config: PipelineConfig;
  reporter: Reporter;
  /** The webhook URL; when absent the message is printed on `console` instead. */
  webhookUrl?: string;
  /** Where the console rendering goes (stdout in the CLI). */
  console?: (text: string) => void;
  fetch?: FetchFunction;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

export interface NotifyResult {
  channel: "slack" | "console" | "none";
  delivered: boolean;
  attempts: SendAttempt[];
  /** Why it was not sent or not delivered (also reported as a warning). */
  warning: string | null;
  adjustments: LimitAdjustment[];
  message: SlackMessage;
}

const SLACK_DEFAULTS = NotificationsSchema.shape.slack.unwrap().parse({});

/**
 * The webhook URL from the variable the config names (SLACK_WEBHOOK_URL by default), or undefined
 * when it is unset or empty (then notify prints the message instead). Callers pass it to notify,
 * which masks it.
 */
export function slackWebhookFromEnvironment(config: PipelineConfig, env: NodeJS.ProcessEnv, override?: string): string | undefined {
  const name = override ?? config.notifications.slack?.webhook_env ?? SLACK_DEFAULTS.webhook_env;
  return env[name]?.trim() || undefined;
}

/**
 * The notify step: builds the Block Kit message and posts it, or prints it when there is no
 * webhook. It never fails the pipeline: an undeliverable message is a warning and a result with
 * delivered=false, because a broken chat integration must not turn a good deploy red.
 */
export async function notify(options: NotifyOptions): Promise<NotifyResult> {
  const { input, reporter } = options;
  const settings = options.config.notifications.slack ?? SLACK_DEFAULTS;
  const url = options.webhookUrl?.trim() || undefined;
  if (url) reporter.secret(url);
  const { message, adjustments } = buildSlackMessage(input);
  if (adjustments.length > 0) reporter.info(`notify: message shortened to fit Slack's limits (${adjustments.map((a) => `${a.path}: ${a.what}`).join("; ")})`);
  const base = { attempts: [] as SendAttempt[], adjustments, message };
  // The job summary gets the same readable text the console gets.
  reporter.summary(`### Notification\n\n\`\`\`\n${renderMessageText(message).replace(/```/g, "ˋˋˋ")}\`\`\`\n`);

  if (!url) {
    (options.console ?? ((t) => reporter.info(t)))(renderMessageText(message));
    return { ...base, channel: "console", delivered: false, warning: null };
  }
  if (!settings.on.includes(input.status)) {
    reporter.info(`notify: not posting "${input.status}" (notifications.slack.on is ${settings.on.join(", ")})`);
    return { ...base, channel: "none", delivered: false, warning: null };
  }

  try {
    const sent = await sendToSlack({
      url,
      message,
      fetch: options.fetch,
      sleep: options.sleep,
      now: options.now,
      maxAttempts: settings.max_attempts,
      maxWaitMs: settings.max_wait_seconds * 1000,
      timeoutMs: settings.timeout_seconds * 1000,
    });
    if (sent.delivered) {
      reporter.info(`notify: posted to Slack${sent.attempts.length > 1 ? ` after ${sent.attempts.length} attempts` : ""}`);
      return { ...base, attempts: sent.attempts, channel: "slack", delivered: true, warning: null };
    }
    const warning = `Slack notification not delivered: ${sent.error}`;
    reporter.warning(warning);
    return { ...base, attempts: sent.attempts, channel: "slack", delivered: false, warning };
  } catch (error) {
    // sendToSlack does not throw by design; anything that does is still only a warning here.
    const warning = `Slack notification not delivered: ${scrubWebhookUrl((error as Error)?.message ?? String(error), url)}`;
    reporter.warning(warning);
    return { ...base, channel: "slack", delivered: false, warning };
  }
}
