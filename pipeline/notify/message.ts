import { z } from "zod";
import type { Block, ButtonElement, SlackMessage, TextObject } from "./blocks.js";
import { fitToBlockKitLimits, type FittedMessage } from "./limits.js";
import { headlineMetrics, lowerIsBetter } from "../promote/metrics-view.js";

/**
 * What a notification says. The CLI and the action build it from flags, the GitHub environment,
 * the registry and the deploy result (context.ts); the message builder only formats it.
 */
export const NOTIFICATION_STATUSES = ["success", "failure", "rollback", "nothing_to_promote"] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

/** Which workflow is reporting: the wording of the header depends on it. */
export const NOTIFICATION_STAGES = ["deploy", "train", "run"] as const;
export type NotificationStage = (typeof NOTIFICATION_STAGES)[number];

export const CanaryResultSchema = z
  .object({
    passed: z.boolean(),
    /** Traffic percentages reached, in order (e.g. [10, 50, 100]). */
    steps: z.array(z.number()).default([]),
    /** The percentage at which a check failed. */
    failed_at: z.number().optional(),
    reason: z.string().optional(),
  })
  .strict();
export type CanaryResult = z.infer<typeof CanaryResultSchema>;

export const NotificationInputSchema = z
  .object({
    status: z.enum(NOTIFICATION_STATUSES),
    stage: z.enum(NOTIFICATION_STAGES).default("deploy"),
    model: z.string().min(1),
    version: z.number().int().positive().optional(),
    /** Held-out metrics of this version. */
    metrics: z.record(z.string(), z.number()).default({}),
    /** The production version it is compared with, and its metrics. */
    previous: z.object({ version: z.number().int().positive(), metrics: z.record(z.string(), z.number()) }).strict().optional(),
    environment: z.string().optional(),
    revision: z.string().optional(),
    canary: CanaryResultSchema.optional(),
    /** Why it failed or rolled back (or why nothing was promoted). */
    reason: z.string().optional(),
    links: z
      .object({
        run: z.string().optional(),
        pull_request: z.string().optional(),
        service: z.string().optional(),
        commit: z.string().optional(),
      })
      .strict()
      .default({}),
    commit: z.string().optional(),
    actor: z.string().optional(),
    /** Prepended to failures and rollbacks (e.g. `<!here>` or `<!subteam^S0123>`). */
    mention: z.string().optional(),
  })
  .strict();
export type NotificationInput = z.infer<typeof NotificationInputSchema>;
export type NotificationInputFields = z.input<typeof NotificationInputSchema>;

interface Look {
  emoji: string;
  color: string;
  verb: string;
}

/** Success, failure and rollback must be told apart at a glance: emoji, colour bar and wording. */
const LOOKS: Record<NotificationStatus, Look> = {
  success: { emoji: "✅", color: "#2eb67d", verb: "succeeded" },
  failure: { emoji: "❌", color: "#e01e5a", verb: "failed" },
  rollback: { emoji: "⏪", color: "#ecb22e", verb: "rolled back" },
  nothing_to_promote: { emoji: "💤", color: "#9e9ea6", verb: "nothing to promote" },
};

export function lookOf(status: NotificationStatus): Look {
  return LOOKS[status];
}

/** The header line, e.g. "✅ thermal-comfort v3 deployed to production". */
export function headline(input: NotificationInput): string {
  const { emoji } = LOOKS[input.status];
  const model = `${input.model}${input.version !== undefined ? ` v${input.version}` : ""}`;
  const env = input.environment ? ` to ${input.environment}` : "";
  const where = input.environment ? ` in ${input.environment}` : "";
  const text = (() => {
    switch (input.status) {
      case "success":
        return input.stage === "deploy" ? `${model} deployed${env}` : input.stage === "train" ? `${model} proposed for promotion` : `${model}: pipeline run passed`;
      case "failure":
        return input.stage === "deploy" ? `Deploy of ${model}${env} failed` : input.stage === "train" ? `Training of ${input.model} failed` : `Pipeline run for ${input.model} failed`;
      case "rollback":
        return `${model} rolled back${where}`;
      case "nothing_to_promote":
        return `${input.model}: nothing to promote`;
    }
  })();
  return `${emoji} ${text}`;
}

