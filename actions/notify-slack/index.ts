import * as core from "@actions/core";
import { optionalInput, runAction } from "../shared/core-reporter.js";
import { loadConfig } from "../../pipeline/config/load.js";
import { UsageError } from "../../pipeline/core/errors.js";
import { buildNotificationInput, notify, NOTIFICATION_STAGES, NOTIFICATION_STATUSES, type NotificationStage, type NotificationStatus } from "../../pipeline/notify/index.js";

function oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
  const v = optionalInput(name);
  if (v !== undefined && !(allowed as readonly string[]).includes(v)) throw new UsageError(`input ${name}: expected one of ${allowed.join(", ")}, got "${v}"`);
  return v as T | undefined;
}

function versionInput(name: string): number | undefined {
  const v = optionalInput(name);
  if (v === undefined) return undefined;
  const m = /^v?(\d+)$/.exec(v);
  if (!m || Number(m[1]) < 1) throw new UsageError(`input ${name}: expected a version number like 3 or v3, got "${v}"`);
  return Number(m[1]);
}

await runAction(async (reporter) => {
  const webhookUrl = optionalInput("webhook-url");
  // Masked before anything else can print it.
  if (webhookUrl) core.setSecret(webhookUrl);
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const { config } = await loadConfig(optionalInput("config") ?? "config/pipeline.yaml", root);
  const compare = optionalInput("compare-with");
  const input = await buildNotificationInput({
    request: {
      status: oneOf<NotificationStatus>("status", NOTIFICATION_STATUSES),
      stage: oneOf<NotificationStage>("stage", NOTIFICATION_STAGES),
      model: optionalInput("model"),
      version: versionInput("version"),
      metricsPath: optionalInput("metrics"),
      compareWith: compare === "none" ? "none" : versionInput("compare-with"),
      environment: optionalInput("environment"),
      revision: optionalInput("revision"),
      serviceUrl: optionalInput("service-url"),
      pullRequest: optionalInput("pull-request"),
      runUrl: optionalInput("run-url"),
      reason: optionalInput("reason"),
      deployResultPath: optionalInput("deploy-result"),
    },
    config,
    root,
    env: process.env,
    reporter,
  });
  const result = await notify({ input, config, reporter, webhookUrl });
  core.setOutput("delivered", String(result.delivered));
  core.setOutput("channel", result.channel);
  return 0;
});
