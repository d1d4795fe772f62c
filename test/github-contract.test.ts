import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { createOctokit, gitHubClient, resolveToken, type PipelineOctokitInstance } from "../pipeline/promote/github.js";
import { promote } from "../pipeline/promote/index.js";
import { GitClient } from "../pipeline/promote/git.js";
import { makeTestRepo, TEST_GIT_ENV } from "./helpers/git.js";
import { startPrism, startScriptedServer, type PrismMock } from "./helpers/github-mock.js";
import { boundValidationReport, testConfig, writeModelDir } from "./helpers/registry-fixtures.js";
import { join } from "node:path";

interface Seen {
  method: string;
  url: string;
  status: number;
  requestViolations: unknown[];
}

/**
 * Octokit pointed at the mock, recording every call and any request violation Prism reports.
 * The accept header is rewritten to application/json because the description lists only that media
 * type and Prism's content negotiation would otherwise answer 406 to GitHub's vnd.github media type;
 * path, method, parameters and body — the contract under test — are untouched.
 */
function instrumented(baseUrl: string, seen: Seen[]): PipelineOctokitInstance {
  const octokit = createOctokit({ token: "ghs_contracttesttoken", baseUrl, throttle: false, retries: 0 });
  const violations = (headers: Record<string, unknown>) => {
    const raw = headers["sl-violations"];
    if (typeof raw !== "string") return [];
    return (JSON.parse(raw) as { location: string[] }[]).filter((v) => v.location[0] === "request");
  };
  octokit.hook.wrap("request", async (request, options) => {
    options.headers = { ...options.headers, accept: "application/json" };
    try {
      const response = await request(options);
      seen.push({ method: options.method, url: response.url, status: response.status, requestViolations: violations(response.headers as Record<string, unknown>) });
      return response;
    } catch (error) {
      const e = error as { status?: number; response?: { headers: Record<string, unknown>; url: string } };
      seen.push({ method: options.method, url: e.response?.url ?? String(options.url), status: e.status ?? 0, requestViolations: e.response ? violations(e.response.headers) : [] });
      throw error;
    }
  });
  return octokit;
}

describe("GitHub API contract (requests validated by Prism against @octokit/openapi)", () => {
  let prism: PrismMock;
  beforeAll(async () => {
    prism = await startPrism();
  }, 90_000);
  afterAll(async () => {
    await prism?.stop();
  });

  it("accepts every call the promotion client makes", async () => {
    const seen: Seen[] = [];
    const client = gitHubClient(instrumented(prism.url, seen), { owner: "octo-org", repo: "comfort" });
    expect(await client.findOpenPullRequest("promote/thermal-comfort-", "main")).toBeNull();
    const pr = await client.createPullRequest({ title: "Promote thermal-comfort v2", body: "body", head: "promote/thermal-comfort-v2", base: "main" });
    expect(pr.number).toBeGreaterThan(0);
    await client.updatePullRequest(pr.number, { title: "Promote thermal-comfort v3", body: "new body" });
    await client.addLabels(pr.number, ["model-promotion"]);
    await client.requestReviewers(pr.number, ["octocat"]);
    await client.closePullRequest(pr.number, "Superseded");
    expect(seen.map((s) => `${s.method} ${new URL(s.url).pathname}`)).toEqual([
      "GET /repos/octo-org/comfort/pulls",
      "POST /repos/octo-org/comfort/pulls",
      "PATCH /repos/octo-org/comfort/pulls/1347",
      "POST /repos/octo-org/comfort/issues/1347/labels",
      "POST /repos/octo-org/comfort/pulls/1347/requested_reviewers",
      "POST /repos/octo-org/comfort/issues/1347/comments",
      "PATCH /repos/octo-org/comfort/pulls/1347",
    ]);
    expect(seen.every((s) => s.status >= 200 && s.status < 300)).toBe(true);
    expect(seen.flatMap((s) => s.requestViolations)).toEqual([]);
  });

  it("rejects a request that does not match the description (the mock really validates)", async () => {
    const seen: Seen[] = [];
    const octokit = instrumented(prism.url, seen);
    await expect(octokit.request("POST /repos/{owner}/{repo}/pulls", { owner: "o", repo: "r", title: 42, head: "x" } as never)).rejects.toMatchObject({ status: 422 });
    await expect(octokit.request("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", { owner: "o", repo: "r", pull_number: 1, state: "merged" } as never)).rejects.toMatchObject({ status: 422 });
    expect(seen.flatMap((s) => s.requestViolations).length).toBeGreaterThanOrEqual(2);
  });

  it("a whole promotion with --open-pr makes only valid requests, and never logs the token", async () => {
    const repo = await makeTestRepo();
    Object.assign(process.env, TEST_GIT_ENV);
    const modelDir = await writeModelDir(join(repo.work, "..", "out"));
    const seen: Seen[] = [];
    const reporter = recordingReporter();
    const token = resolveToken({ GITHUB_TOKEN: "ghs_defaulttokenvalue" })!;
    const result = await promote({
      root: repo.work,
      config: testConfig(),
      modelPath: modelDir,
      validationReport: await boundValidationReport(modelDir, testConfig()),
      reporter,
      git: new GitClient(repo.work),
      github: gitHubClient(instrumented(prism.url, seen), { owner: "octo-org", repo: "comfort" }),
      openPr: true,
      token,
    });
    expect(result.pullRequest).toMatchObject({ number: 1347, action: "created" });
    expect(seen.map((s) => `${s.method} ${new URL(s.url).pathname}`)).toEqual(["GET /repos/octo-org/comfort/pulls", "POST /repos/octo-org/comfort/pulls", "POST /repos/octo-org/comfort/issues/1347/labels"]);
    expect(seen.flatMap((s) => s.requestViolations)).toEqual([]);
    expect(reporter.secrets).toContain("ghs_defaulttokenvalue");
    expect(reporter.warnings.join("\n")).toMatch(/default GITHUB_TOKEN.*do(es)? not start other workflows/s);
    expect(JSON.stringify([reporter.infos, reporter.warnings, reporter.errors, reporter.summaries, reporter.outputs])).not.toContain("ghs_defaulttokenvalue");
  }, 30_000);
});

