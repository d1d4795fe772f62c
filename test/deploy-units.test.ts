import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig, parseConfig } from "../pipeline/config/load.js";
import { CanaryThresholdsSchema } from "../pipeline/config/schema.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { googleCredentials } from "../pipeline/deploy/auth.js";
import { histogramQuantile, judgeStep, windowBetween, type RevisionWindow } from "../pipeline/deploy/canary-analysis.js";
import type { Clock } from "../pipeline/deploy/clock.js";
import { CloudRunApi, CloudRunApiError, parseRetryAfter } from "../pipeline/deploy/cloud-run-api.js";
import { parsePrometheusText } from "../pipeline/deploy/prometheus.js";
import { CONTAINER_OUTPUT_ONLY, newServiceBody, revisionTemplate, SERVICE_OUTPUT_ONLY, updatableService } from "../pipeline/deploy/service-spec.js";
import { canaryTargets, finalTargets, recordTraffic, restoreTargets } from "../pipeline/deploy/traffic.js";
import { recordDeployment } from "../pipeline/registry/deployments.js";
import { readRegistry } from "../pipeline/registry/store.js";
import { checkMessage, fieldsWithBehavior } from "./helpers/cloud-run-proto.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { makeDeployRoot, removeDeployRoots } from "./helpers/deploy-fixture.js";

const thresholds = CanaryThresholdsSchema.parse({});

function window(requests: number, errors: number, latencies: number[], classes: Record<string, number>): RevisionWindow {
  const bounds = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, Number.POSITIVE_INFINITY];
  return { requests, errors5xx: errors, buckets: bounds.map((le) => ({ le, count: latencies.filter((l) => l <= le).length })), classes };
}

