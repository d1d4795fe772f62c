import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import type { ActionsBlock, ContextBlock, HeaderBlock, SectionBlock, SlackMessage } from "../pipeline/notify/blocks.js";
import { buildNotificationInput, deployFacts, gitHubLinks, previousProduction } from "../pipeline/notify/context.js";
import { buildSlackMessage, metricLine, NotificationInputSchema, type NotificationInputFields } from "../pipeline/notify/message.js";
import { renderMessageText } from "../pipeline/notify/text.js";
import { slackWebhookFromEnvironment } from "../pipeline/notify/index.js";
import type { ModelVersion, Registry } from "../pipeline/registry/schema.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { payloadProblems } from "./helpers/slack-receiver.js";

const base: NotificationInputFields = {
  status: "success",
  stage: "deploy",
  model: "thermal-comfort",
  version: 3,
  metrics: { macro_f1: 0.6, accuracy: 0.61, log_loss: 0.8 },
  previous: { version: 2, metrics: { macro_f1: 0.55, accuracy: 0.62, log_loss: 0.9 } },
  environment: "production",
  revision: "thermal-comfort-00042-abc",
  canary: { passed: true, steps: [10, 50, 100] },
  links: { run: "https://github.com/acme/tc/actions/runs/77", pull_request: "https://github.com/acme/tc/pull/12", service: "https://tc-xyz.a.run.app", commit: "https://github.com/acme/tc/commit/0123456789abcdef" },
  commit: "0123456789abcdef",
  actor: "octocat",
};

function parts(message: SlackMessage) {
  const blocks = message.attachments![0]!.blocks;
  return {
    color: message.attachments![0]!.color,
    header: blocks.find((b): b is HeaderBlock => b.type === "header")!.text.text,
    sections: blocks.filter((b): b is SectionBlock => b.type === "section"),
    actions: blocks.find((b): b is ActionsBlock => b.type === "actions"),
    context: blocks.find((b): b is ContextBlock => b.type === "context")!,
  };
}

const build = (over: Partial<NotificationInputFields> = {}) => buildSlackMessage(NotificationInputSchema.parse({ ...base, ...over })).message;

