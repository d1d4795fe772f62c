import { describe, expect, it } from "vitest";
import { readFile, writeFile, mkdir, access } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { runCli } from "./helpers/cli.js";
import { scratchProject } from "./helpers/scratch-project.js";
import { RegistrySchema } from "../pipeline/registry/schema.js";

/** A scratch repository: the committed config and data, with small candidates so the loop is quick. */
const scratchRepo = () => scratchProject({ prefix: "run-loop-" });

describe("pipeline run (the whole loop)", () => {
  it("validates, trains, gates, promotes into a preview workspace, deploys locally and smoke-tests, without touching models/", async () => {
    const repo = await scratchRepo();
    const r = await runCli(["run", "--config", "config/quick.yaml", "--no-image", "--json"], { cwd: repo });
    expect(r.stderr).toContain("the whole loop passed");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
      stages: { name: string; exitCode: number; skipped?: string }[];
      promotion: { version: number; changed: boolean };
      deploy: { outcome: string; url: string };
      report: string;
    };
    expect(result.stages.map((s) => [s.name, s.exitCode, s.skipped ?? null])).toEqual([
      ["validate-data", 0, null],
      ["train", 0, null],
      ["validate-model", 0, null],
      ["promote", 0, null],
      ["build-image", 0, "turned off (--no-image)"],
      ["deploy-local", 0, null],
      ["notify", 0, null],
    ]);
    expect(result.promotion).toEqual({ name: "thermal-comfort", version: 1, changed: true, sameAs: null });
    // The local service answered the smoke predictions as the promoted version, then was stopped.
    expect(result.deploy.outcome).toBe("deployed");
    const deployed = JSON.parse(await readFile(join(repo, "out/run/deploy-local.json"), "utf8")) as { status: string; smoke: { passed: boolean; checks: { name: string; passed: boolean }[] } };
    expect(deployed.smoke.passed).toBe(true);
    expect(deployed.smoke.checks.filter((c) => c.name.startsWith("predict")).length).toBeGreaterThanOrEqual(2);
    await expect(fetch(`${result.deploy.url}/health`)).rejects.toThrow();
    // Without a webhook the notification is printed (and kept beside the reports).
    expect(r.stderr).toContain("Model: thermal-comfort");
    expect(await readFile(join(repo, "out/run/notification.txt"), "utf8")).toContain("thermal-comfort");
    // The HTML report is self-contained: no script, no external URL to load.
    const html = await readFile(join(repo, result.report), "utf8");
    expect(html).toContain("<svg");
    expect(html).not.toMatch(/<script|src="https?:|href="https?:/);
    // The promotion happened in the preview workspace, with a registry that passes its schema.
    const registry = RegistrySchema.parse(parse(await readFile(join(repo, "out/run/promotion/models/registry.yaml"), "utf8")));
    const versions = registry.models["thermal-comfort"]!.versions;
    // No production model existed, so the promotion makes the first validated version production.
    expect(versions.map((v) => [v.version, [...v.tags].sort()])).toEqual([[1, ["production", "validated"]]]);
    await expect(access(join(repo, "out/run/promotion/models/thermal-comfort/v1/card.md"))).resolves.toBeUndefined();
    // The repository's own models/ was not created or edited by a local run.
    await expect(access(join(repo, "models"))).rejects.toThrow();
    const summary = await readFile(join(repo, "out/run/summary.md"), "utf8");
    expect(summary).toMatch(/\| validate-model \| passed \|/);
  }, 240_000);

  it("stops at validate-data with exit 1 when the data fails, and trains nothing", async () => {
    const repo = await scratchRepo();
    await mkdir(join(repo, "bad"), { recursive: true });
    // Every row is a duplicate of the first: the duplicates gate fails.
    const lines = (await readFile(join(repo, "data/thermal-comfort.csv"), "utf8")).split("\n");
    await writeFile(join(repo, "bad/dup.csv"), [lines[0], ...Array.from({ length: 800 }, () => lines[1])].join("\n") + "\n");
    const r = await runCli(["run", "--config", "config/quick.yaml", "--data", "bad/dup.csv", "--no-image"], { cwd: repo });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("stopped at validate-data");
    await expect(access(join(repo, "out/run/model/model.json"))).rejects.toThrow();
    // A failed run still notifies (as a failure) and writes its report.
    expect(await readFile(join(repo, "out/run/notification.txt"), "utf8")).toMatch(/fail/i);
    await expect(access(join(repo, "out/run/report.html"))).resolves.toBeUndefined();
  }, 120_000);

  it("exits 2 on a config that does not parse", async () => {
    const repo = await scratchRepo();
    await writeFile(join(repo, "config/broken.yaml"), "extends: pipeline.yaml\nsplit: { test_share: 2 }\n");
    const r = await runCli(["run", "--config", "config/broken.yaml"], { cwd: repo });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/split\.test_share: expected a number < 1, got 2/);
  }, 60_000);
});

describe("pipeline run in a git checkout", () => {
  it("records the commit it trained in the model's lineage", async () => {
    const { execFileSync } = await import("node:child_process");
    const repo = await scratchRepo();
    const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.test", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.test", GITHUB_SHA: "" };
    execFileSync("git", ["init", "-q", "-b", "main"], { cwd: repo, env });
    execFileSync("git", ["add", "."], { cwd: repo, env });
    execFileSync("git", ["commit", "-q", "-m", "init"], { cwd: repo, env });
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: repo, env, encoding: "utf8" }).trim();
    const r = await runCli(["run", "--config", "config/quick.yaml", "--no-image", "--no-deploy"], { cwd: repo, env });
    expect(r.code, r.stderr).toBe(0);
    const model = JSON.parse(await readFile(join(repo, "out/run/model/model.json"), "utf8")) as { lineage: { git_sha: string | null } };
    expect(model.lineage.git_sha).toBe(head);
  }, 240_000);
});

describe("pipeline run twice", () => {
  it("ends the second run of an unchanged model with nothing to promote, exit 0, and registers nothing new", async () => {
    const repo = await scratchRepo();
    const first = await runCli(["run", "--config", "config/quick.yaml", "--no-image", "--no-deploy"], { cwd: repo });
    expect(first.code, first.stderr).toBe(0);
    const registryPath = join(repo, "out/run/promotion/models/registry.yaml");
    const before = await readFile(registryPath, "utf8");
    const second = await runCli(["run", "--config", "config/quick.yaml", "--no-image", "--no-deploy", "--json"], { cwd: repo });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain("nothing to promote, the trained model is thermal-comfort@v1");
    const result = JSON.parse(second.stdout.trim().split("\n").pop()!) as { promotion: { changed: boolean; sameAs: number } };
    expect(result.promotion).toMatchObject({ changed: false, sameAs: 1 });
    expect(await readFile(registryPath, "utf8")).toBe(before);
    expect(await readFile(join(repo, "out/run/notification.txt"), "utf8")).toContain("nothing to promote");
  }, 480_000);
});
