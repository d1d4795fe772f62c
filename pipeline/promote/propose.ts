import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { onInterrupt, removeNow } from "../core/cleanup.js";
import { UsageError } from "../core/errors.js";
import { assertRegistryValid } from "../registry/check.js";
import { withRegistryLock } from "../registry/lock.js";
import type { Reporter } from "../core/reporter.js";
import { emptyRegistry, parseRegistry, REGISTRY_FILE } from "../registry/store.js";
import type { Registry } from "../registry/schema.js";
import { authorFromEnv, GitClient } from "./git.js";
import type { GitHubClient, PullRequestRef } from "./github.js";
import { processAlive, writeStaged, type StagedFile } from "./stage.js";

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
  /**
   * Builds the change from the registry at the start point (the base, or the open PR's head) and the
   * base's registry; `tree` is a checkout of the start point (artifact files can be read there).
   * Null: nothing to change (the model is registered already); nothing is committed or pushed.
   */
  build(start: Registry, base: Registry, tree: string): Promise<ProposedChange | null> | ProposedChange | null;
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
export async function proposeRegistryChange(input: ProposeInput): Promise<ProposeResult | null> {
  const { git } = input;
  const remote = git.assertRemoteName(input.remote ?? "origin");
  const base = await git.assertBranchName(input.base, "promotion.github.base_branch");
  if (!(await git.isRepository())) throw new UsageError(`${input.root}: --open-pr needs a git repository with a remote "${remote}"`);
  if (!(await git.remoteUrl(remote))) throw new UsageError(`${input.root}: no git remote "${remote}" to push the branch to`);
  // One proposal at a time per repository: worktrees and local branches are shared by all checkouts.
  // The lock lives in the git directory, so the caller's checkout stays untouched.
  const lockPath = join(await git.commonDir(), "pipeline-propose.lock");
  return withRegistryLock(input.root, () => proposeLocked(input, remote, base), { lockPath });
}

async function proposeLocked(input: ProposeInput, remote: string, base: string): Promise<ProposeResult | null> {
  const { git, github, reporter } = input;
  await pruneStaleWorktrees(git, reporter);
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

  // The worktree's folder carries our pid, so a later run can tell a killed run's worktree from a live one.
  const dir = await mkdtemp(join(tmpdir(), `${WORKTREE_PREFIX}${process.pid}-`));
  const cleanupNow = () => {
    spawnSync("git", ["worktree", "remove", "--force", "--force", dir], { cwd: git.cwd, stdio: "ignore" });
    removeNow(dir);
    spawnSync("git", ["worktree", "prune"], { cwd: git.cwd, stdio: "ignore" });
  };
  const off = onInterrupt(cleanupNow);
  let commit: string;
  let change: ProposedChange | null;
  let branch: string;
  try {
    const tree = await git.addDetachedWorktree(dir, startRef);
    // The start branch's registry must pass its own check before anything is built on it.
    await assertRegistryValid(dir, startRegistry, `${startRef}:${REGISTRY_FILE}`);
    change = await input.build(startRegistry, baseRegistry, dir);
    if (!change) return null;
    branch = existing?.head ?? change.branch;
    await tree.checkoutBranch(branch);
    reporter.info(`staging the change on ${branch} in a temporary worktree`);
    await writeStaged(dir, change.files, change.registry);
    commit = await tree.commit(["models"], change.commitMessage, authorFromEnv());
    await tree.push(branch, remote);
  } finally {
    off();
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

/** Temporary worktrees of promotions and rollbacks: `<tmpdir>/pipeline-propose-<pid>-<random>`. */
export const WORKTREE_PREFIX = "pipeline-propose-";

/**
 * Removes worktrees a killed promotion left behind (SIGKILL cannot be caught): ours by name, whose
 * process no longer runs. Without this, the next promotion of the same version fails with "cannot
 * force update the branch … checked out at …" until someone removes it by hand.
 */
export async function pruneStaleWorktrees(git: GitClient, reporter?: Reporter): Promise<string[]> {
  const pruned: string[] = [];
  for (const path of await git.worktrees()) {
    const m = new RegExp(`^${WORKTREE_PREFIX}(\\d+)-`).exec(basename(path));
    if (!m || processAlive(Number(m[1]))) continue;
    await git.removeWorktree(path);
    await rm(path, { recursive: true, force: true });
    pruned.push(path);
  }
  await git.run(["worktree", "prune"]);
  if (pruned.length) reporter?.info(`removed ${pruned.length} stale worktree(s) of killed runs: ${pruned.join(", ")}`);
  return pruned;
}
