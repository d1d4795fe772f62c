import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "./cli.js";

const exec = promisify(execFile);

export const TEST_GIT_ENV = {
  GIT_AUTHOR_NAME: "Test Author",
  GIT_AUTHOR_EMAIL: "author@example.test",
  GIT_COMMITTER_NAME: "Test Author",
  GIT_COMMITTER_EMAIL: "author@example.test",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
};

/** Runs git and returns stdout; throws with stderr on failure. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec("git", args, { cwd, env: { ...process.env, ...TEST_GIT_ENV } });
  return stdout;
}

export interface TestRepo {
  /** The bare repository playing GitHub. */
  remote: string;
  /** A clone with the project's config committed on main. */
  work: string;
  /** Clones the remote again (another runner, another developer). */
  clone(name: string): Promise<string>;
}

/**
 * A real repository with a bare remote: `git init --bare`, a clone, an initial commit with
 * config/pipeline.yaml on main, pushed. Everything lives under a fresh temporary directory.
 */
export async function makeTestRepo(): Promise<TestRepo> {
  const base = await mkdtemp(join(tmpdir(), "git-test-"));
  const remote = join(base, "remote.git");
  await git(base, "init", "-q", "--bare", "-b", "main", remote);
  const clone = async (name: string) => {
    const dir = join(base, name);
    await git(base, "clone", "-q", remote, dir);
    return dir;
  };
  const work = join(base, "work");
  await git(base, "init", "-q", "-b", "main", work);
  await git(work, "remote", "add", "origin", remote);
  await mkdir(join(work, "config"), { recursive: true });
  await copyFile(join(PROJECT_ROOT, "config/pipeline.yaml"), join(work, "config/pipeline.yaml"));
  await git(work, "add", ".");
  await git(work, "commit", "-q", "-m", "initial");
  await git(work, "push", "-q", "origin", "main");
  return { remote, work, clone };
}

/** The content of a file on a branch of the bare remote, or null. */
export async function remoteFile(remote: string, ref: string, path: string): Promise<string | null> {
  try {
    return await git(remote, "show", `${ref}:${path}`);
  } catch {
    return null;
  }
}
