import { execFile } from "node:child_process";

/** The commit being trained: GITHUB_SHA in Actions, else `git rev-parse HEAD`, else null (not a checkout). */
export function currentGitSha(root: string): Promise<string | null> {
  const fromEnv = process.env.GITHUB_SHA;
  if (fromEnv && /^[0-9a-f]{40}$/.test(fromEnv)) return Promise.resolve(fromEnv);
  return new Promise((resolvePromise) => {
    execFile("git", ["rev-parse", "HEAD"], { cwd: root }, (error, stdout) => {
      const sha = stdout?.trim();
      resolvePromise(!error && /^[0-9a-f]{40}$/.test(sha) ? sha : null);
    });
  });
}

/**
 * The committer time of `sha` (the commit being trained): what `train` records as
 * lineage.created_at when SOURCE_DATE_EPOCH is not set, so two runs on the same commit write
 * byte-identical artifacts. Null outside a checkout (then the step uses the current time).
 */
export function commitTime(root: string, sha: string | null): Promise<Date | null> {
  if (!sha) return Promise.resolve(null);
  return new Promise((resolvePromise) => {
    execFile("git", ["show", "-s", "--format=%ct", "--end-of-options", sha], { cwd: root }, (error, stdout) => {
      const seconds = Number(stdout?.trim());
      resolvePromise(!error && Number.isInteger(seconds) && seconds > 0 ? new Date(seconds * 1000) : null);
    });
  });
}