describe("Prometheus text and the canary verdict", () => {
  it("parses samples with escaped label values, +Inf and comments", () => {
    const text = [
      "# HELP http_requests_total Requests",
      "# TYPE http_requests_total counter",
      'http_requests_total{method="POST",route="/predict",status_code="200"} 41',
      'predictions_total{class="slightly \\"warm\\"\\\\x",model_version="2"} 7 1700000000000',
      'http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/predict",status_code="200"} 41',
      "process_resident_memory_bytes 1.5e+08",
    ].join("\n");
    const samples = parsePrometheusText(text);
    expect(samples).toHaveLength(4);
    expect(samples[1]).toEqual({ name: "predictions_total", labels: { class: 'slightly "warm"\\x', model_version: "2" }, value: 7 });
    expect(samples[2]!.labels.le).toBe("+Inf");
    expect(samples[3]!.value).toBe(1.5e8);
  });

  it("takes the difference of two scrapes on the judged routes, treating a counter that went down as reset", () => {
    const scrape = (ok: number, err: number, ready: number, cool: number) =>
      parsePrometheusText(
        [
          `http_requests_total{method="POST",route="/predict",status_code="200"} ${ok}`,
          `http_requests_total{method="POST",route="/predict",status_code="503"} ${err}`,
          `http_requests_total{method="GET",route="/ready",status_code="200"} ${ready}`,
          `http_request_duration_seconds_bucket{le="0.01",method="POST",route="/predict",status_code="200"} ${ok}`,
          `http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/predict",status_code="200"} ${ok}`,
          `predictions_total{class="cool",model_version="2"} ${cool}`,
        ].join("\n"),
      );
    const w = windowBetween(scrape(10, 1, 50, 4), scrape(30, 3, 80, 9), ["/predict"]);
    expect(w).toMatchObject({ requests: 22, errors5xx: 2, classes: { cool: 5 } });
    const reset = windowBetween(scrape(100, 0, 0, 0), scrape(7, 0, 0, 0), ["/predict"]);
    expect(reset.requests).toBe(7);
  });

  it("interpolates quantiles inside buckets like histogram_quantile() and has none without data", () => {
    const buckets = [
      { le: 0.1, count: 50 },
      { le: 0.2, count: 100 },
      { le: Number.POSITIVE_INFINITY, count: 100 },
    ];
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.1, 10);
    expect(histogramQuantile(0.75, buckets)).toBeCloseTo(0.15, 10);
    expect(histogramQuantile(0.99, [{ le: Number.POSITIVE_INFINITY, count: 0 }])).toBeNull();
  });

  it("passes a healthy canary and fails each rule on its own: 5xx share, p99, p99 against stable, class PSI", () => {
    const fast = Array.from({ length: 200 }, () => 0.004);
    const stable = window(1000, 0, Array.from({ length: 1000 }, () => 0.004), { cool: 300, neutral: 400, warm: 300 });
    expect(judgeStep(window(200, 1, fast, { cool: 60, neutral: 80, warm: 60 }), stable, thresholds, 100).passed).toBe(true);
    const errors = judgeStep(window(200, 3, fast, { cool: 60, neutral: 80, warm: 60 }), stable, thresholds, 100);
    expect(errors.reason).toMatch(/^5xx share: 1\.50% 5xx/);
    const slow = judgeStep(window(200, 0, Array.from({ length: 200 }, () => 0.8), { cool: 60, neutral: 80, warm: 60 }), stable, thresholds, 100);
    expect(slow.checks.find((c) => c.name === "p99 latency")!.passed).toBe(false);
    const slower = judgeStep(window(200, 0, Array.from({ length: 200 }, () => 0.04), { cool: 60, neutral: 80, warm: 60 }), stable, thresholds, 100);
    expect(slower.checks.find((c) => c.name === "p99 latency")!.passed).toBe(true);
    expect(slower.reason).toMatch(/^p99 vs stable: /);
    // The same ratio under a configured floor is not a regression.
    expect(judgeStep(window(200, 0, Array.from({ length: 200 }, () => 0.04), { cool: 60, neutral: 80, warm: 60 }), stable, { ...thresholds, p99_ratio_floor_ms: 100 }, 100).passed).toBe(true);
    const shifted = judgeStep(window(200, 0, fast, { cool: 10, neutral: 40, warm: 150 }), stable, thresholds, 100);
    expect(shifted.reason).toMatch(/^class distribution PSI: PSI \d/);
  });

  it("treats no data as a failure, like Argo Rollouts and Flagger", () => {
    const empty = window(0, 0, [], {});
    const verdict = judgeStep(empty, null, thresholds, 1);
    expect(verdict.passed).toBe(false);
    expect(verdict.checks.every((c) => !c.passed)).toBe(true);
    const few = judgeStep(window(5, 0, [0.004, 0.004, 0.004, 0.004, 0.004], { cool: 5 }), window(100, 0, Array(100).fill(0.004), { cool: 100 }), thresholds, 100);
    expect(few.reason).toMatch(/^requests: 5 requests/);
  });
});

