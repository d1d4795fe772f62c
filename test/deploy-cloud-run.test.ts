import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import type { Clock } from "../pipeline/deploy/clock.js";
import { systemClock } from "../pipeline/deploy/clock.js";
import { deploy, removePreview, type DeployInput } from "../pipeline/deploy/index.js";
import { DeployResultFileSchema } from "../pipeline/deploy/result-file.js";
import { checkRegistry } from "../pipeline/registry/check.js";
import { readRegistry } from "../pipeline/registry/store.js";
import { startCloudRunStandIn, type CloudRunStandIn } from "./helpers/cloud-run-standin.js";
import { agreeingRows, faultProxy, imageRef, loadGenerator, makeDeployRoot, removeDeployRoots, startServe, type DeployRoot, type RunningServer } from "./helpers/deploy-fixture.js";
import { runCli } from "./helpers/cli.js";
import { bundleAction, runAction } from "./helpers/action.js";

/**
 * Progressive delivery against the Cloud Run stand-in, with real `pipeline serve` processes behind
 * every revision: the canary reads their real /metrics, the smoke test their real answers.
 */

const TOKEN = "test-access-token";
const SHA = "abc1234def5678901234567890abcdef12345678";
const PROJECT = "test-project";
const REGION = "europe-west1";

const IMG_V1 = imageRef("v1");
const IMG_V2 = imageRef("v2");
const IMG_V2_TAMPERED = imageRef("v2-tampered");
const IMG_V2_FAULTY = imageRef("v2-faulty");

const common = {
  target: "cloud-run",
  project: PROJECT,
  region: REGION,
  cpu: "1",
  memory: "1Gi",
  min_instances: 0,
  max_instances: 10,
  probes: { startup: { path: "/ready", period_seconds: 1, timeout_seconds: 1, failure_threshold: 4 }, liveness: { path: "/health", period_seconds: 10, timeout_seconds: 1, failure_threshold: 3 } },
  smoke: { ready_checks: 2, interval_seconds: 0.1, timeout_seconds: 20, request_timeout_seconds: 10 },
  canary_steps: [10, 50, 100],
  // Tiny holds keep the test short. On a 2-core machine shared by several test runs a single request
  // now and then stalls for 100-200 ms, and with a handful of requests p99 is the slowest one: the
  // ratio rule applies above 250 ms here (it is unit-tested on its own in deploy-units.test.ts).
  canary: { hold_seconds: 0.5, min_requests: 8, max_wait_seconds: 40, poll_seconds: 0.2, thresholds: { max_5xx_share: 0.01, max_p99_ms: 500, max_p99_ratio: 1.5, p99_ratio_floor_ms: 250, max_class_psi: 0.2 } },
  operation_timeout_seconds: 60,
};
const ENVIRONMENTS: Record<string, unknown> = Object.fromEntries(
  ["first", "happy", "never", "smoke", "spike", "stuck", "retry", "preview", "cli", "action"].map((name) => [name, { ...common, service: `svc-${name}`, ...(name === "stuck" ? { operation_timeout_seconds: 1.5 } : {}) }]),
);

let fixture: DeployRoot;
let broken: DeployRoot;
let config: PipelineConfig;
let standIn: CloudRunStandIn;
const servers: RunningServer[] = [];
const upstreams = new Map<string, string>();
let rows: Array<Record<string, number | string>>;

const serviceName = (env: string) => `projects/${PROJECT}/locations/${REGION}/services/svc-${env}`;

function run(environment: string, image: string, model: string, extra: Partial<DeployInput> = {}) {
  return deploy({
    config,
    root: fixture.root,
    environment,
    image,
    model,
    gitSha: SHA,
    reporter: recordingReporter(),
    env: { CLOUD_RUN_API_URL: standIn.apiUrl, CLOUD_RUN_ACCESS_TOKEN: TOKEN },
    retry: { retries: 5, baseMs: 10, maxMs: 100 },
    ...extra,
  });
}

/** Deploys v1 as the service's first revision: the serving side every canary starts from. */
async function serveV1(environment: string) {
  const out = await run(environment, IMG_V1, "thermal-comfort@v1");
  expect(out.result.outcome, out.result.reason).toBe("deployed");
  return standIn.split(serviceName(environment));
}

