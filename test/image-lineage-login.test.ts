import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { InputError, PipelineError } from "../pipeline/core/errors.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { buildLineage, normaliseSourceUrl } from "../pipeline/image/lineage.js";
import { googleRegistryHosts, loginToRegistry } from "../pipeline/image/registry-login.js";
import { dockerEngineAvailable, runTool, runToolChecked, storageFromEnv, toolAvailable } from "../pipeline/image/tools.js";
import { git } from "./helpers/git.js";

/**
 * What an image build records and how it logs in to push: the lineage (commit, source URL and
 * SOURCE_DATE_EPOCH, from the Actions variables or from a real git checkout), the registry login
 * (the password only ever on stdin), and the tool runner the builds stream through.
 *
 * The login test puts recording stand-ins for `buildah` and `docker` first on PATH (the point is
 * what they receive: arguments and stdin), since a real login needs a registry with credentials.
 */

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function scratch(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

describe("build lineage", () => {
  let repo: string;
  let head: string;
  beforeAll(async () => {
    repo = await scratch("lineage-");
    await git(repo, "init", "-q", "-b", "main");
    await writeFile(join(repo, "README.md"), "x\n");
    await git(repo, "add", ".");
    const { execFileSync } = await import("node:child_process");
    execFileSync("git", ["commit", "-q", "-m", "init"], {
      cwd: repo,
      env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.test", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.test", GIT_AUTHOR_DATE: "@1764500000 +0000", GIT_COMMITTER_DATE: "@1764500000 +0000", GIT_CONFIG_GLOBAL: "/dev/null" },
    });
    head = (await git(repo, "rev-parse", "HEAD")).trim();
    await git(repo, "remote", "add", "origin", "git@github.com:octo/comfort.git");
  });

  it("outside Actions: HEAD, the origin remote as an https URL without credentials, and the commit's time", async () => {
    const lineage = await buildLineage(repo, {}, () => 0);
    expect(lineage).toEqual({ gitSha: head, sourceUrl: "https://github.com/octo/comfort", sourceDateEpoch: 1764500000 });
    await git(repo, "remote", "set-url", "origin", "https://x-access-token:ghs_secret0123456789@github.com/octo/comfort.git");
    expect((await buildLineage(repo, {}, () => 0)).sourceUrl).toBe("https://github.com/octo/comfort");
    await git(repo, "remote", "set-url", "origin", "git@github.com:octo/comfort.git");
  });

  it("in Actions: GITHUB_SHA, the server URL and repository, and SOURCE_DATE_EPOCH win over git", async () => {
    const sha = "f".repeat(40);
    const lineage = await buildLineage(repo, { GITHUB_SHA: sha, GITHUB_SERVER_URL: "https://github.example/", GITHUB_REPOSITORY: "team/comfort", SOURCE_DATE_EPOCH: "1700000000" });
    expect(lineage).toEqual({ gitSha: sha, sourceUrl: "https://github.example/team/comfort", sourceDateEpoch: 1700000000 });
    // A GITHUB_SHA that is not a full sha is ignored: HEAD is used.
    expect((await buildLineage(repo, { GITHUB_SHA: "main" })).gitSha).toBe(head);
  });

  it("outside a checkout: no sha, no URL, and the time is now", async () => {
    const plain = await scratch("no-git-");
    expect(await buildLineage(plain, {}, () => 1_764_600_000_999)).toEqual({ gitSha: null, sourceUrl: null, sourceDateEpoch: 1764600000 });
  });

  it("a SOURCE_DATE_EPOCH that is not whole seconds is refused, quoting it", async () => {
    for (const bad of ["soon", "1.5", "-1"]) {
      const e = await buildLineage(repo, { SOURCE_DATE_EPOCH: bad }).catch((error: unknown) => error);
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toBe(`SOURCE_DATE_EPOCH: expected whole seconds since 1970, got ${JSON.stringify(bad)}`);
    }
    // Empty is unset (GitHub passes "" for variables not given).
    expect((await buildLineage(repo, { SOURCE_DATE_EPOCH: "" })).sourceDateEpoch).toBe(1764500000);
  });

  it("normalises the remote URL forms", () => {
    expect(normaliseSourceUrl("git@gitlab.example:group/sub/repo.git")).toBe("https://gitlab.example/group/sub/repo");
    expect(normaliseSourceUrl("https://user:pw@github.com/o/r/")).toBe("https://github.com/o/r");
    expect(normaliseSourceUrl("/srv/git/comfort.git")).toBe("/srv/git/comfort.git");
  });
});

