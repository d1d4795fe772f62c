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