beforeAll(async () => {
  fixture = await makeDeployRoot(ENVIRONMENTS);
  broken = await makeDeployRoot(ENVIRONMENTS, { tamperV2: true });
  ({ config } = await loadConfig(join(fixture.root, "config/pipeline.yaml"), fixture.root));
  rows = await agreeingRows(fixture.v1Path, fixture.v2Path);
  expect(rows.length, "one load row per class").toBe(3);
  const [v1, v2, tampered] = await Promise.all([
    startServe(fixture.root, "thermal-comfort@v1"),
    startServe(fixture.root, "thermal-comfort@v2"),
    startServe(broken.root, "thermal-comfort@v2", { waitReady: false }),
  ]);
  servers.push(v1, v2, tampered);
  upstreams.set(IMG_V1, v1.url).set(IMG_V2, v2.url).set(IMG_V2_TAMPERED, tampered.url);
  standIn = await startCloudRunStandIn({
    token: TOKEN,
    startRevision: async ({ image }) => {
      const url = upstreams.get(image);
      if (!url) throw new Error(`image ${image} not found (MANIFEST_UNKNOWN)`);
      return { url };
    },
  });
}, 180_000);

afterAll(async () => {
  await standIn?.close();
  await Promise.all(servers.map((s) => s.stop()));
  await removeDeployRoots();
});

function expectFaithful() {
  // Every answer of the stand-in conformed to protos.json, and the deploy sent nothing it refused.
  expect(standIn.responseProblems).toEqual([]);
  // (svc-bad is the test that sends refused requests on purpose.)
  expect(standIn.calls.filter((c) => (c.status === 400 || c.status === 409) && !c.path.includes("svc-bad") && c.query.serviceId !== "svc-bad")).toEqual([]);
}