/** The well-known metrics first (the same order as the PR body), the rest alphabetically. */
export function orderedMetrics(metrics: Record<string, number>): [string, number][] {
  return headlineMetrics(metrics).map((name) => [name, metrics[name]!]);
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

/** "0.5612 (▲ +0.0074 vs v1)", with a verdict mark that knows which way is better. */
export function metricLine(name: string, value: number, previous: number | undefined, previousVersion?: number): string {
  const base = `${name} ${formatNumber(value)}`;
  if (previous === undefined || !Number.isFinite(previous) || !Number.isFinite(value)) return base;
  const delta = value - previous;
  const vs = previousVersion !== undefined ? ` vs v${previousVersion}` : "";
  if (Math.abs(delta) < 5e-5) return `${base} (= ${formatNumber(previous)}${vs})`;
  const better = lowerIsBetter(name) ? delta < 0 : delta > 0;
  return `${base} (${delta > 0 ? "▲" : "▼"} ${delta > 0 ? "+" : "−"}${Math.abs(delta).toFixed(4)}${vs}, ${better ? "better" : "worse"})`;
}

/** Slack mrkdwn treats &, < and > as markup; user-supplied text must not inject links or mentions. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function canaryText(canary: CanaryResult): string {
  const path = canary.steps.length > 0 ? canary.steps.map((s) => `${s}%`).join(" → ") : "";
  if (canary.passed) return `passed${path ? ` (${path})` : ""}`;
  const at = canary.failed_at !== undefined ? ` at ${canary.failed_at}%` : "";
  return `failed${at}${canary.reason ? `: ${canary.reason}` : ""}${path ? ` (reached ${path})` : ""}`;
}

const field = (label: string, value: string): TextObject => ({ type: "mrkdwn", text: `*${label}*\n${escapeMrkdwn(value)}` });

/**
 * The Block Kit message for a notification, already fitted to Slack's limits: a header with the
 * status; fields for model, version, environment, revision and canary; the metrics against the
 * previous production; the reason for a failure; buttons for the run, the pull request and the
 * service; a context line with commit and actor. Blocks sit in one attachment so that the colour
 * bar shows the status too.
 */
export function buildSlackMessage(input: NotificationInput): FittedMessage {
  const look = LOOKS[input.status];
  const title = headline(input);
  const blocks: Block[] = [{ type: "header", text: { type: "plain_text", text: title, emoji: true } }];

  const mention = input.mention && (input.status === "failure" || input.status === "rollback") ? input.mention : undefined;
  if (mention) blocks.push({ type: "section", text: { type: "mrkdwn", text: mention } });

  const fields: TextObject[] = [field("Model", input.model)];
  if (input.version !== undefined) fields.push(field("Version", `v${input.version}${input.previous ? ` (production was v${input.previous.version})` : ""}`));
  if (input.environment) fields.push(field("Environment", input.environment));
  if (input.revision) fields.push(field("Revision", input.revision));
  if (input.canary) fields.push(field("Canary", canaryText(input.canary)));
  if (fields.length > 0) blocks.push({ type: "section", fields });

  const metrics = orderedMetrics(input.metrics);
  if (metrics.length > 0) {
    const heading = input.previous ? `*Metrics* (change against production v${input.previous.version})` : "*Metrics*";
    const lines = metrics.map(([name, value]) => `• ${escapeMrkdwn(metricLine(name, value, input.previous?.metrics[name], input.previous?.version))}`);
    blocks.push({ type: "section", text: { type: "mrkdwn", text: [heading, ...lines].join("\n") } });
  }

  if (input.reason) {
    const label = input.status === "nothing_to_promote" ? "Why" : input.status === "success" ? "Note" : "Reason";
    // A code span keeps log excerpts readable; backticks inside would end it early.
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `*${label}*\n\`\`\`${input.reason.replace(/`/g, "ˋ")}\`\`\`` } });
  }

  const buttons: ButtonElement[] = [];
  const button = (text: string, url: string | undefined, id: string, style?: "primary" | "danger") => {
    if (!url) return;
    buttons.push({ type: "button", text: { type: "plain_text", text, emoji: true }, url, action_id: id, ...(style ? { style } : {}) });
  };
  button("Workflow run", input.links.run, "open-run", input.status === "failure" ? "danger" : undefined);
  button("Pull request", input.links.pull_request, "open-pull-request", input.status === "success" && input.stage === "train" ? "primary" : undefined);
  button("Service", input.links.service, "open-service", input.status === "success" && input.stage === "deploy" ? "primary" : undefined);
  if (buttons.length > 0) blocks.push({ type: "actions", elements: buttons });

  const context: TextObject[] = [];
  if (input.commit) {
    const short = input.commit.slice(0, 7);
    const commitUrl = input.links.commit;
    context.push({ type: "mrkdwn", text: `commit ${commitUrl && /^https?:\/\//.test(commitUrl) ? `<${commitUrl.replace(/[|>]/g, encodeURIComponent)}|\`${escapeMrkdwn(short)}\`>` : `\`${escapeMrkdwn(short)}\``}` });
  }
  if (input.actor) context.push({ type: "mrkdwn", text: `by ${escapeMrkdwn(input.actor)}` });
  context.push({ type: "mrkdwn", text: `${input.stage} · ${look.verb}` });
  blocks.push({ type: "context", elements: context });

  const headlineMetric = metrics[0];
  const fallback = [
    mention,
    title,
    headlineMetric ? `(${metricLine(headlineMetric[0], headlineMetric[1], input.previous?.metrics[headlineMetric[0]], input.previous?.version)})` : undefined,
    input.reason && input.status !== "success" ? `: ${input.reason}` : undefined,
  ]
    .filter(Boolean)
    .join(" ");
  const message: SlackMessage = { text: fallback, attachments: [{ color: look.color, blocks, fallback: title }] };
  return fitToBlockKitLimits(message);
}
