import { spawn } from "node:child_process";
import { GateFailure, InputError, PipelineError, UsageError } from "../core/errors.js";

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GitAuthor {
  name: string;
  email: string;
}

export const BOT_AUTHOR: GitAuthor = { name: "gitops-ml-pipeline bot", email: "gitops-ml-pipeline-bot@users.noreply.github.com" };

/** The commit author: GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL when set (git's own variables), else the bot. */
export function authorFromEnv(env: NodeJS.ProcessEnv = process.env): GitAuthor {
  return { name: env.GIT_AUTHOR_NAME || BOT_AUTHOR.name, email: env.GIT_AUTHOR_EMAIL || BOT_AUTHOR.email };
}

/** A push the remote refused because the branch moved: someone else promoted first. */
export class PushRejectedError extends GateFailure {}

/**
 * Real git, spawned. No library: the behaviour that matters here (fast-forward checks, refusal
 * of a racing push) is the git binary's, and tests run it against real repositories.
 */
export class GitClient {
  constructor(
    readonly cwd: string,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  at(cwd: string): GitClient {
    return new GitClient(cwd, this.env);
  }

  run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<GitResult> {
    return new Promise((resolve, reject) => {
      const child = spawn("git", args, {
        cwd: this.cwd,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C", ...this.env, ...extraEnv },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", (error) => reject(new PipelineError(`cannot run git: ${error.message}`)));
      child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  async git(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
    const r = await this.run(args, extraEnv);
    if (r.code !== 0) throw new PipelineError(`git ${args[0]} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`, 1);
    return r.stdout;
  }

  async isRepository(): Promise<boolean> {
    const r = await this.run(["rev-parse", "--is-inside-work-tree"]);
    return r.code === 0 && r.stdout.trim() === "true";
  }

  async topLevel(): Promise<string> {
    return (await this.git(["rev-parse", "--show-toplevel"])).trim();
  }

  /** The repository's shared git directory (the same for every worktree), absolute. */
  async commonDir(): Promise<string> {
    return (await this.git(["rev-parse", "--path-format=absolute", "--git-common-dir"])).trim();
  }

  async headSha(): Promise<string> {
    return (await this.git(["rev-parse", "HEAD"])).trim();
  }

  async remoteUrl(remote = "origin"): Promise<string | null> {
    this.assertRemoteName(remote);
    const r = await this.run(["remote", "get-url", remote]);
    return r.code === 0 ? r.stdout.trim() : null;
  }

  /**
   * A branch name from a config, an input or the API, checked with `git check-ref-format --branch`
   * before it goes anywhere near a git command line (a name starting with "-" would be an option).
   */
  async assertBranchName(name: string, what = "branch"): Promise<string> {
    if (name === "") throw new UsageError(`${what}: an empty name is not a branch`);
    if (name.startsWith("-")) throw new UsageError(`${what} "${name}": a branch name cannot start with "-"`);
    const r = await this.run(["check-ref-format", "--branch", name]);
    if (r.code !== 0) throw new UsageError(`${what} "${name}": not a valid branch name (git check-ref-format)`);
    return name;
  }

  /** A remote's name: letters, digits, ".", "_" and "-", not starting with "-". */
  assertRemoteName(name: string): string {
    if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(name)) throw new UsageError(`remote "${name}": expected a git remote name like origin`);
    return name;
  }

  /**
   * Resolves a revision given by a user (`--base`) to a commit sha. Empty is an error (never "skip the
   * comparison"); `--end-of-options` makes sure a value like `--output=FILE` is a revision, not an option.
   */
  async resolveCommit(ref: string, what = "ref"): Promise<string> {
    if (ref.trim() === "") throw new UsageError(`${what}: empty; name a branch, tag or commit (e.g. origin/main)`);
    if (ref.startsWith("-")) throw new UsageError(`${what} "${ref}": a git revision cannot start with "-"`);
    const r = await this.run(["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`]);
    const sha = r.stdout.trim();
    if (r.code !== 0 || !/^[0-9a-f]{40,64}$/.test(sha)) throw new InputError(`${what} "${ref}": unknown revision (not a branch, tag or commit of this repository)`);
    return sha;
  }

  /** Fetches a branch into refs/remotes/<remote>/<branch>; false when the remote has no such branch. */
  async fetchBranch(branch: string, remote = "origin"): Promise<boolean> {
    await this.assertBranchName(branch);
    this.assertRemoteName(remote);
    const r = await this.run(["fetch", "--no-tags", "--end-of-options", remote, `+refs/heads/${branch}:refs/remotes/${remote}/${branch}`]);
    if (r.code === 0) return true;
    if (/couldn't find remote ref|not our ref|no such ref/i.test(r.stderr)) return false;
    throw new InputError(`git fetch ${remote} ${branch} failed: ${r.stderr.trim()}`);
  }

  /** `git show REF:PATH`, or null when the path does not exist at that ref. */
  async show(ref: string, path: string): Promise<string | null> {
    if (ref === "" || ref.startsWith("-")) throw new UsageError(`git show: "${ref}" is not a revision`);
    const r = await this.run(["show", "--end-of-options", `${ref}:${path}`]);
    if (r.code === 0) return r.stdout;
    if (/does not exist in|exists on disk, but not in/i.test(r.stderr)) return null;
    if (/invalid object name|unknown revision|bad revision|not a valid object name/i.test(r.stderr)) throw new InputError(`git show ${ref}:${path}: unknown ref "${ref}"`);
    throw new InputError(`git show ${ref}:${path} failed: ${r.stderr.trim()}`);
  }

  /** A separate checkout of `startPoint` on a new (or reset) local branch, leaving the caller's tree alone. */
  async addWorktree(path: string, branch: string, startPoint: string): Promise<GitClient> {
    await this.assertBranchName(branch);
    await this.git(["worktree", "add", "--force", "-B", branch, path, await this.resolveCommit(startPoint, "start point")]);
    return this.at(path);
  }

  /** A detached checkout of `startPoint` (the branch is chosen later, with checkoutBranch). */
  async addDetachedWorktree(path: string, startPoint: string): Promise<GitClient> {
    await this.git(["worktree", "add", "--force", "--detach", path, await this.resolveCommit(startPoint, "start point")]);
    return this.at(path);
  }

  /** In a worktree: create or reset `branch` to HEAD and check it out. */
  async checkoutBranch(branch: string): Promise<void> {
    await this.assertBranchName(branch);
    await this.git(["checkout", "-q", "-B", branch]);
  }

  async removeWorktree(path: string): Promise<void> {
    await this.run(["worktree", "remove", "--force", "--force", path]);
    await this.run(["worktree", "prune"]);
  }

  /** Paths of this repository's worktrees (the main one included). */
  async worktrees(): Promise<string[]> {
    const r = await this.run(["worktree", "list", "--porcelain"]);
    if (r.code !== 0) return [];
    return r.stdout
      .split("\n")
      .filter((l) => l.startsWith("worktree "))
      .map((l) => l.slice("worktree ".length));
  }

  async commit(paths: string[], message: string, author: GitAuthor): Promise<string> {
    await this.git(["add", "--", ...paths]);
    const who = { GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email, GIT_COMMITTER_NAME: process.env.GIT_COMMITTER_NAME || author.name, GIT_COMMITTER_EMAIL: process.env.GIT_COMMITTER_EMAIL || author.email };
    await this.git(["-c", "commit.gpgsign=false", "commit", "--no-verify", "-q", "-m", message], who);
    return this.headSha();
  }

  /**
   * Pushes without force. A non-fast-forward rejection means the branch moved since we started:
   * another promotion of the same version landed. That is reported, never overwritten.
   */
  async push(branch: string, remote = "origin"): Promise<void> {
    await this.assertBranchName(branch);
    this.assertRemoteName(remote);
    const r = await this.run(["push", "--porcelain", "--end-of-options", remote, `refs/heads/${branch}:refs/heads/${branch}`]);
    if (r.code === 0) return;
    const text = `${r.stdout}\n${r.stderr}`;
    if (/\[rejected\]|non-fast-forward|fetch first|\(stale info\)|already exists/i.test(text)) {
      throw new PushRejectedError(
        `git rejected the push of ${branch} to ${remote} (non-fast-forward): another promotion landed on that branch since this one started. ` +
          "Nothing was overwritten and no version was lost; run the promotion again on the new base to register the next version " +
          `(if ${branch} is left over from a closed pull request, delete that branch first).`,
      );
    }
    throw new PipelineError(`git push ${remote} ${branch} failed: ${r.stderr.trim() || r.stdout.trim()}`, 1);
  }
}