describe("registry login and the tool runner", () => {
  let bin: string;
  const savedPath = process.env.PATH;
  beforeAll(async () => {
    bin = await scratch("fake-bin-");
    // Records its arguments and stdin; exits with FAKE_EXIT (default 0), saying why on stderr.
    const script = (name: string) =>
      [
        "#!/bin/sh",
        `printf '%s\\n' "$@" > "${bin}/${name}.args"`,
        `cat > "${bin}/${name}.stdin"`,
        'if [ "$1" = "info" ]; then echo "${FAKE_DOCKER_VERSION:-}"; fi',
        'if [ "${FAKE_EXIT:-0}" != 0 ]; then echo "first line" >&2; echo "unauthorized: authentication required" >&2; fi',
        'exit "${FAKE_EXIT:-0}"',
      ].join("\n") + "\n";
    for (const name of ["buildah", "docker"]) {
      await writeFile(join(bin, name), script(name));
      await chmod(join(bin, name), 0o755);
    }
  });
  afterEach(() => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_EXIT;
    delete process.env.FAKE_DOCKER_VERSION;
  });
  const useFakes = () => {
    process.env.PATH = `${bin}${delimiter}${savedPath}`;
  };

  it("buildah login gets the password on stdin only, with the storage flags, and the password is a secret", async () => {
    useFakes();
    const reporter = recordingReporter();
    await loginToRegistry({ host: "europe-docker.pkg.dev", engine: "buildah", password: "ya29.access-token-value", reporter, storage: { root: "/var/tmp/store", runroot: "/run/store" } });
    const args = (await readFile(join(bin, "buildah.args"), "utf8")).trim().split("\n");
    expect(args).toEqual(["--storage-driver", "vfs", "--root", "/var/tmp/store", "--runroot", "/run/store", "login", "--username", "oauth2accesstoken", "--password-stdin", "europe-docker.pkg.dev"]);
    expect(args.join(" ")).not.toContain("ya29");
    expect(await readFile(join(bin, "buildah.stdin"), "utf8")).toBe("ya29.access-token-value\n");
    expect(reporter.secrets).toEqual(["ya29.access-token-value"]);
    expect(reporter.infos).toEqual(["logged in to europe-docker.pkg.dev as oauth2accesstoken (buildah)"]);
  });

  it("a refused docker login is exit 2 with the registry role to grant, and the tool's last line as the error", async () => {
    useFakes();
    process.env.FAKE_EXIT = "1";
    const reporter = recordingReporter();
    const e = await loginToRegistry({ host: "gcr.io", engine: "docker", password: "pw-value", reporter }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as PipelineError).exitCode).toBe(2);
    expect((e as Error).message).toBe("docker login gcr.io failed (exit 1): check that the deploy identity has roles/artifactregistry.writer on the repository");
    expect(reporter.errors).toEqual(["docker login gcr.io: unauthorized: authentication required"]);
    expect((await readFile(join(bin, "docker.args"), "utf8")).trim().split("\n")).toEqual(["login", "--username", "oauth2accesstoken", "--password-stdin", "gcr.io"]);
  });

  it("only Google's registries get the token login", () => {
    expect(googleRegistryHosts(["europe-docker.pkg.dev/p/r/img:1", "gcr.io/p/img:1", "eu.gcr.io/p/img", "127.0.0.1:5000/img:1", "ghcr.io/o/img:1", "europe-docker.pkg.dev/p/r/other:2"])).toEqual(["europe-docker.pkg.dev", "gcr.io", "eu.gcr.io"]);
  });

  it("a Docker engine counts only when `docker info` answers with a version", async () => {
    useFakes();
    process.env.FAKE_DOCKER_VERSION = "27.3.1";
    expect(await dockerEngineAvailable()).toBe(true);
    process.env.FAKE_DOCKER_VERSION = "";
    expect(await dockerEngineAvailable()).toBe(false);
    process.env.FAKE_EXIT = "1";
    process.env.FAKE_DOCKER_VERSION = "27.3.1";
    expect(await dockerEngineAvailable()).toBe(false);
    process.env.PATH = bin.replace(/[^/]+$/, "no-such-dir");
    expect(await dockerEngineAvailable()).toBe(false);
  });

  it("runTool streams whole lines from both streams, including a last line without a newline", async () => {
    const lines: string[] = [];
    const r = await runTool(process.execPath, ["-e", "process.stdout.write('STEP 1/2\\nSTEP 2'); process.stdout.write('/2\\n\\n'); process.stderr.write('warn: x\\ntail without newline')"], { onLine: (l) => lines.push(l) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("STEP 1/2\nSTEP 2/2\n\n");
    expect(lines.sort()).toEqual(["STEP 1/2", "STEP 2/2", "tail without newline", "warn: x"]);
  });

  it("runTool kills a tool that runs past its timeout; runToolChecked names the step and the stderr tail", async () => {
    const slow = await runTool(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { timeoutMs: 200 });
    expect(slow.code).toBe(128);
    const e = await runToolChecked(process.execPath, ["-e", "console.error('line 1'); console.error('no space left on device'); process.exit(3)"], { what: "buildah bud" }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as PipelineError).exitCode).toBe(1);
    expect((e as Error).message).toBe("buildah bud failed (exit 3):\nline 1\nno space left on device");
    await expect(runTool("no-such-tool-xyz", [])).rejects.toThrow("no-such-tool-xyz is not installed (not found on PATH)");
    expect(await toolAvailable("no-such-tool-xyz")).toBe(false);
    expect(await toolAvailable("git")).toBe(true);
    expect(await toolAvailable(process.execPath, ["-e", "process.exit(1)"])).toBe(false);
  });

  it("buildah storage comes from the environment, empty values unset", () => {
    expect(storageFromEnv({ PIPELINE_BUILDAH_ROOT: "/var/tmp/b", PIPELINE_BUILDAH_RUNROOT: "" })).toEqual({ root: "/var/tmp/b", runroot: undefined });
    expect(storageFromEnv({})).toEqual({ root: undefined, runroot: undefined });
  });
});
