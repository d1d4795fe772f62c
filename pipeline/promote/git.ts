import { spawn } from "node:child_process";
import { GateFailure, InputError, PipelineError } from "../core/errors.js";

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

  async headSha(): Promise<string> {
    return (await this.git(["rev-parse", "HEAD"])).trim();
  }

  async remoteUrl(remote = "origin"): Promise<string | null> {
    const r = await this.run(["remote", "get-url", remote]);
    return r.code === 0 ? r.stdout.trim() : null;
  }

  /** Fetches a branch into refs/remotes/<remote>/<branch>; false when the remote has no such branch. */
  async fetchBranch(branch: string, remote = "origin"): Promise<boolean> {
    const r = await this.run(["fetch", "--no-tags", remote, `+refs/heads/${branch}:refs/remotes/${remote}/${branch}`]);
    if (r.code === 0) return true;
    if (/couldn't find remote ref|not our ref|no such ref/i.test(r.stderr)) return false;
    throw new InputError(`git fetch ${remote} ${branch} failed: ${r.stderr.trim()}`);
  }

  /** `git show REF:PATH`, or null when the path does not exist at that ref. */
  async show(ref: string, path: string): Promise<string | null> {
    const r = await this.run(["show", `${ref}:${path}`]);
    if (r.code === 0) return r.stdout;
    if (/does not exist in|exists on disk, but not in/i.test(r.stderr)) return null;
    if (/invalid object name|unknown revision|bad revision|not a valid object name/i.test(r.stderr)) throw new InputError(`git show ${ref}:${path}: unknown ref "${ref}"`);
    throw new InputError(`git show ${ref}:${path} failed: ${r.stderr.trim()}`);
  }

  /** A separate checkout of `startPoint` on a new (or reset) local branch, leaving the caller's tree alone. */
  async addWorktree(path: string, branch: string, startPoint: string): Promise<GitClient> {
    await this.git(["worktree", "add", "--force", "-B", branch, path, startPoint]);
    return this.at(path);
  }

  async removeWorktree(path: string): Promise<void> {
    await this.run(["worktree", "remove", "--force", path]);
    await this.run(["worktree", "prune"]);
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
    const r = await this.run(["push", "--porcelain", remote, `refs/heads/${branch}:refs/heads/${branch}`]);
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