describe("traffic splits", () => {
  const service = {
    name: "projects/p/locations/r/services/s",
    latestReadyRevision: "projects/p/locations/r/services/s/revisions/s-old",
    traffic: [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" as const, percent: 100 }, { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION" as const, revision: "s-older", tag: "v1" }],
    trafficStatuses: [
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" as const, revision: "s-old", percent: 100 },
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION" as const, revision: "s-older", tag: "v1", uri: "https://v1---s.run.app" },
    ],
  };

  it("records the resolved split, LATEST pinned to the revision it meant, and restores it as explicit revisions", () => {
    const recorded = recordTraffic(service)!;
    expect(recorded.split).toEqual([
      { revision: "s-old", percent: 100 },
      { revision: "s-older", percent: 0, tag: "v1" },
    ]);
    expect(recorded.stable).toBe("s-old");
    // After a new template, LATEST would mean the new revision: the restore names the old one.
    expect(restoreTargets(recorded)).toEqual([
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "s-old", percent: 100 },
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "s-older", tag: "v1" },
    ]);
  });

  it("deploys with no traffic (shares unchanged, both revisions tagged), steps the canary, and ends at 100% keeping earlier tags", () => {
    const recorded = recordTraffic(service)!;
    const zero = canaryTargets(recorded, { revision: "s-new", tag: "v2", percent: 0, stableTag: "stable" });
    expect(zero).toEqual([
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "s-old", percent: 100, tag: "stable" },
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "s-older", tag: "v1" },
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "s-new", tag: "v2" },
    ]);
    const ten = canaryTargets(recorded, { revision: "s-new", tag: "v2", percent: 10, stableTag: "stable" });
    expect(ten.filter((t) => t.percent).map((t) => [t.revision, t.percent])).toEqual([
      ["s-old", 90],
      ["s-new", 10],
    ]);
    expect(ten.reduce((s, t) => s + (t.percent ?? 0), 0)).toBe(100);
    const final = finalTargets(recorded, { revision: "s-new", tag: "v2", stableTag: "stable" });
    expect(final).toEqual([
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "s-older", tag: "v1" },
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "s-new", percent: 100, tag: "v2" },
    ]);
    // A preview tags only the new revision.
    expect(canaryTargets(recorded, { revision: "s-new", tag: "pr-3", percent: 0 }).map((t) => t.tag ?? null)).toEqual([null, "v1", "pr-3"]);
  });
});