describe("the Block Kit message", () => {
  it("has the header, fields, metrics with their change, buttons and the commit/actor context", () => {
    const message = build();
    const p = parts(message);
    expect(payloadProblems(message).problems).toEqual([]);
    expect(p.header).toBe("✅ thermal-comfort v3 deployed to production");
    const fields = p.sections.flatMap((s) => s.fields ?? []).map((f) => f.text);
    expect(fields).toEqual([
      "*Model*\nthermal-comfort",
      "*Version*\nv3 (production was v2)",
      "*Environment*\nproduction",
      "*Revision*\nthermal-comfort-00042-abc",
      "*Canary*\npassed (10% → 50% → 100%)",
    ]);
    const metrics = p.sections.find((s) => s.text?.text.startsWith("*Metrics*"))!.text!.text;
    expect(metrics.split("\n")).toEqual([
      "*Metrics* (change against production v2)",
      "• macro_f1 0.6000 (▲ +0.0500 vs v2, better)",
      "• accuracy 0.6100 (▼ −0.0100 vs v2, worse)",
      "• log_loss 0.8000 (▼ −0.1000 vs v2, better)",
    ]);
    expect(p.actions!.elements.map((b) => [b.text.text, b.url])).toEqual([
      ["Workflow run", base.links!.run],
      ["Pull request", base.links!.pull_request],
      ["Service", base.links!.service],
    ]);
    expect(p.context.elements.map((e) => e.text)).toEqual(["commit <https://github.com/acme/tc/commit/0123456789abcdef|`0123456`>", "by octocat", "deploy · succeeded"]);
    expect(message.text).toBe("✅ thermal-comfort v3 deployed to production (macro_f1 0.6000 (▲ +0.0500 vs v2, better))");
  });

  it("success, failure, rollback and nothing-to-promote differ in colour, emoji and wording", () => {
    const looks = (["success", "failure", "rollback", "nothing_to_promote"] as const).map((status) => {
      const p = parts(build({ status, reason: status === "success" ? undefined : "5xx share 4.2% > 1% at 10%" }));
      return { color: p.color, emoji: [...p.header][0], header: p.header };
    });
    expect(new Set(looks.map((l) => l.color)).size).toBe(4);
    expect(new Set(looks.map((l) => l.emoji)).size).toBe(4);
    expect(looks[1]!.header).toBe("❌ Deploy of thermal-comfort v3 to production failed");
    expect(looks[2]!.header).toBe("⏪ thermal-comfort v3 rolled back in production");
    expect(looks[3]!.header).toBe("💤 thermal-comfort: nothing to promote");
  });

  it("a failure carries its reason, the mention and a red run button; the fallback text has the reason", () => {
    const message = build({ status: "failure", reason: "revision not ready: HEALTH_CHECK_CONTAINER_ERROR", mention: "<!here>", canary: undefined });
    const p = parts(message);
    expect(p.sections[0]!.text!.text).toBe("<!here>");
    expect(p.sections.some((s) => s.text?.text === "*Reason*\n```revision not ready: HEALTH_CHECK_CONTAINER_ERROR```")).toBe(true);
    expect(p.actions!.elements[0]).toMatchObject({ text: { text: "Workflow run" }, style: "danger" });
    expect(message.text).toMatch(/^<!here> ❌ .*: revision not ready: HEALTH_CHECK_CONTAINER_ERROR$/);
    // The mention is for failures only.
    expect(JSON.stringify(build({ mention: "<!here>" }))).not.toContain("<!here>");
  });

  it("the training workflow's wording: proposed for promotion, with the pull request as the primary button", () => {
    const p = parts(build({ stage: "train", environment: undefined, revision: undefined, canary: undefined, links: { pull_request: "https://github.com/acme/tc/pull/9" } }));
    expect(p.header).toBe("✅ thermal-comfort v3 proposed for promotion");
    expect(p.actions!.elements).toEqual([{ type: "button", text: { type: "plain_text", text: "Pull request", emoji: true }, url: "https://github.com/acme/tc/pull/9", action_id: "open-pull-request", style: "primary" }]);
  });

  it("escapes user-supplied text so it cannot mention @channel or inject links", () => {
    const message = build({ actor: "<!channel>", revision: "r&<x|y>" });
    const json = JSON.stringify(message);
    expect(json).not.toContain("<!channel>");
    expect(json).toContain("&lt;!channel&gt;");
    expect(json).toContain("r&amp;&lt;x|y&gt;");
  });

  it("a failed canary says where and why", () => {
    const p = parts(build({ status: "rollback", canary: { passed: false, steps: [10], failed_at: 10, reason: "p99 812 ms > 500 ms" } }));
    expect(p.sections[0]!.fields!.map((f) => f.text)).toContain("*Canary*\nfailed at 10%: p99 812 ms &gt; 500 ms (reached 10%)");
  });

  it("metricLine knows which way is better and says when nothing changed", () => {
    expect(metricLine("ece", 0.03, 0.05, 1)).toBe("ece 0.0300 (▼ −0.0200 vs v1, better)");
    expect(metricLine("macro_f1", 0.5, 0.5, 1)).toBe("macro_f1 0.5000 (= 0.5000 vs v1)");
    expect(metricLine("macro_f1", 0.5, undefined)).toBe("macro_f1 0.5000");
  });

  it("renders as readable console text from the same blocks", () => {
    const text = renderMessageText(build());
    expect(text).toContain("✅ thermal-comfort v3 deployed to production\n");
    expect(text).toContain("Version: v3 (production was v2)");
    expect(text).toContain("• macro_f1 0.6000 (▲ +0.0500 vs v2, better)");
    expect(text).toContain("Service: https://tc-xyz.a.run.app");
    expect(text).toContain("commit `0123456` (https://github.com/acme/tc/commit/0123456789abcdef)  ·  by octocat");
    expect(text).not.toMatch(/\*Model\*|&lt;|&amp;/);
  });
});

function version(v: number, tags: string[], macroF1: number): ModelVersion {
  return {
    version: v,
    created_at: "2026-11-01T00:00:00.000Z",
    artifact: { path: `models/m/v${v}/model.json`, sha256: "a".repeat(64) },
    data: { path: "d.csv", sha256: "b".repeat(64), rows: 10 },
    config_sha256: "c".repeat(64),
    git_sha: null,
    trainer: { name: "t", version: "1", seed: 1, candidate: "c" },
    metrics: { macro_f1: macroF1 },
    tags: tags as ModelVersion["tags"],
    deployments: [],
  };
}