describe("GitHub API resilience", () => {
  it("retries a 5xx twice and then succeeds", async () => {
    const server = await startScriptedServer((n) =>
      n <= 2 ? { status: 502, body: { message: "Bad Gateway" } } : { status: 201, body: { number: 7, html_url: "https://github.test/o/r/pull/7", head: { ref: "promote/m-v1" }, title: "t" } },
    );
    try {
      const octokit = createOctokit({ token: "t", baseUrl: server.url, retryAfterBaseValue: 1 });
      const pr = await gitHubClient(octokit, { owner: "o", repo: "r" }).createPullRequest({ title: "t", body: "b", head: "promote/m-v1", base: "main" });
      expect(pr.number).toBe(7);
      expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(Array(3).fill("POST /repos/o/r/pulls"));
      expect(JSON.parse(server.requests[2]!.body)).toMatchObject({ head: "promote/m-v1", base: "main" });
    } finally {
      await server.stop();
    }
  });

  it("gives up after the configured retries and does not retry a 422", async () => {
    const failing = await startScriptedServer(() => ({ status: 503, body: { message: "unavailable" } }));
    const invalid = await startScriptedServer(() => ({ status: 422, body: { message: "Validation Failed" } }));
    try {
      await expect(gitHubClient(createOctokit({ baseUrl: failing.url, retryAfterBaseValue: 1, retries: 2 }), { owner: "o", repo: "r" }).addLabels(1, ["x"])).rejects.toMatchObject({ status: 503 });
      expect(failing.requests).toHaveLength(3);
      await expect(gitHubClient(createOctokit({ baseUrl: invalid.url, retryAfterBaseValue: 1 }), { owner: "o", repo: "r" }).addLabels(1, ["x"])).rejects.toMatchObject({ status: 422 });
      expect(invalid.requests).toHaveLength(1);
    } finally {
      await failing.stop();
      await invalid.stop();
    }
  });

  it("waits out a rate limit (throttling plugin) and retries", async () => {
    const reset = String(Math.floor(Date.now() / 1000));
    const server = await startScriptedServer((n) =>
      n === 1
        ? { status: 403, body: { message: "API rate limit exceeded" }, headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset } }
        : { status: 200, body: [] },
    );
    try {
      const reporter = recordingReporter();
      const found = await gitHubClient(createOctokit({ baseUrl: server.url, reporter }), { owner: "o", repo: "r" }).findOpenPullRequest("promote/m-", "main");
      expect(found).toBeNull();
      expect(server.requests).toHaveLength(2);
      expect(reporter.warnings.join("\n")).toMatch(/rate limit/);
    } finally {
      await server.stop();
    }
  }, 20_000);
});
