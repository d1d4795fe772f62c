import { UsageError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import type { PipelineConfig } from "../config/schema.js";
import { withRegistryLock } from "../registry/lock.js";
import { readRegistry, REGISTRY_FILE, writeRegistry } from "../registry/store.js";
import { assertRegistryValid } from "../registry/check.js";
import type { ModelVersion, Registry } from "../registry/schema.js";
import { GitClient } from "./git.js";
import { DEFAULT_TOKEN_WARNING, type GitHubClient, type GitHubToken, type PullRequestRef } from "./github.js";
import { readMetricsView } from "./metrics-view.js";
import { prTitle, renderPrBody } from "./pr-body.js";
import { proposeRegistryChange } from "./propose.js";
import { moveProduction } from "./stage.js";

export interface RollbackInput {
  root: string;
  config: PipelineConfig;
  name: string;
  /** Target version; default: the previous production (the most recent archived, validated version). */
  to?: number;
  reason?: string;
  reporter: Reporter;
  git?: GitClient;
  github?: GitHubClient | null;
  openPr: boolean;
  token?: GitHubToken;
  remote?: string;
}

export interface RollbackResult {
  name: string;
  from: number | null;
  to: number;
  branch: string | null;
  commit: string | null;
  pullRequest: (PullRequestRef & { action: "created" | "updated" }) | null;
}

/** Picks and checks the version to roll back to. */
export function rollbackTarget(registry: Registry, name: string, to?: number): { target: ModelVersion; current: ModelVersion | null } {
  const model = registry.models[name];
  if (!model) throw new UsageError(`no model "${name}" in the registry (known: ${Object.keys(registry.models).join(", ") || "none"})`);
  const current = model.versions.find((v) => v.tags.includes("production")) ?? null;
  let target: ModelVersion | undefined;
  if (to !== undefined) {
    target = model.versions.find((v) => v.version === to);
    if (!target) throw new UsageError(`${name} has no version v${to} (known: ${model.versions.map((v) => `v${v.version}`).join(", ")})`);
    if (!target.tags.includes("validated")) throw new UsageError(`${name}@v${to} is not validated; only a validated version may be production`);
    if (target.version === current?.version) throw new UsageError(`${name}@v${to} is already production`);
  } else {
    target = [...model.versions]
      .filter((v) => v.tags.includes("archived") && v.tags.includes("validated") && v.version !== current?.version)
      .sort((a, b) => b.version - a.version)[0];
    if (!target) throw new UsageError(`${name} has no archived validated version to roll back to; name one with --to vN`);
  }
  return { target, current };
}

/**
 * Moves `production` back to an earlier version. Only tags change, so the change is the registry
 * file alone; with --open-pr it is a commit on `rollback/<name>-v<N>` and a PR reviewed like a promotion.
 */
export async function rollback(input: RollbackInput): Promise<RollbackResult> {
  const { root, config, name, reporter } = input;
  if (input.token) {
    reporter.secret(input.token.value);
    if (input.openPr && input.token.kind === "github_token") reporter.warning(DEFAULT_TOKEN_WARNING);
  }
  if (!input.openPr) {
    // One writer at a time: read, check and write the registry under its lock.
    return withRegistryLock(root, async () => {
      const registry = await readRegistry(root);
      await assertRegistryValid(root, registry, REGISTRY_FILE);
      const { target } = rollbackTarget(registry, name, input.to);
      const moved = moveProduction(registry, name, target.version);
      await writeRegistry(root, moved.registry);
      reporter.info(`${name}: production moves ${moved.replaced ? `from v${moved.replaced} ` : ""}to v${target.version} (written to ${root}/models/registry.yaml)`);
      reporter.output("version", String(target.version));
      return { name, from: moved.replaced, to: target.version, branch: null, commit: null, pullRequest: null };
    });
  }
  let picked: { from: number | null; to: number } | null = null;
  const result = await proposeRegistryChange({
    root,
    git: input.git ?? new GitClient(root),
    github: input.github ?? null,
    reporter,
    base: config.promotion.github.base_branch,
    remote: input.remote,
    headPrefix: `rollback/${name}-`,
    labels: [...config.promotion.github.labels, "rollback"],
    reviewers: config.promotion.github.reviewers,
    build: (start, base) => {
      // Tags are judged on the base branch: that is where production is today.
      const { target, current } = rollbackTarget(base, name, input.to);
      const moved = moveProduction(start, name, target.version, base);
      const challenger = moved.registry.models[name]!.versions.find((v) => v.version === target.version)!;
      picked = { from: moved.replaced, to: target.version };
      const title = prTitle({ name, kind: "rollback", challenger, champion: current });
      return {
        files: [],
        registry: moved.registry,
        commitMessage: `${title}\n\nMoves production of ${name} to v${target.version}${current ? ` and archives v${current.version}` : ""}.${input.reason ? `\n\nReason: ${input.reason}` : ""}`,
        title,
        body: renderPrBody({ name, kind: "rollback", challenger, challengerView: readMetricsView([challenger.metrics], []), artifact: null, champion: current, validation: null, drift: undefined, reason: input.reason }),
        branch: `rollback/${name}-v${target.version}`,
      };
    },
  });
  const p = picked as { from: number | null; to: number } | null;
  if (!p || !result) throw new Error("rollback plan was not built");
  reporter.output("version", String(p.to));
  reporter.output("branch", result.branch);
  if (result.pullRequest) {
    reporter.output("pull-request-number", String(result.pullRequest.number));
    reporter.output("pull-request-url", result.pullRequest.url);
  }
  return { name, from: p.from, to: p.to, branch: result.branch, commit: result.commit, pullRequest: result.pullRequest };
}