describe("where the content comes from", () => {
  const registry: Registry = { version: 1, models: { m: { versions: [version(1, ["archived"], 0.5), version(2, ["validated", "archived"], 0.52), version(3, ["validated", "production"], 0.55), version(4, ["validated"], 0.57)] } } };

  it("previous production: the current production for a candidate, the last archived version for the production version itself", () => {
    expect(previousProduction(registry, "m", 4)?.version).toBe(3);
    expect(previousProduction(registry, "m", 3)?.version).toBe(2);
    expect(previousProduction(registry, "m", 1)?.version).toBe(3);
    const first: Registry = { version: 1, models: { m: { versions: [version(1, ["validated", "production"], 0.5)] } } };
    expect(previousProduction(first, "m", 1)).toBeUndefined();
    expect(previousProduction(registry, "nope", 1)).toBeUndefined();
  });

  it("links from the GitHub environment", () => {
    const links = gitHubLinks({ GITHUB_SERVER_URL: "https://github.example.com/", GITHUB_REPOSITORY: "acme/tc", GITHUB_RUN_ID: "991", GITHUB_RUN_ATTEMPT: "2", GITHUB_SHA: "abc1234", GITHUB_ACTOR: "octocat" });
    expect(links).toEqual({ server: "https://github.example.com", repository: "acme/tc", run: "https://github.example.com/acme/tc/actions/runs/991/attempts/2", commit: "abc1234", actor: "octocat" });
    expect(gitHubLinks({}).run).toBeUndefined();
  });

  it("reads a deploy result leniently: rollback, canary steps, revision and URL", () => {
    expect(
      deployFacts({
        status: "rolled_back",
        environment: "production",
        revisionName: "svc-00007-x",
        serviceUrl: "https://svc.run.app",
        canary: { steps: [{ percent: 10, passed: true }, { percent: 50, passed: false, reason: "class PSI 0.4 > 0.2" }] },
      }),
    ).toEqual({ status: "rollback", environment: "production", revision: "svc-00007-x", serviceUrl: "https://svc.run.app", canary: { passed: false, steps: [10, 50], failed_at: 50, reason: "class PSI 0.4 > 0.2" } });
    expect(deployFacts({ status: "succeeded" }).status).toBe("success");
  });

  it("reads pipeline/deploy's DeployResult: outcome, model, serviceUrl and top-level canary steps", () => {
    const facts = deployFacts({
      environment: "production",
      outcome: "rolled_back",
      reason: "canary at 10%: 5xx share 4.00% > 1.00%",
      model: { name: "thermal-comfort", version: 4, contentSha256: "c".repeat(64) },
      revision: "tc-00004-new",
      serviceUrl: "https://tc.run.app",
      tagUrl: "https://v4---tc.run.app",
      steps: [{ percent: 10, judgement: { passed: false, reason: "5xx share 4.00% > 1.00%", checks: [] }, heldSeconds: 60 }],
    });
    expect(facts).toEqual({
      status: "rollback",
      environment: "production",
      model: "thermal-comfort",
      version: 4,
      revision: "tc-00004-new",
      serviceUrl: "https://tc.run.app",
      reason: "canary at 10%: 5xx share 4.00% > 1.00%",
      canary: { passed: false, steps: [10], failed_at: 10, reason: "5xx share 4.00% > 1.00%" },
    });
    expect(deployFacts({ outcome: "deployed" }).status).toBe("success");
    expect(deployFacts({ outcome: "failed" }).status).toBe("failure");
  });

  it("builds the input from flags, environment, registry and deploy result; a failure with a rollback result is a rollback", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    const dir = await mkdtemp(join(tmpdir(), "notify-"));
    await writeFile(join(dir, "deploy.json"), JSON.stringify({ status: "rolled_back", environment: "production", revision: "tc-00003", url: "https://tc.run.app", reason: "canary failed" }));
    const reporter = recordingReporter();
    const input = await buildNotificationInput({
      request: { status: "failure", model: "m", deployResultPath: "deploy.json", pullRequest: "12" },
      config,
      root: dir,
      env: { GITHUB_REPOSITORY: "acme/tc", GITHUB_RUN_ID: "5", GITHUB_SHA: "feedface", GITHUB_ACTOR: "ana" },
      reporter,
      registry,
    });
    expect(input).toMatchObject({
      status: "rollback",
      model: "m",
      version: 3,
      metrics: { macro_f1: 0.55 },
      previous: { version: 2, metrics: { macro_f1: 0.52 } },
      environment: "production",
      revision: "tc-00003",
      reason: "canary failed",
      links: { run: "https://github.com/acme/tc/actions/runs/5", pull_request: "https://github.com/acme/tc/pull/12", service: "https://tc.run.app", commit: "https://github.com/acme/tc/commit/feedface" },
      commit: "feedface",
      actor: "ana",
    });
    expect(reporter.warnings).toEqual([]);
  });

  it("a missing deploy result or metrics file is a warning, and the message still goes out", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    const reporter = recordingReporter();
    const input = await buildNotificationInput({ request: { status: "failure", deployResultPath: "nope.json", metricsPath: "nope-metrics.json" }, config, root: PROJECT_ROOT, env: {}, reporter });
    expect(input.status).toBe("failure");
    expect(input.model).toBe(config.model.name);
    expect(reporter.warnings.join("\n")).toMatch(/nope\.json: cannot read the deploy result \(ENOENT\)/);
    expect(reporter.warnings.join("\n")).toMatch(/nope-metrics\.json: cannot read metrics \(ENOENT\)/);
  });

  it("the webhook comes from the variable the config names; empty means none", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    expect(slackWebhookFromEnvironment(config, { SLACK_WEBHOOK_URL: " https://hooks.example/x " })).toBe("https://hooks.example/x");
    expect(slackWebhookFromEnvironment(config, { SLACK_WEBHOOK_URL: "" })).toBeUndefined();
    expect(slackWebhookFromEnvironment(config, { OTHER: "u", SLACK_WEBHOOK_URL: "v" }, "OTHER")).toBe("u");
  });

  it("without a status from flags or a deploy result it is a usage error", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    await expect(buildNotificationInput({ request: {}, config, root: PROJECT_ROOT, env: {}, reporter: recordingReporter(), registry })).rejects.toThrow(/no status/);
  });
});
