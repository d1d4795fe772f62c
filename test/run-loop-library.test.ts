import { access, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { RegistrySchema } from "../pipeline/registry/schema.js";
import { runLoop } from "../pipeline/run.js";
import { scratchProject } from "./helpers/scratch-project.js";
import { startSlackReceiver } from "./helpers/slack-receiver.js";

/**
 * `runLoop` (pipeline/run.ts) called in process, the way the CLI's `pipeline run` calls it, so the
 * loop's own decisions are exercised where coverage can see them: the stage table, where it stops
 * and with which exit code, the notification every run ends with (failed runs too), the promotion
 * workspace that persists while models/ is unchanged, and a delivery stage whose failure is
 * contained (exit code, notification and report) instead of thrown.
 */

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

/** A scratch repository: the committed config and data, one small tree so a run takes seconds. */
async function scratchRepo(extraConfig: string[] = []): Promise<string> {
  const dir = await scratchProject({ prefix: "run-loop-lib-", candidates: ["{ name: tree-d6, algorithm: decision_tree, params: { max_depth: 6, min_samples_leaf: 5, class_weight: balanced } }"], extraConfig });
  roots.push(dir);
  return dir;
}

const FIXED_NOW = () => new Date("2026-12-01T09:00:00.000Z");

const stageTable = (stages: { name: string; exitCode: number; skipped?: string }[]) => stages.map((s) => [s.name, s.exitCode, s.skipped ?? null]);

describe("runLoop in process", () => {
  it("runs every stage, notifies Slack, writes the summary and report, and a second run finds nothing to promote in the same workspace", async () => {
    const root = await scratchRepo();
    const loaded = await loadConfig("config/quick.yaml", root);
    const slack = await startSlackReceiver();
    try {
      const reporter = recordingReporter();
      const env = { SLACK_WEBHOOK_URL: slack.webhookUrl, GITHUB_REPOSITORY: "", GITHUB_SERVER_URL: "", GITHUB_RUN_ID: "" };
      const first = await runLoop({ loaded, outDir: "out/run", reporter, image: "off", deploy: false, gitSha: "0123456789abcdef0123456789abcdef01234567", now: FIXED_NOW, env });
      expect(first.exitCode, reporter.errors.join("\n")).toBe(0);
      expect(first.stoppedAt).toBeNull();
      expect(stageTable(first.stages)).toEqual([
        ["validate-data", 0, null],
        ["train", 0, null],
        ["validate-model", 0, null],
        ["promote", 0, null],
        ["build-image", 0, "turned off (--no-image)"],
        ["deploy-local", 0, "turned off (--no-deploy)"],
        ["notify", 0, null],
      ]);
      expect(first.promotion).toMatchObject({ name: "thermal-comfort", version: 1, changed: true });
      expect(first.deploy).toBeNull();
      expect(first.service).toBeNull();
      expect(first.modelDir).toBe(join(root, "out/run/model"));
      expect(first.promotionWorkspace).toBe(join(root, "out/run/promotion"));
      // The trained model carries the commit it was given.
      const model = JSON.parse(await readFile(join(root, "out/run/model/model.json"), "utf8")) as { lineage: { git_sha: string | null } };
      expect(model.lineage.git_sha).toBe("0123456789abcdef0123456789abcdef01234567");

      // The notification went to the webhook (nothing printed, so notification.txt is empty) and says success.
      expect(slack.requests).toHaveLength(1);
      expect(slack.requests[0]!.status).toBe(200);
      expect(slack.requests[0]!.body).toContain("thermal-comfort");
      expect(await readFile(join(root, "out/run/notification.txt"), "utf8")).toBe("");

      const summary = await readFile(first.summaryPath, "utf8");
      expect(summary).toMatch(/\| build-image \| skipped: turned off \(--no-image\) \| 0\.0 \| `-` \|/);
      expect(summary).toMatch(/\| promote \| passed \| [\d.]+ \| `out\/run\/promotion\/models` \|/);
      const html = await readFile(first.reportPath, "utf8");
      expect(html).toContain("thermal-comfort: pipeline run");
      expect(html).toContain("2026-12-01T09:00:00.000Z");
      expect(html).not.toMatch(/<script|src="https?:/);

      // The repository's own models/ is untouched; the workspace registry has v1 as production.
      await expect(access(join(root, "models"))).rejects.toThrow();
      const registryPath = join(root, "out/run/promotion/models/registry.yaml");
      const registryText = await readFile(registryPath, "utf8");
      const registry = RegistrySchema.parse(parse(registryText));
      expect(registry.models["thermal-comfort"]!.versions.map((v) => v.version)).toEqual([1]);

      // Same data, same config, same seed: the same model, found in the kept workspace.
      const again = recordingReporter();
      const second = await runLoop({ loaded, outDir: "out/run", reporter: again, image: "off", deploy: false, gitSha: "0123456789abcdef0123456789abcdef01234567", now: FIXED_NOW, env });
      expect(second.exitCode, again.errors.join("\n")).toBe(0);
      expect(second.promotion).toMatchObject({ changed: false, sameAs: 1 });
      expect(again.infos.join("\n")).toContain("nothing to promote: the trained model is thermal-comfort@v1");
      expect(await readFile(registryPath, "utf8")).toBe(registryText);
      // notifications.slack.on is [success, failure, rollback]: "nothing to promote" is not posted.
      expect(slack.requests).toHaveLength(1);
      expect(again.infos).toContain('notify: not posting "nothing_to_promote" (notifications.slack.on is success, failure, rollback)');
    } finally {
      await slack.close();
    }
  }, 300_000);

  it("stops at validate-data with its exit code, trains nothing, and still notifies (printed) and reports", async () => {
    const root = await scratchRepo();
    const lines = (await readFile(join(root, "data/thermal-comfort.csv"), "utf8")).split("\n");
    await mkdir(join(root, "bad"), { recursive: true });
    // Every row a copy of the first: the duplicates gate fails.
    await writeFile(join(root, "bad/dup.csv"), [lines[0], ...Array.from({ length: 800 }, () => lines[1])].join("\n") + "\n");
    const loaded = await loadConfig("config/quick.yaml", root);
    const reporter = recordingReporter();
    const r = await runLoop({ loaded, outDir: "out/run", dataPath: "bad/dup.csv", reporter, image: "off", env: {} });
    expect(r.exitCode).toBe(1);
    expect(r.stoppedAt).toBe("validate-data");
    expect(stageTable(r.stages)).toEqual([
      ["validate-data", 1, null],
      ["notify", 0, null],
    ]);
    expect(r.modelDir).toBeNull();
    expect(r.promotion).toBeNull();
    await expect(access(join(root, "out/run/model"))).rejects.toThrow();
    const notification = await readFile(join(root, "out/run/notification.txt"), "utf8");
    expect(notification).toMatch(/fail/i);
    expect(notification).toContain("stopped at validate-data");
    expect(await readFile(r.summaryPath, "utf8")).toMatch(/\| validate-data \| failed \(exit 1\) \|/);
    expect(await readFile(r.reportPath, "utf8")).toContain("validate-data");
  }, 120_000);

  it("stops at validate-model when a gate fails, before anything is promoted", async () => {
    const root = await scratchRepo(["promotion:", "  gates:", "    absolute:", "      - { metric: macro_f1, threshold: 0.99 }"]);
    const loaded = await loadConfig("config/quick.yaml", root);
    const reporter = recordingReporter();
    const r = await runLoop({ loaded, outDir: "out/gated", reporter, image: "off", env: {} });
    expect(r.exitCode).toBe(1);
    expect(r.stoppedAt).toBe("validate-model");
    expect(stageTable(r.stages)).toEqual([
      ["validate-data", 0, null],
      ["train", 0, null],
      ["validate-model", 1, null],
      ["notify", 0, null],
    ]);
    expect(r.promotionWorkspace).toBeNull();
    await expect(access(join(root, "out/gated/promotion"))).rejects.toThrow();
    const report = JSON.parse(await readFile(join(root, "out/gated/model-validation.json"), "utf8")) as { passed: boolean; gates: { name: string; passed: boolean }[] };
    expect(report.passed).toBe(false);
    expect(report.gates.find((g) => g.name.includes("macro_f1") && !g.passed)).toBeDefined();
    expect(await readFile(join(root, "out/gated/notification.txt"), "utf8")).toContain("stopped at validate-model");
  }, 180_000);

  it("contains a local deploy whose server dies: exit 1 at deploy-local, with the reason, a notification and a report", async () => {
    const root = await scratchRepo();
    const loaded = await loadConfig("config/quick.yaml", root);
    const reporter = recordingReporter();
    // A "CLI" that exits at once instead of serving: the smoke test sees the server die.
    const r = await runLoop({ loaded, outDir: "out/run", reporter, image: "off", cliCommand: [process.execPath, "-e", "process.exit(3)"], env: {} });
    expect(r.exitCode).toBe(1);
    expect(r.stoppedAt).toBe("deploy-local");
    expect(stageTable(r.stages)).toEqual([
      ["validate-data", 0, null],
      ["train", 0, null],
      ["validate-model", 0, null],
      ["promote", 0, null],
      ["build-image", 0, "turned off (--no-image)"],
      ["deploy-local", 1, null],
      ["notify", 0, null],
    ]);
    expect(r.deploy?.result.outcome).toBe("failed");
    expect(r.deploy?.result.reason).toMatch(/the server exited \(code 3\)/);
    expect(r.service).toBeNull();
    const notification = await readFile(join(root, "out/run/notification.txt"), "utf8");
    expect(notification).toContain("stopped at deploy-local: the server exited (code 3)");
    const result = JSON.parse(await readFile(join(root, "out/run/deploy-local.json"), "utf8")) as { status: string; target: string };
    expect(result).toMatchObject({ status: "failed", target: "local" });
    expect(await readFile(r.summaryPath, "utf8")).toMatch(/\| deploy-local \| failed \(exit 1\) \|/);
  }, 180_000);
});
