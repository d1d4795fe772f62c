import { mkdtemp, cp, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type LoadedConfig } from "../pipeline/config/load.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import type { SlackMessage } from "../pipeline/notify/blocks.js";
import { notify } from "../pipeline/notify/index.js";
import { NotificationInputSchema } from "../pipeline/notify/message.js";
import { parseRetryAfter, scrubWebhookUrl, sendToSlack } from "../pipeline/notify/send.js";
import { bundleAction, runAction } from "./helpers/action.js";
import { PROJECT_ROOT, runCli } from "./helpers/cli.js";
import { startSlackReceiver, type ScriptedAnswer, type SlackReceiver } from "./helpers/slack-receiver.js";

let receiver: SlackReceiver;
let loaded: LoadedConfig;
beforeAll(async () => {
  receiver = await startSlackReceiver();
  loaded = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
});
afterAll(async () => {
  await receiver?.close();
});

/** The token is the secret part of the URL; it must appear in no log line and no warning. */
const token = () => receiver.webhookUrl.split("/").at(-1)!;

const input = NotificationInputSchema.parse({
  status: "success",
  model: "thermal-comfort",
  version: 2,
  metrics: { macro_f1: 0.57 },
  previous: { version: 1, metrics: { macro_f1: 0.55 } },
  environment: "production",
  revision: "tc-00002-abc",
  links: { run: "https://github.com/acme/tc/actions/runs/1" },
  commit: "0123456789abcdef",
  actor: "octocat",
});

function recordSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