describe("deploy to Cloud Run (stand-in checked against the v2 description, real servers behind revisions)", () => {
  it("first deploy: creates the service, the new revision takes 100% under its tag, smoke test passes", async () => {
    const out = await run("first", IMG_V1, "thermal-comfort@v1");
    expect(out.result.outcome, out.result.reason).toBe("deployed");
    expect(out.result.firstDeploy).toBe(true);
    expect(out.result.previousSplit).toBeNull();
    expect(standIn.split(serviceName("first"))).toEqual([{ revision: out.result.revision, percent: 100, tag: "v1-abc1234" }]);
    expect(out.result.revision).toMatch(/^svc-first-abc1234-[0-9a-f]+$/);
    expect(standIn.calls.some((c) => c.method === "POST" && c.path.endsWith("/services") && c.query.serviceId === "svc-first")).toBe(true);
    expect(out.result.smoke?.passed).toBe(true);
    const predict = await fetch(`${out.result.tagUrl}/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(rows[0]) });
    expect(predict.headers.get("x-model-version")).toBe("1");
    expect(out.result.serviceUrl).toBe(standIn.serviceUrl(serviceName("first")));
    expectFaithful();
  }, 180_000);

  it("happy path: no-traffic revision, smoke test, 10 → 50 → 100 judged from both revisions' /metrics, recorded in the registry", async () => {
    const before = await serveV1("happy");
    const stable = before[0]!.revision;
    const load = loadGenerator(() => standIn.serviceUrl(serviceName("happy")), rows);
    const resultPath = join(fixture.root, "out/happy.json");
    let out;
    try {
      out = await run("happy", IMG_V2, "thermal-comfort@v2", { record: true, resultPath });
    } finally {
      await load.stop();
    }
    expect(out.result.outcome, out.result.reason).toBe("deployed");
    expect(out.result.steps.map((s) => s.percent)).toEqual([10, 50, 100]);
    for (const step of out.result.steps) {
      expect(step.judgement.passed, step.judgement.reason).toBe(true);
      expect(step.canaryWindow.requests).toBeGreaterThanOrEqual(8);
    }
    // At 10% and 50% the stable revision served alongside and was measured.
    expect(out.result.steps[0]!.stableWindow!.requests).toBeGreaterThan(out.result.steps[0]!.canaryWindow.requests);
    expect(standIn.routed.get(out.result.revision)).toBeGreaterThan(0);
    // The new revision serves everything; v1 keeps its tag URL; the temporary "stable" tag is gone.
    const byTag = (a: { tag?: string }, b: { tag?: string }) => (a.tag ?? "").localeCompare(b.tag ?? "");
    expect(standIn.split(serviceName("happy")).sort(byTag)).toEqual([
      { revision: stable, percent: 0, tag: "v1-abc1234" },
      { revision: out.result.revision, percent: 100, tag: "v2-abc1234" },
    ]);
    const file = DeployResultFileSchema.parse(JSON.parse(await readFile(resultPath, "utf8")));
    expect(file.status).toBe("succeeded");
    expect(file.canary.passed).toBe(true);
    expect(file.timings.seconds_to_full_traffic).toBeGreaterThan(0);
    const registry = await readRegistry(fixture.root);
    const v2 = registry.models["thermal-comfort"]!.versions.find((v) => v.version === 2)!;
    expect(v2.tags).toContain("deployed-abc1234");
    expect(v2.deployments.at(-1)).toMatchObject({ environment: "happy", revision: out.result.revision, git_sha: SHA, status: "succeeded", image_digest: IMG_V2.split("@")[1] });
    expect((await checkRegistry(fixture.root, registry)).problems).toEqual([]);
    expectFaithful();
  }, 180_000);

  it("a revision that never becomes ready fails with its reason and no traffic moves", async () => {
    const before = await serveV1("never");
    const patchesBefore = standIn.calls.filter((c) => c.method === "PATCH").length;
    const out = await run("never", IMG_V2_TAMPERED, "thermal-comfort@v2");
    expect(out.result.outcome).toBe("failed");
    expect(out.result.reason).toMatch(/HEALTH_CHECK_CONTAINER_ERROR/);
    expect(standIn.split(serviceName("never"))).toEqual(before);
    expect(out.result.finalSplit).toEqual(before);
    // One PATCH (the no-traffic deploy), none moving traffic.
    expect(standIn.calls.filter((c) => c.method === "PATCH").length - patchesBefore).toBe(1);
    expectFaithful();
  }, 180_000);

  it("a failing smoke test (the revision serves another model version) restores the split exactly", async () => {
    const before = await serveV1("smoke");
    const out = await run("smoke", IMG_V1, "thermal-comfort@v2");
    expect(out.result.outcome).toBe("failed");
    expect(out.result.reason).toMatch(/X-Model-Version is "1", expected "2"/);
    expect(out.result.steps).toEqual([]);
    expect(standIn.split(serviceName("smoke"))).toEqual(before);
    expectFaithful();
  }, 180_000);

  it("an error-rate spike at the 10% step rolls back to the recorded split exactly", async () => {
    const before = await serveV1("spike");
    // Healthy through the smoke test and its warm-up, failing once it takes traffic.
    const smoke = config.environments.spike!.smoke;
    const proxy = await faultProxy(upstreams.get(IMG_V2)!, config.promotion.gates.sanity.cases.length + smoke.warmup_requests);
    servers.push(proxy);
    upstreams.set(IMG_V2_FAULTY, proxy.url);
    const load = loadGenerator(() => standIn.serviceUrl(serviceName("spike")), rows);
    let out;
    try {
      out = await run("spike", IMG_V2_FAULTY, "thermal-comfort@v2");
    } finally {
      await load.stop();
    }
    expect(out.result.outcome).toBe("rolled_back");
    expect(out.result.steps.map((s) => s.percent)).toEqual([10]);
    expect(out.result.reason).toMatch(/^canary at 10%: 5xx share/);
    expect(proxy.injected()).toBeGreaterThan(0);
    expect(standIn.split(serviceName("spike"))).toEqual(before);
    expect(out.result.timings.restoredAt).toBeGreaterThanOrEqual(out.result.timings.failedAt!);
    expect(out.file.rolled_back).toBe(true);
    expectFaithful();
  }, 180_000);

  it("an operation that never finishes times out; the split stays as it was", async () => {
    const before = await serveV1("stuck");
    standIn.stallOperations(true);
    let out;
    try {
      out = await run("stuck", IMG_V2, "thermal-comfort@v2");
    } finally {
      standIn.stallOperations(false);
    }
    expect(out.result.outcome).toBe("failed");
    expect(out.result.reason).toMatch(/did not finish in time/);
    expect(standIn.split(serviceName("stuck"))).toEqual(before);
    expect(standIn.calls.some((c) => c.method === "POST" && c.path.endsWith(":wait"))).toBe(true);
  }, 180_000);

  it("429 and 503 from the API are retried with backoff, honouring Retry-After", async () => {
    const sleeps: number[] = [];
    const clock: Clock = { now: systemClock.now, sleep: (ms) => (sleeps.push(ms), systemClock.sleep(ms)) };
    const start = standIn.calls.length;
    standIn.failNext(1, 429, "1");
    standIn.failNext(2, 503);
    const out = await run("retry", IMG_V1, "thermal-comfort@v1", { clock });
    expect(out.result.outcome, out.result.reason).toBe("deployed");
    expect(out.result.apiRetries).toBe(3);
    const statuses = standIn.calls.slice(start).map((c) => c.status);
    // The first call (services.get of a service that does not exist yet) answered 429, 503, 503, then its real answer.
    expect(statuses.slice(0, 3)).toEqual([429, 503, 503]);
    expect(statuses[3]).toBe(404);
    // The same call, repeated.
    expect(new Set(standIn.calls.slice(start, start + 4).map((c) => `${c.method} ${c.path}`)).size).toBe(1);
    expect(sleeps).toContain(1000);
  }, 180_000);

  it("--preview deploys under a tag with no traffic, leaves the serving revision alone; the tag can be removed", async () => {
    const before = await serveV1("preview");
    const out = await run("preview", IMG_V2, "thermal-comfort@v2", { previewTag: "pr-7" });
    expect(out.result.outcome, out.result.reason).toBe("preview");
    expect(out.result.steps).toEqual([]);
    const after = standIn.split(serviceName("preview"));
    expect(after.filter((e) => e.percent > 0)).toEqual(before.filter((e) => e.percent > 0));
    expect(after).toContainEqual({ revision: out.result.revision, percent: 0, tag: "pr-7" });
    const r = await fetch(`${out.result.tagUrl}/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(rows[0]) });
    expect(r.headers.get("x-model-version")).toBe("2");
    await removePreview({ config, environment: "preview", tag: "pr-7", reporter: recordingReporter(), env: { CLOUD_RUN_API_URL: standIn.apiUrl, CLOUD_RUN_ACCESS_TOKEN: TOKEN } });
    expect(standIn.split(serviceName("preview")).some((e) => e.tag === "pr-7")).toBe(false);
    expect(standIn.split(serviceName("preview")).filter((e) => e.percent > 0)).toEqual(before.filter((e) => e.percent > 0));
    expectFaithful();
  }, 180_000);

  it("the stand-in refuses what Google refuses: unknown fields, output-only fields, missing required fields, a wrong token", async () => {
    const post = (body: unknown, token = TOKEN) =>
      fetch(`${standIn.apiUrl}/v2/projects/${PROJECT}/locations/${REGION}/services?serviceId=svc-bad`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    const template = { containers: [{ image: IMG_V1 }] };
    const unknown = await post({ template, replicas: 3 });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ error: { status: "INVALID_ARGUMENT", message: expect.stringMatching(/replicas: unknown field/) } });
    const outputOnly = await post({ template, uri: "https://x.a.run.app" });
    expect(outputOnly.status).toBe(400);
    expect(((await outputOnly.json()) as { error: { message: string } }).error.message).toMatch(/uri: output-only field set by the client/);
    const missing = await post({ template: { containers: [{ name: "x" }] } });
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/template.containers\[0\].image: required field missing/);
    const snake = await post({ template: { containers: [{ image: IMG_V1, working_dir: "/" }] } });
    expect(snake.status).toBe(400);
    const badTraffic = await post({ template, traffic: [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent: 90 }] });
    expect(((await badTraffic.json()) as { error: { message: string } }).error.message).toMatch(/sum to 100/);
    expect((await post({ template }, "wrong")).status).toBe(401);
    expect(standIn.hasService(`projects/${PROJECT}/locations/${REGION}/services/svc-bad`)).toBe(false);
  });

  it("pipeline deploy (the CLI): exit 0 and the JSON result; registry record-deployment records it; an image without a digest is refused with exit 2", async () => {
    const env = { CLOUD_RUN_API_URL: standIn.apiUrl, CLOUD_RUN_ACCESS_TOKEN: TOKEN, GITHUB_SHA: SHA, PIPELINE_QUIET: "1" };
    const ok = await runCli(["deploy", "--env", "cli", "--image", IMG_V1, "--model", "thermal-comfort@v1", "--result", "out/cli.json", "--no-record"], { cwd: fixture.root, env });
    expect(ok.code, ok.stderr).toBe(0);
    const printed = JSON.parse(ok.stdout) as { status: string; revision: string; service_url: string; tag_url: string };
    expect(printed.status).toBe("succeeded");
    expect(printed.tag_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const file = DeployResultFileSchema.parse(JSON.parse(await readFile(join(fixture.root, "out/cli.json"), "utf8")));
    expect(file.revision).toBe(printed.revision);
    expect(ok.stderr).not.toContain(TOKEN);
    const cliDeployments = async () => (await readRegistry(fixture.root)).models["thermal-comfort"]!.versions[0]!.deployments.filter((d) => d.environment === "cli");
    expect(await cliDeployments()).toEqual([]);
    const recorded = await runCli(["registry", "record-deployment", "out/cli.json"], { cwd: fixture.root, env });
    expect(recorded.code, recorded.stderr).toBe(0);
    expect(await cliDeployments()).toEqual([expect.objectContaining({ revision: printed.revision, status: "succeeded", url: printed.service_url, git_sha: SHA })]);
    const bad = await runCli(["deploy", "--env", "cli", "--image", "127.0.0.1:5000/thermal-comfort:latest", "--model", "thermal-comfort@v1"], { cwd: fixture.root, env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/pin the image by digest/);
  }, 180_000);

  it("the deploy-cloud-run action, run as the runner runs it: outputs, job summary, masked token; preview and its removal", async () => {
    const bundle = await bundleAction("deploy-cloud-run");
    const env = { CLOUD_RUN_API_URL: standIn.apiUrl, CLOUD_RUN_ACCESS_TOKEN: TOKEN, GITHUB_SHA: SHA };
    const first = await runAction(bundle, { environment: "action", image: IMG_V1, model: "thermal-comfort@v1", result: "deployments/action.json" }, { workspace: fixture.root, env });
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.outputs).toMatchObject({ status: "succeeded", canary: "none", result: join(fixture.root, "deployments/action.json") });
    expect(first.outputs.revision).toMatch(/^svc-action-abc1234-/);
    expect(first.outputs["service-url"]).toBe(standIn.serviceUrl(serviceName("action")));
    expect(first.outputs["tag-url"]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.summary).toContain("Deploy thermal-comfort v1 to action: succeeded");
    expect(first.stdout).toContain(`::add-mask::${TOKEN}`);
    expect(DeployResultFileSchema.parse(JSON.parse(await readFile(join(fixture.root, "deployments/action.json"), "utf8"))).revision).toBe(first.outputs.revision);
    const preview = await runAction(bundle, { environment: "action", image: IMG_V2, model: "thermal-comfort@v2", preview: "pr-9" }, { workspace: fixture.root, env });
    expect(preview.code, preview.stderr + preview.stdout).toBe(0);
    expect(preview.outputs.status).toBe("preview");
    const answer = await fetch(`${preview.outputs["tag-url"]}/ready`);
    expect(answer.status).toBe(200);
    expect(standIn.split(serviceName("action")).filter((e) => e.percent > 0)).toEqual([{ revision: first.outputs.revision, percent: 100, tag: "v1-abc1234" }]);
    const removed = await runAction(bundle, { environment: "action", "remove-preview": "pr-9" }, { workspace: fixture.root, env });
    expect(removed.code, removed.stderr + removed.stdout).toBe(0);
    expect(standIn.split(serviceName("action")).some((e) => e.tag === "pr-9")).toBe(false);
    const noImage = await runAction(bundle, { environment: "action" }, { workspace: fixture.root, env });
    expect(noImage.code).toBe(2);
    expect(noImage.stdout).toMatch(/input image is required/);
    expectFaithful();
  }, 180_000);
});
