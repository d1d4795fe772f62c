import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { GitClient, PushRejectedError } from "../pipeline/promote/git.js";
import type { GitHubClient, PullRequestRef } from "../pipeline/promote/github.js";
import { promote } from "../pipeline/promote/index.js";
import { rollback } from "../pipeline/promote/rollback.js";
import { checkRegistry } from "../pipeline/registry/check.js";
import { parseRegistry, readRegistry } from "../pipeline/registry/store.js";
import { runCli } from "./helpers/cli.js";
import { git, makeTestRepo, remoteFile } from "./helpers/git.js";
import { startScriptedServer } from "./helpers/github-mock.js";
import { boundValidationReport, dataReport, testConfig, writeModelDir } from "./helpers/registry-fixtures.js";

const writeJson = async (value: unknown) => {
  const file = join(await mkdtemp(join(tmpdir(), "report-")), "model-validation.json");
  await writeFile(file, JSON.stringify(value));
  return file;
};
const modelDir = async (seed: number) => writeModelDir(join(await mkdtemp(join(tmpdir(), "train-out-")), "out"), { seed });

/** An in-memory GitHub that records calls; `open` is what findOpenPullRequest answers. */
function fakeGitHub(open: PullRequestRef | null = null) {
  const calls: string[] = [];
  const bodies: string[] = [];
  const client: GitHubClient = {
    findOpenPullRequest: async (prefix, base) => (calls.push(`find ${prefix} ${base}`), open && open.head.startsWith(prefix) ? open : null),
    createPullRequest: async ({ title, head, base, body }) => (calls.push(`create ${head}->${base}: ${title}`), bodies.push(body), { number: 11, url: "https://github.test/pr/11", head, title }),
    updatePullRequest: async (n, { title, body }) => void (calls.push(`update #${n}: ${title}`), bodies.push(body)),
    closePullRequest: async (n) => void calls.push(`close #${n}`),
    addLabels: async (n, labels) => void calls.push(`labels #${n}: ${labels.join(",")}`),
    requestReviewers: async (n, r) => void calls.push(`reviewers #${n}: ${r.join(",")}`),
  };
  return { client, calls, bodies };
}

async function promoteIn(work: string, seed: number, github: GitHubClient | null = null, extra: { dataReport?: object } = {}) {
  const reporter = recordingReporter();
  const dir = await modelDir(seed);
  const result = await promote({ root: work, config: testConfig(), modelPath: dir, validationReport: await boundValidationReport(dir, testConfig()), reporter, git: new GitClient(work), github, openPr: true, ...extra });
  return { result, reporter };
}

async function remoteRegistry(remote: string, ref: string) {
  const text = await remoteFile(remote, ref, "models/registry.yaml");
  return text === null ? null : parseRegistry(text);
}