describe("delivery to a receiver that answers like Slack", () => {
  it("posts a message the receiver accepts (structure and limits checked), and masks the URL", async () => {
    const before = receiver.requests.length;
    const reporter = recordingReporter();
    const result = await notify({ input, config: loaded.config, reporter, webhookUrl: receiver.webhookUrl });
    expect(result).toMatchObject({ channel: "slack", delivered: true, warning: null });
    expect(reporter.secrets).toContain(receiver.webhookUrl);
    const req = receiver.requests.at(-1)!;
    expect(receiver.requests.length).toBe(before + 1);
    expect(req).toMatchObject({ status: 200, answer: "ok", problems: [] });
    expect(req.headers["content-type"]).toMatch(/^application\/json/);
    expect(req.json).toEqual(result.message);
  });

  it("the receiver rejects what Slack rejects: a header over 150 characters is invalid_blocks, not retried, a warning", async () => {
    const broken: SlackMessage = { text: "x", blocks: [{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }] };
    const { waits, sleep } = recordSleep();
    const result = await sendToSlack({ url: receiver.webhookUrl, message: broken, sleep });
    expect(receiver.requests.at(-1)!.problems).toEqual(["blocks[0].text.text: must be less than 151 characters"]);
    expect(result.delivered).toBe(false);
    expect(result.attempts).toEqual([{ status: 400, error: "invalid_blocks", waitMs: null }]);
    expect(result.error).toMatch(/^Slack answered 400 invalid_blocks \(Slack refused the message's blocks/);
    expect(waits).toEqual([]);
  });

  it("also rejects a section with neither text nor fields, and unknown keys", async () => {
    const broken = { text: "x", blocks: [{ type: "section" }, { type: "divider", colour: "red" }] } as unknown as SlackMessage;
    const result = await sendToSlack({ url: receiver.webhookUrl, message: broken, sleep: async () => {} });
    expect(result.attempts[0]!.error).toBe("invalid_blocks");
    expect(receiver.requests.at(-1)!.problems).toEqual(["blocks[0]: must have text or fields", 'blocks[1]: unknown key "colour"']);
  });

  for (const [status, error] of [
    [404, "channel_not_found"],
    [410, "channel_is_archived"],
  ] as const) {
    it(`${status} ${error}: one attempt, exit-0 warning with a hint, URL scrubbed`, async () => {
      receiver.script({ status, error } as ScriptedAnswer);
      const reporter = recordingReporter();
      const { waits, sleep } = recordSleep();
      const result = await notify({ input, config: loaded.config, reporter, webhookUrl: receiver.webhookUrl, sleep });
      expect(result.delivered).toBe(false);
      expect(result.attempts).toHaveLength(1);
      expect(waits).toEqual([]);
      expect(reporter.warnings).toHaveLength(1);
      expect(reporter.warnings[0]).toContain(`Slack answered ${status} ${error}`);
      expect(reporter.warnings[0]).toMatch(status === 404 ? /deleted or the app lost access/ : /archived: unarchive it/);
      expect(JSON.stringify([reporter.infos, reporter.warnings, reporter.errors, reporter.summaries])).not.toContain(token());
    });
  }

  it("429: waits what Retry-After says, then delivers", async () => {
    receiver.script({ status: 429, retryAfter: "7" }, { status: 429, retryAfter: "2" });
    const { waits, sleep } = recordSleep();
    const result = await sendToSlack({ url: receiver.webhookUrl, message: { text: "hello" }, sleep });
    expect(result.delivered).toBe(true);
    expect(waits).toEqual([7000, 2000]);
    expect(result.attempts.map((a) => a.status)).toEqual([429, 429, 200]);
    expect(result.attempts[0]!.error).toBe("rate_limited");
  });

  it("429 with a Retry-After longer than the step waits: gives up at once rather than retry too early", async () => {
    receiver.script({ status: 429, retryAfter: "3600" });
    const { waits, sleep } = recordSleep();
    const result = await sendToSlack({ url: receiver.webhookUrl, message: { text: "hello" }, sleep, maxWaitMs: 60_000 });
    expect(result.delivered).toBe(false);
    expect(waits).toEqual([]);
    expect(result.error).toMatch(/asked to retry after 3600 s, more than the 60 s this step waits/);
  });

  it("500: exponential back-off, delivered on the third attempt", async () => {
    receiver.script({ status: 500 }, { status: 500 });
    const { waits, sleep } = recordSleep();
    const result = await sendToSlack({ url: receiver.webhookUrl, message: { text: "hello" }, sleep, backoffMs: 250 });
    expect(result.delivered).toBe(true);
    expect(waits).toEqual([250, 500]);
    expect(result.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
  });

  it("500 every time: gives up after the configured attempts with a warning, exit code untouched", async () => {
    const attempts = loaded.config.notifications.slack!.max_attempts;
    receiver.script(...Array.from({ length: attempts }, () => ({ status: 500 as const })));
    const reporter = recordingReporter();
    const { waits, sleep } = recordSleep();
    const result = await notify({ input, config: loaded.config, reporter, webhookUrl: receiver.webhookUrl, sleep });
    expect(result.delivered).toBe(false);
    expect(result.attempts).toHaveLength(attempts);
    expect(waits).toEqual(Array.from({ length: attempts - 1 }, (_, i) => 1000 * 2 ** i));
    expect(reporter.warnings[0]).toMatch(new RegExp(`answered 500 internal_error after ${attempts} attempts`));
    expect(reporter.errors).toEqual([]);
  });

  it("a webhook that cannot be reached: retried, and the URL never appears in the warning", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}/services/T0/B0/${token()}`;
    const reporter = recordingReporter();
    const { waits, sleep } = recordSleep();
    const result = await notify({ input, config: loaded.config, reporter, webhookUrl: url, sleep });
    expect(result.delivered).toBe(false);
    expect(waits.length).toBe(loaded.config.notifications.slack!.max_attempts - 1);
    expect(reporter.warnings[0]).toMatch(/Slack was not reached/);
    expect(reporter.warnings[0]).not.toContain(token());
  });

  it("statuses left out of notifications.slack.on are not posted", async () => {
    const before = receiver.requests.length;
    const result = await notify({ input: { ...input, status: "nothing_to_promote" }, config: loaded.config, reporter: recordingReporter(), webhookUrl: receiver.webhookUrl });
    expect(result.channel).toBe("none");
    expect(receiver.requests.length).toBe(before);
  });

  it("Retry-After as an HTTP date, and scrubbing of other forms of the URL", () => {
    const now = new Date("2026-12-01T10:00:00Z");
    expect(parseRetryAfter("Tue, 01 Dec 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("12", now)).toBe(12_000);
    expect(parseRetryAfter("soon", now)).toBeNull();
    const url = "https://hooks.slack.com/services/T1/B2/abcDEF123";
    expect(scrubWebhookUrl(`failed to fetch ${url} and /services/T1/B2/abcDEF123 and hooks.slack.com/services/T9/B9/zzz`, url)).toBe("failed to fetch *** and *** and hooks.slack.com/***");
  });
});

describe("pipeline notify (CLI)", () => {
  it("posts to SLACK_WEBHOOK_URL with the registry's metrics and the deploy result; the URL is never printed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "notify-cli-"));
    const deploy = join(dir, "deploy.json");
    await writeFile(deploy, JSON.stringify({ status: "succeeded", environment: "production", revision: "thermal-comfort-00009-zzz", service_url: "https://thermal-comfort.a.run.app", canary: { passed: true, steps: [10, 50, 100] } }));
    const before = receiver.requests.length;
    const r = await runCli(["notify", "--deploy-result", deploy, "--pull-request", "4"], {
      env: { SLACK_WEBHOOK_URL: receiver.webhookUrl, GITHUB_REPOSITORY: "acme/tc", GITHUB_RUN_ID: "42", GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567", GITHUB_ACTOR: "octocat" },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/posted to Slack/);
    expect(r.stdout + r.stderr).not.toContain(token());
    expect(receiver.requests.length).toBe(before + 1);
    const req = receiver.requests.at(-1)!;
    expect(req.status).toBe(200);
    const body = JSON.stringify(req.json);
    expect(body).toContain("✅ thermal-comfort v1 deployed to production");
    expect(body).toContain("thermal-comfort-00009-zzz");
    expect(body).toContain("passed (10% → 50% → 100%)");
    expect(body).toContain("macro_f1 0.5538");
    expect(body).toContain("https://github.com/acme/tc/actions/runs/42");
    expect(body).toContain("https://github.com/acme/tc/pull/4");
  });

  it("a Slack refusal is a warning and exit 0", async () => {
    receiver.script({ status: 410, error: "channel_is_archived" });
    const r = await runCli(["notify", "--status", "failure", "--reason", "smoke test failed"], { env: { SLACK_WEBHOOK_URL: receiver.webhookUrl } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: Slack notification not delivered: Slack answered 410 channel_is_archived/);
    expect(r.stdout + r.stderr).not.toContain(token());
  });

  it("without a webhook it prints the message as text", async () => {
    const r = await runCli(["notify", "--status", "nothing_to_promote", "--stage", "train", "--reason", "same content hash as production v1"], { env: { SLACK_WEBHOOK_URL: "" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("💤 thermal-comfort: nothing to promote");
    expect(r.stdout).toContain("Why");
    expect(r.stdout).toContain("same content hash as production v1");
  });

  it("a bad status is a usage error (exit 2)", async () => {
    const r = await runCli(["notify", "--status", "great"], { env: { SLACK_WEBHOOK_URL: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Allowed choices are success, failure, rollback, nothing_to_promote/);
  });
});

describe("actions/notify-slack, run as the runner runs it", () => {
  let bundle: string;
  let workspace: string;
  beforeAll(async () => {
    bundle = await bundleAction("notify-slack");
    workspace = await mkdtemp(join(tmpdir(), "ws-notify-"));
    await cp(join(PROJECT_ROOT, "config"), join(workspace, "config"), { recursive: true });
    await cp(join(PROJECT_ROOT, "models"), join(workspace, "models"), { recursive: true });
  }, 120_000);

  it("posts, masks the webhook, and sets the outputs", async () => {
    const before = receiver.requests.length;
    const r = await runAction(bundle, { "webhook-url": receiver.webhookUrl, status: "rollback", environment: "production", reason: "error rate 3% > 1% at 10%" }, { workspace, env: { GITHUB_RUN_ID: "7", GITHUB_SERVER_URL: "https://github.com" } });
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual({ delivered: "true", channel: "slack" });
    expect(r.stdout).toContain(`::add-mask::${receiver.webhookUrl}`);
    expect(r.stdout.split(`::add-mask::${receiver.webhookUrl}`).join("")).not.toContain(token());
    expect(receiver.requests.length).toBe(before + 1);
    expect(JSON.stringify(receiver.requests.at(-1)!.json)).toContain("⏪ thermal-comfort v1 rolled back in production");
    expect(r.summary).toContain("### Notification");
  }, 60_000);

  it("a 500 that never recovers leaves the step green with a warning", async () => {
    receiver.script({ status: 503 }, { status: 503 });
    await writeFile(join(workspace, "config/fast.yaml"), "extends: pipeline.yaml\nnotifications: { slack: { max_attempts: 2, max_wait_seconds: 0.01 } }\n");
    const r = await runAction(bundle, { "webhook-url": receiver.webhookUrl, status: "success", config: "config/fast.yaml" }, { workspace });
    expect(r.code).toBe(0);
    expect(r.outputs.delivered).toBe("false");
    expect(r.stdout).toMatch(/::warning::Slack notification not delivered: Slack answered 503 internal_error after 2 attempts/);
  }, 60_000);
});