describe("requests the deploy sends, against the v2 description", () => {
  it("knows exactly the output-only fields protos.json declares", () => {
    expect([...SERVICE_OUTPUT_ONLY].sort()).toEqual(fieldsWithBehavior("google.cloud.run.v2.Service", "OUTPUT_ONLY").sort());
    expect([...CONTAINER_OUTPUT_ONLY].sort()).toEqual(fieldsWithBehavior("google.cloud.run.v2.Container", "OUTPUT_ONLY").sort());
  });

  it("builds services and templates from every environment of the project's config that protos.json accepts", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    for (const [name, env] of Object.entries(config.environments).filter(([, e]) => e.target === "cloud-run")) {
      const lineage = { model: "thermal-comfort", version: 3, gitSha: "0123456789abcdef0123456789abcdef01234567", contentSha256: "f".repeat(64) };
      const template = revisionTemplate({ environment: env, image: `r/x@sha256:${"a".repeat(64)}`, revisionName: `${env.service}-0123456-abcde`, lineage });
      const body = newServiceBody(env, template, lineage, [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: `${env.service}-0123456-abcde`, percent: 100, tag: "v3" }]);
      expect(checkMessage("google.cloud.run.v2.Service", body, "request"), name).toEqual([]);
      const fetched = { ...body, name: "projects/p/locations/r/services/s", uid: "u", generation: "4", uri: "https://s.run.app", reconciling: false, trafficStatuses: [], template: { ...template, containers: [{ ...(template.containers as object[])[0], buildInfo: {} }] } };
      expect(checkMessage("google.cloud.run.v2.Service", updatableService(fetched), "request"), name).toEqual([]);
    }
  });

  it("uses the original design's sizes: staging 1 CPU, 1 GiB, 0-10; production 2 CPU, 2 GiB, 1-50, canary 10 → 50 → 100", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    expect(config.environments.staging).toMatchObject({ cpu: "1", memory: "1Gi", min_instances: 0, max_instances: 10 });
    expect(config.environments.production).toMatchObject({ cpu: "2", memory: "2Gi", min_instances: 1, max_instances: 50, canary_steps: [10, 50, 100] });
    expect(config.environments.production!.canary).toMatchObject({ hold_seconds: 300, min_requests: 200, thresholds: { max_5xx_share: 0.01, max_p99_ms: 500, max_p99_ratio: 1.5, max_class_psi: 0.2 } });
  });

  it("refuses canary steps that do not increase to 100 and environment variables Cloud Run reserves, naming the key", async () => {
    const base = await readFile(join(PROJECT_ROOT, "config/pipeline.yaml"), "utf8");
    const bad = base.replace("canary_steps: [10, 50, 100]", "canary_steps: [50, 10]").replace("concurrency: 80\n    labels: { app: thermal-comfort, env: staging }", "concurrency: 80\n    env: { PORT: '9000' }\n    labels: { app: thermal-comfort, env: staging }");
    const message = (() => {
      try {
        parseConfig(parse(bad), "config/pipeline.yaml");
        return "";
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toMatch(/environments\.production\.canary_steps\.1: canary steps must increase, got 10/);
    expect(message).toMatch(/environments\.production\.canary_steps\.1: the last canary step must be 100/);
    expect(message).toMatch(/environments\.staging\.env\.PORT: PORT is set by Cloud Run and cannot be configured/);
  });
});

describe("the Admin API client", () => {
  const clockWith = (sleeps: number[]): Clock => ({ now: () => Date.parse("2026-12-01T10:00:00Z"), sleep: async (ms) => void sleeps.push(ms) });
  const scripted = (answers: Array<() => Response>) => {
    const seen: Array<{ url: string; init: RequestInit }> = [];
    const f = (async (url: string | URL, init?: RequestInit) => {
      seen.push({ url: String(url), init: init ?? {} });
      return answers.shift()!();
    }) as typeof fetch;
    return { f, seen };
  };
  const service = () => new Response(JSON.stringify({ name: "projects/p/locations/r/services/s", generation: "3" }), { status: 200 });
  const error = (code: number, status: string, headers: Record<string, string> = {}) => () => new Response(JSON.stringify({ error: { code, status, message: `${status} here` } }), { status: code, headers });

  it("retries 429 and 503 with backoff, honouring Retry-After in seconds and as a date", async () => {
    const sleeps: number[] = [];
    const { f, seen } = scripted([error(429, "RESOURCE_EXHAUSTED", { "retry-after": "2" }), error(503, "UNAVAILABLE", { "retry-after": "Tue, 01 Dec 2026 10:00:05 GMT" }), error(503, "UNAVAILABLE"), service]);
    const api = new CloudRunApi({ apiUrl: "https://run.example", token: async () => "tok", fetch: f, clock: clockWith(sleeps), random: () => 0.5, retry: { retries: 5, baseMs: 1000, maxMs: 32_000 } });
    const s = await api.getService("projects/p/locations/r/services/s");
    expect(s?.generation).toBe("3");
    expect(sleeps).toEqual([2000, 5000, 2000]);
    expect(api.retried).toBe(3);
    expect(seen.every((x) => (x.init.headers as Record<string, string>).authorization === "Bearer tok")).toBe(true);
    expect(seen[0]!.url).toBe("https://run.example/v2/projects/p/locations/r/services/s");
  });

  it("gives up after the retry budget, maps 404 on get to null and explains 403 with the roles needed", async () => {
    const { f } = scripted(Array.from({ length: 3 }, () => error(503, "UNAVAILABLE")));
    const api = new CloudRunApi({ token: async () => "t", fetch: f, clock: clockWith([]), retry: { retries: 2, baseMs: 1, maxMs: 1 } });
    await expect(api.getService("projects/p/locations/r/services/s")).rejects.toThrow(/503 UNAVAILABLE/);
    const notFound = new CloudRunApi({ token: async () => "t", fetch: scripted([error(404, "NOT_FOUND")]).f, clock: clockWith([]) });
    expect(await notFound.getService("projects/p/locations/r/services/s")).toBeNull();
    const denied = new CloudRunApi({ token: async () => "t", fetch: scripted([error(403, "PERMISSION_DENIED")]).f, clock: clockWith([]) });
    const err = await denied.getService("projects/p/locations/r/services/s").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudRunApiError);
    expect((err as Error).message).toMatch(/roles\/run\.developer.*roles\/iam\.serviceAccountUser/);
  });

  it("reads Retry-After forms", () => {
    const now = Date.parse("2026-12-01T10:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Tue, 01 Dec 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe("Workload Identity Federation in process", () => {
  const servers: Server[] = [];
  afterAll(async () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
  const listen = async (handler: (req: IncomingMessage, body: string) => { status: number; json: unknown }) => {
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const { status, json } = handler(req, body);
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  it("exchanges the GitHub OIDC token at STS without writing a credentials file", async () => {
    const oidcRequests: Array<{ url: string; auth?: string }> = [];
    const oidc = await listen((req) => {
      oidcRequests.push({ url: req.url ?? "", auth: req.headers.authorization });
      return { status: 200, json: { value: "github-oidc-jwt" } };
    });
    const stsBodies: URLSearchParams[] = [];
    const sts = await listen((_req, body) => {
      stsBodies.push(new URLSearchParams(body));
      return { status: 200, json: { access_token: "federated-access-token", issued_token_type: "urn:ietf:params:oauth:token-type:access_token", token_type: "Bearer", expires_in: 3600 } };
    });
    const workspace = await mkdtemp(join(tmpdir(), "wif-"));
    const provider = "projects/123456/locations/global/workloadIdentityPools/github/providers/repo";
    const reporter = recordingReporter();
    const credentials = googleCredentials({
      env: { ACTIONS_ID_TOKEN_REQUEST_URL: `${oidc}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "runner-request-token", GITHUB_WORKSPACE: workspace },
      workloadIdentityProvider: provider,
      stsUrl: `${sts}/v1/token`,
      reporter,
    });
    expect(credentials.kind).toBe("workload-identity");
    expect(await credentials.accessToken()).toBe("federated-access-token");
    expect(oidcRequests[0]!.auth).toBe("Bearer runner-request-token");
    expect(new URL(oidcRequests[0]!.url, oidc).searchParams.get("audience")).toBe(`https://iam.googleapis.com/${provider}`);
    expect(stsBodies[0]!.get("subject_token")).toBe("github-oidc-jwt");
    expect(stsBodies[0]!.get("audience")).toBe(`//iam.googleapis.com/${provider}`);
    expect(stsBodies[0]!.get("grant_type")).toBe("urn:ietf:params:oauth:grant-type:token-exchange");
    expect(reporter.secrets).toEqual(expect.arrayContaining(["runner-request-token", "github-oidc-jwt", "federated-access-token"]));
    expect(await readdir(workspace)).toEqual([]);
  });

  it("asks for id-token permission when the OIDC variables are missing", () => {
    expect(() => googleCredentials({ env: {}, workloadIdentityProvider: "projects/1/locations/global/workloadIdentityPools/p/providers/x" })).toThrow(/id-token: write/);
    expect(() => googleCredentials({ env: {}, workloadIdentityProvider: "my-provider" })).toThrow(/expected projects\/NUMBER/);
  });
});

describe("recording deployments in the registry", () => {
  afterAll(removeDeployRoots);
  it("appends under the registry lock (two writers at once both land) and tags deployed-<sha>", async () => {
    const { root } = await makeDeployRoot({});
    const deployment = (environment: string, sha: string) => ({ environment, image_digest: `sha256:${"c".repeat(64)}`, revision: `svc-${environment}`, url: "https://svc.run.app", time: "2026-12-01T10:00:00.000Z", git_sha: sha, status: "succeeded" as const });
    await Promise.all([recordDeployment(root, { model: "thermal-comfort", version: 1, deployment: deployment("staging", "1111111aaaa") }), recordDeployment(root, { model: "thermal-comfort", version: 2, deployment: deployment("production", "2222222bbbb") })]);
    const registry = await readRegistry(root);
    const [v1, v2] = registry.models["thermal-comfort"]!.versions;
    expect(v1!.deployments.map((d) => d.environment)).toEqual(["staging"]);
    expect(v2!.deployments.map((d) => d.environment)).toEqual(["production"]);
    expect(v1!.tags).toContain("deployed-1111111");
    expect(v2!.tags).toContain("deployed-2222222");
    await expect(recordDeployment(root, { model: "thermal-comfort", version: 1, deployment: { ...deployment("x", "abc"), image_digest: "latest" } })).rejects.toThrow(/image_digest/);
  });
});
