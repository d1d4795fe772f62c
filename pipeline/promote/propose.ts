import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { emptyRegistry, parseRegistry, REGISTRY_FILE } from "../registry/store.js";
import type { Registry } from "../registry/schema.js";
import { authorFromEnv, GitClient } from "./git.js";
import type { GitHubClient, PullRequestRef } from "./github.js";
import { writeStaged, type StagedFile } from "./stage.js";

export interface ProposedChange {
  files: StagedFile[];
  registry: Registry;
  commitMessage: string;
  title: string;
  body: string;
  /** Branch for a new PR (an open PR of the same model keeps its own branch). */
  branch: string;
}

export interface ProposeInput {
  root: string;
  git: GitClient;
  github: GitHubClient | null;
  reporter: Reporter;
  base: string;
  remote?: string;
  /** Open PRs whose head starts with this belong to the same model and kind, e.g. `promote/thermal-comfort-`. */
  headPrefix: string;
  labels: string[];
  reviewers: string[];
  /** Builds the change from the registry at the start point (the base, or the open PR's head) and the base's registry. */
  build(start: Registry, base: Registry): Promise<ProposedChange> | ProposedChange;
}

export interface ProposeResult {
  change: ProposedChange;
  branch: string;
  commit: string;
  pullRequest: (PullRequestRef & { action: "created" | "updated" }) | null;
}

async function registryAt(git: GitClient, ref: string): Promise<Registry> {
  const text = await git.show(ref, REGISTRY_FILE);
  return text === null ? emptyRegistry() : parseRegistry(text, `${ref}:${REGISTRY_FILE}`);
}

/**
 * Commits a registry change on its own branch in a temporary worktree (the caller's checkout is
 * never touched), pushes it without force, and opens or updates the pull request.
 *
 * When a PR of the same model and kind is already open, the new commit goes on top of that PR's
 * branch (a fast-forward) and the PR's title and body are updated: one PR per model, its review
 * history kept, and the version it proposed stays registered so no number is ever reused.
 */
export async function proposeRegistryChange(input: ProposeInput): Promise<ProposeResult> {
  const { git, github, reporter, base } = input;
  const remote = input.remote ?? "origin";
  if (!(await git.isRepository())) throw new UsageError(`${input.root}: --open-pr needs a git repository with a remote "${remote}"`);
  if (!(await git.remoteUrl(remote))) throw new UsageError(`${input.root}: no git remote "${remote}" to push the branch to`);
  if (!(await git.fetchBranch(base, remote))) throw new UsageError(`the remote "${remote}" has no base branch "${base}"`);
  const baseRef = `refs/remotes/${remote}/${base}`;

  let existing = github ? await github.findOpenPullRequest(input.headPrefix, base) : null;
  if (existing && !(await git.fetchBranch(existing.head, remote))) {
    reporter.warning(`open PR #${existing.number} has no branch ${existing.head} on ${remote}; opening a new one`);
    existing = null;
  }
  const startRef = existing ? `refs/remotes/${remote}/${existing.head}` : baseRef;
  const baseRegistry = await registryAt(git, baseRef);
  const startRegistry = existing ? await registryAt(git, startRef) : baseRegistry;
  const change = await input.build(startRegistry, baseRegistry);
  const branch = existing?.head ?? change.branch;

  const dir = await mkdtemp(join(tmpdir(), "pipeline-propose-"));
  let commit: string;
  try {
    const tree = await git.addWorktree(dir, branch, startRef);
    await writeStaged(dir, change.files, change.registry);
    commit = await tree.commit(["models"], change.commitMessage, authorFromEnv());
    await tree.push(branch, remote);
  } finally {
    await git.removeWorktree(dir);
    await rm(dir, { recursive: true, force: true });
  }
  reporter.info(`pushed ${branch} (${commit.slice(0, 7)}) to ${remote}`);

  if (!github) {
    reporter.warning(`no GitHub token: the branch ${branch} was pushed but no pull request was opened; open one against ${base} to review the change`);
    return { change, branch, commit, pullRequest: null };
  }
  let pullRequest: ProposeResult["pullRequest"];
  if (existing) {
    await github.updatePullRequest(existing.number, { title: change.title, body: change.body });
    pullRequest = { ...existing, title: change.title, action: "updated" };
    reporter.info(`updated pull request #${existing.number}: ${existing.url}`);
  } else {
    const created = await github.createPullRequest({ title: change.title, body: change.body, head: branch, base });
    pullRequest = { ...created, action: "created" };
    reporter.info(`opened pull request #${created.number}: ${created.url}`);
    if (input.reviewers.length) await github.requestReviewers(created.number, input.reviewers);
  }
  await github.addLabels(pullRequest.number, input.labels);
  return { change, branch, commit, pullRequest };
}