describe("promotion with real git (bare remote)", () => {
  it("commits the version on promote/<name>-v<N> from the base, pushes it, and leaves the checkout alone", async () => {
    const repo = await makeTestRepo();
    const mainHead = (await git(repo.work, "rev-parse", "HEAD")).trim();
    const { result, reporter } = await promoteIn(repo.work, 1);
    expect(result).toMatchObject({ version: 1, branch: "promote/thermal-comfort-v1", pullRequest: null });
    const ref = "refs/heads/promote/thermal-comfort-v1";
    expect((await git(repo.remote, "rev-parse", ref)).trim()).toBe(result.commit);
    expect((await git(repo.remote, "rev-parse", `${ref}^`)).trim()).toBe(mainHead);
    const files = (await git(repo.remote, "show", "--name-only", "--format=", ref)).trim().split("\n").sort();
    expect(files).toEqual([
      "models/registry.yaml",
      "models/thermal-comfort/v1/card.md",
      "models/thermal-comfort/v1/metrics.json",
      "models/thermal-comfort/v1/model.json",
      "models/thermal-comfort/v1/report.md",
      "models/thermal-comfort/v1/validation-report.json",
    ]);
    const author = (await git(repo.remote, "log", "-1", "--format=%an <%ae>|%s", ref)).trim();
    expect(author).toBe("gitops-ml-pipeline bot <gitops-ml-pipeline-bot@users.noreply.github.com>|Promote thermal-comfort v1 to production");
    // The caller's checkout: still on main, untouched, and no stray worktree.
    expect((await git(repo.work, "branch", "--show-current")).trim()).toBe("main");
    expect(existsSync(join(repo.work, "models"))).toBe(false);
    expect((await git(repo.work, "worktree", "list")).trim().split("\n")).toHaveLength(1);
    expect(reporter.warnings.join("\n")).toMatch(/no GitHub token: the branch promote\/thermal-comfort-v1 was pushed/);
    // What CI sees on the PR: the branch's registry passes the check against main's.
    const clone = await repo.clone("reviewer");
    await git(clone, "checkout", "-q", "promote/thermal-comfort-v1");
    const registry = await readRegistry(clone);
    expect(registry.models["thermal-comfort"]!.versions.map((v) => v.tags)).toEqual([["validated", "production"]]);
    expect(await checkRegistry(clone, registry, { previous: { version: 1, models: {} } })).toEqual({ ok: true, problems: [] });
  });

  it("two promotions racing from the same base: the second push is rejected and the first version survives", async () => {
    const repo = await makeTestRepo();
    const a = await repo.clone("runner-a");
    const b = await repo.clone("runner-b");
    const first = await promoteIn(a, 1);
    const error = await promoteIn(b, 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PushRejectedError);
    expect((error as Error).message).toMatch(/git rejected the push of promote\/thermal-comfort-v1 to origin \(non-fast-forward\): another promotion landed/);
    expect((error as PushRejectedError).exitCode).toBe(1);
    const remote = await remoteRegistry(repo.remote, "refs/heads/promote/thermal-comfort-v1");
    expect(remote!.models["thermal-comfort"]!.versions.map((v) => v.artifact.sha256)).toEqual([await registeredShaAt(a, first.result.commit!)]);
    expect((await git(repo.remote, "rev-parse", "refs/heads/promote/thermal-comfort-v1")).trim()).toBe(first.result.commit);
    expect(existsSync(join(b, "models"))).toBe(false);
  });

  it("a new promotion while a PR is open stacks on its branch and updates that PR", async () => {
    const repo = await makeTestRepo();
    await promoteIn(repo.work, 1);
    const gh = fakeGitHub({ number: 5, url: "https://github.test/pr/5", head: "promote/thermal-comfort-v1", title: "Promote thermal-comfort v1 to production" });
    const { result } = await promoteIn(await repo.clone("later"), 2, gh.client);
    expect(result).toMatchObject({ version: 2, branch: "promote/thermal-comfort-v1", pullRequest: { number: 5, action: "updated" } });
    expect(gh.calls).toEqual(["find promote/thermal-comfort- main", "update #5: Promote thermal-comfort v2 to production", "labels #5: model-promotion"]);
    expect(gh.bodies[0]).toContain("it also registers v1 (validated, not production) so no version is lost");
    const registry = await remoteRegistry(repo.remote, "refs/heads/promote/thermal-comfort-v1");
    expect(registry!.models["thermal-comfort"]!.versions.map((v) => [v.version, v.tags])).toEqual([
      [1, ["validated"]],
      [2, ["validated", "production"]],
    ]);
    expect((await git(repo.remote, "rev-list", "--count", "refs/heads/promote/thermal-comfort-v1")).trim()).toBe("3");
  });

  it("after merges, a promotion archives main's production, and a rollback PR moves it back", async () => {
    const repo = await makeTestRepo();
    const merge = async (branch: string) => git(repo.remote, "update-ref", "refs/heads/main", `refs/heads/${branch}`);
    await promoteIn(repo.work, 1);
    await merge("promote/thermal-comfort-v1");
    const gh = fakeGitHub();
    const second = await promoteIn(repo.work, 2, gh.client, { dataReport: dataReport() });
    expect(second.result).toMatchObject({ version: 2, replaced: 1, branch: "promote/thermal-comfort-v2", pullRequest: { number: 11, action: "created" } });
    expect(gh.calls).toContain("create promote/thermal-comfort-v2->main: Promote thermal-comfort v2 to production (from v1)");
    const body = gh.bodies[0]!;
    expect(body).toContain("It replaces v1, which this PR tags `archived`.");
    expect(body).toContain("| macro_f1 | 0.4900 | 0.5000 | +0.0100 🟢 |");
    expect(body).toContain("| ta | ⚠️ yes | method psi, psi 0.31 |");
    expect(body).toContain("| champion:macro_f1 | ✅ pass | +0.01 vs production |");
    expect((await git(repo.remote, "show", "--name-only", "--format=", "refs/heads/promote/thermal-comfort-v2")).trim().split("\n")).toContain("models/thermal-comfort/v2/data-validation-report.json");
    const onBranch = await remoteRegistry(repo.remote, "refs/heads/promote/thermal-comfort-v2");
    const onMain = await remoteRegistry(repo.remote, "refs/heads/main");
    expect(onBranch!.models["thermal-comfort"]!.versions.map((v) => v.tags)).toEqual([["validated", "archived"], ["validated", "production"]]);
    await merge("promote/thermal-comfort-v2");

    const gh2 = fakeGitHub();
    const reporter = recordingReporter();
    const rb = await rollback({ root: repo.work, config: testConfig(), name: "thermal-comfort", reason: "latency regression", reporter, git: new GitClient(repo.work), github: gh2.client, openPr: true });
    expect(rb).toMatchObject({ from: 2, to: 1, branch: "rollback/thermal-comfort-v1", pullRequest: { action: "created" } });
    expect(gh2.calls).toEqual(["find rollback/thermal-comfort- main", "create rollback/thermal-comfort-v1->main: Roll back thermal-comfort to v1 (from v2)", "labels #11: model-promotion,rollback"]);
    expect((await git(repo.remote, "show", "--name-only", "--format=", "refs/heads/rollback/thermal-comfort-v1")).trim()).toBe("models/registry.yaml");
    const rolled = await remoteRegistry(repo.remote, "refs/heads/rollback/thermal-comfort-v1");
    expect(rolled!.models["thermal-comfort"]!.versions.map((v) => v.tags)).toEqual([["validated", "production"], ["validated", "archived"]]);
    const reviewer = await repo.clone("reviewer");
    await git(reviewer, "checkout", "-q", "rollback/thermal-comfort-v1");
    const mainRegistry = await remoteRegistry(repo.remote, "refs/heads/main");
    expect(await checkRegistry(reviewer, await readRegistry(reviewer), { previous: mainRegistry! })).toEqual({ ok: true, problems: [] });
    expect(onMain).not.toBeNull();
  });

  it("the CLI opens the PR through the API, warns about the default token and never prints it", async () => {
    const repo = await makeTestRepo();
    const server = await startScriptedServer((_n, req) =>
      req.method === "GET" ? { status: 200, body: [] } : req.url.endsWith("/pulls") ? { status: 201, body: { number: 42, html_url: "https://github.test/o/r/pull/42", head: { ref: "promote/thermal-comfort-v1" }, title: "t" } } : { status: 200, body: [] },
    );
    try {
      const secret = "ghs_verysecretdefaulttoken";
      const env = { GITHUB_API_URL: server.url, MY_TOKEN: secret, MY_TOKEN_KIND: "github_token", PROMOTION_TOKEN: "", GH_TOKEN: "", GITHUB_TOKEN: "" };
      const dir = await modelDir(1);
      const report = await writeJson(await boundValidationReport(dir, { file: "config/pipeline.yaml", root: repo.work }));
      const r = await runCli(["promote", "--model", dir, "--open-pr", "--repo", "octo/comfort", "--token-env", "MY_TOKEN", "--validation-report", report], { cwd: repo.work, env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("PR #42 created: https://github.test/o/r/pull/42");
      expect(r.stderr).toMatch(/warning: Opening the promotion PR with the default GITHUB_TOKEN/);
      expect(r.stdout + r.stderr).not.toContain(secret);
      expect(server.requests.map((q) => `${q.method} ${q.url.split("?")[0]}`)).toEqual(["GET /repos/octo/comfort/pulls", "POST /repos/octo/comfort/pulls", "POST /repos/octo/comfort/issues/42/labels"]);
      expect(JSON.parse(server.requests[2]!.body)).toEqual({ labels: ["model-promotion"] });
    } finally {
      await server.stop();
    }
  }, 30_000);

  it("the CLI pushes a promotion branch and fails a racing one with exit 1", async () => {
    const repo = await makeTestRepo();
    const env = { PROMOTION_TOKEN: "", GH_TOKEN: "", GITHUB_TOKEN: "", GIT_AUTHOR_NAME: "" };
    const a = await repo.clone("cli-a");
    const b = await repo.clone("cli-b");
    const ok = await runCli(["promote", "--model", await modelDir(1), "--open-pr", "--unvalidated"], { cwd: a, env });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/thermal-comfort v1 → models\/thermal-comfort\/v1; branch promote\/thermal-comfort-v1/);
    const racing = await runCli(["promote", "--model", await modelDir(2), "--open-pr", "--unvalidated"], { cwd: b, env });
    expect(racing.code).toBe(1);
    expect(racing.stderr).toMatch(/git rejected the push .*another promotion landed/);
    const rb = await runCli(["rollback", "thermal-comfort", "--to", "x1"], { cwd: a, env });
    expect(rb.code).toBe(2);
  }, 30_000);
});

/** The artifact sha256 that runner A's own commit registered. */
async function registeredShaAt(work: string, commit: string): Promise<string> {
  const text = await git(work, "show", `${commit}:models/registry.yaml`);
  return parseRegistry(text).models["thermal-comfort"]!.versions[0]!.artifact.sha256;
}
