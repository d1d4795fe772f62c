import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import type { PipelineConfig } from "../pipeline/config/schema.js";
import { InputError, PipelineError, UsageError } from "../pipeline/core/errors.js";
import { sha256Hex } from "../pipeline/core/hash.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { googleCredentials } from "../pipeline/deploy/auth.js";
import type { Clock } from "../pipeline/deploy/clock.js";
import { CloudRunApi, CloudRunApiError } from "../pipeline/deploy/cloud-run-api.js";
import { resolveDeployModel, smokeCases } from "../pipeline/deploy/model-ref.js";
import { deploymentRecordOf, readDeployResult, recordDeploymentResults } from "../pipeline/deploy/record.js";
import { DeployResultFileSchema, type DeployResultFile } from "../pipeline/deploy/result-file.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { parseModel } from "../pipeline/model/load.js";
import { compilePredictor } from "../pipeline/model/predictor.js";
import { readRegistry } from "../pipeline/registry/store.js";
import { makeDeployRoot, removeDeployRoots } from "./helpers/deploy-fixture.js";

/**
 * The deploy's edges: where its credentials come from (a fixed token, Workload Identity Federation
 * with an impersonated deployer, Application Default Credentials), how a deploy result becomes a
 * registry entry (and when it must not), how the model to ship and its smoke rows are resolved, and
 * the Admin API client's answers to dropped connections and answers that are not what it asked for.
 * Every Google and GitHub endpoint is a real HTTP server on 127.0.0.1.
 */

type Handler = (req: IncomingMessage, body: string) => { status: number; json?: unknown; text?: string } | "drop";

const servers: Server[] = [];
async function listen(handler: Handler): Promise<{ url: string; requests: Array<{ method: string; url: string; auth?: string; body: string }> }> {
  const requests: Array<{ method: string; url: string; auth?: string; body: string }> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization, body });
      const answer = handler(req, body);
      if (answer === "drop") {
        req.socket.destroy();
        return;
      }
      if (answer.json !== undefined) res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.json));
      else res.writeHead(answer.status, { "content-type": "text/html" }).end(answer.text ?? "");
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

afterAll(async () => {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise((r) => {
          s.closeAllConnections();
          s.close(r);
        }),
    ),
  );
  await removeDeployRoots();
});

const PROVIDER = "projects/123456/locations/global/workloadIdentityPools/github/providers/repo";
const SA = "deployer@comfort-prod.iam.gserviceaccount.com";

/** GitHub's OIDC endpoint, STS and IAM Credentials, scripted per path. */
async function googleStandIn(options: { oidc?: { status: number; json: unknown }; idToken?: { status: number; json: unknown } } = {}) {
  return listen((req) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/oidc") return options.oidc ?? { status: 200, json: { value: "github-oidc-jwt" } };
    if (path === "/v1/token") return { status: 200, json: { access_token: "federated-token", issued_token_type: "urn:ietf:params:oauth:token-type:access_token", token_type: "Bearer", expires_in: 3600 } };
    if (path === `/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`) return { status: 200, json: { accessToken: "impersonated-token", expireTime: new Date(Date.now() + 3600_000).toISOString() } };
    if (path === `/v1/projects/-/serviceAccounts/${SA}:generateIdToken`) return options.idToken ?? { status: 200, json: { token: "service-id-token" } };
    return { status: 404, json: { error: { message: `no ${path}` } } };
  });
}

function wifEnv(url: string): NodeJS.ProcessEnv {
  return { ACTIONS_ID_TOKEN_REQUEST_URL: `${url}/oidc?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "runner-request-token" };
}

describe("deploy credentials", () => {
  it("a fixed token is used as is, with the ID token for the service when one is given; both are secrets", async () => {
    const reporter = recordingReporter();
    const withId = googleCredentials({ env: { CLOUD_RUN_ACCESS_TOKEN: "fixed-access-token", CLOUD_RUN_ID_TOKEN: "fixed-id-token" }, reporter });
    expect(withId.kind).toBe("token");
    expect(await withId.accessToken()).toBe("fixed-access-token");
    expect(await withId.invokerHeaders("https://svc.run.app")).toEqual({ authorization: "Bearer fixed-id-token" });
    expect(reporter.secrets).toEqual(["fixed-access-token", "fixed-id-token"]);
    const without = googleCredentials({ env: { CLOUD_RUN_ACCESS_TOKEN: "fixed-access-token" } });
    expect(await without.invokerHeaders("https://svc.run.app")).toEqual({});
  });

  it("Workload Identity Federation impersonates the deployer and mints the service's ID token as it", async () => {
    const google = await googleStandIn();
    const reporter = recordingReporter();
    const credentials = googleCredentials({ env: { ...wifEnv(google.url), GOOGLE_SERVICE_ACCOUNT: SA }, workloadIdentityProvider: PROVIDER, stsUrl: `${google.url}/v1/token`, iamCredentialsUrl: google.url, reporter });
    expect(credentials.kind).toBe("workload-identity");
    expect(await credentials.accessToken()).toBe("impersonated-token");
    const headers = await credentials.invokerHeaders("https://thermal-comfort-abc.a.run.app");
    expect(headers).toEqual({ authorization: "Bearer service-id-token" });
    const idCall = google.requests.find((r) => r.url.endsWith(":generateIdToken"))!;
    expect(idCall.method).toBe("POST");
    expect(idCall.auth).toBe("Bearer impersonated-token");
    expect(JSON.parse(idCall.body)).toEqual({ audience: "https://thermal-comfort-abc.a.run.app", includeEmail: true });
    // The impersonation call carried the federated token.
    expect(google.requests.find((r) => r.url.endsWith(":generateAccessToken"))!.auth).toBe("Bearer federated-token");
    expect(reporter.secrets).toEqual(expect.arrayContaining(["runner-request-token", "github-oidc-jwt", "impersonated-token", "service-id-token"]));
  });

  it("an ID token refusal names the service account and the roles it needs; an answer without a token sends no header", async () => {
    const refused = await googleStandIn({ idToken: { status: 403, json: { error: { message: "denied" } } } });
    const c1 = googleCredentials({ env: wifEnv(refused.url), workloadIdentityProvider: PROVIDER, serviceAccount: SA, stsUrl: `${refused.url}/v1/token`, iamCredentialsUrl: refused.url });
    const e = await c1.invokerHeaders("https://svc.run.app").catch((error: unknown) => error);
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as Error).message).toBe(`generateIdToken for ${SA}: 403 (grant it roles/iam.serviceAccountTokenCreator on itself or roles/run.invoker)`);
    const empty = await googleStandIn({ idToken: { status: 200, json: {} } });
    const c2 = googleCredentials({ env: wifEnv(empty.url), workloadIdentityProvider: PROVIDER, serviceAccount: SA, stsUrl: `${empty.url}/v1/token`, iamCredentialsUrl: empty.url });
    expect(await c2.invokerHeaders("https://svc.run.app")).toEqual({});
  });

  it("without a service account to impersonate, no ID token is asked for", async () => {
    const google = await googleStandIn();
    const c = googleCredentials({ env: wifEnv(google.url), workloadIdentityProvider: PROVIDER, stsUrl: `${google.url}/v1/token` });
    expect(await c.invokerHeaders("https://svc.run.app")).toEqual({});
    expect(google.requests).toEqual([]);
    expect(await c.accessToken()).toBe("federated-token");
  });

  it("a refused or empty GitHub OIDC answer fails the token exchange with the reason", async () => {
    const refused = await googleStandIn({ oidc: { status: 403, json: { message: "no id-token permission" } } });
    const c1 = googleCredentials({ env: wifEnv(refused.url), workloadIdentityProvider: PROVIDER, stsUrl: `${refused.url}/v1/token` });
    await expect(c1.accessToken()).rejects.toThrow("GitHub OIDC token request failed: 403 Forbidden");
    const empty = await googleStandIn({ oidc: { status: 200, json: { value: "" } } });
    const c2 = googleCredentials({ env: wifEnv(empty.url), workloadIdentityProvider: PROVIDER, stsUrl: `${empty.url}/v1/token` });
    await expect(c2.accessToken()).rejects.toThrow("GitHub OIDC token request: the answer has no token");
    // Neither reached STS.
    expect([...refused.requests, ...empty.requests].some((r) => r.url.startsWith("/v1/token"))).toBe(false);
  });

  describe("Application Default Credentials", () => {
    // ADC reads the process environment; the project is named so no lookup leaves this machine.
    const saved = { GOOGLE_APPLICATION_CREDENTIALS: process.env.GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT: process.env.GOOGLE_CLOUD_PROJECT };
    afterEach(() => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });

    it("uses the credentials file ADC names (an external account here), and sends no ID token it cannot mint", async () => {
      const google = await googleStandIn();
      const dir = await mkdtemp(join(tmpdir(), "adc-"));
      await writeFile(join(dir, "subject.jwt"), "file-subject-token");
      await writeFile(
        join(dir, "adc.json"),
        JSON.stringify({
          type: "external_account",
          audience: `//iam.googleapis.com/${PROVIDER}`,
          subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
          token_url: `${google.url}/v1/token`,
          credential_source: { file: join(dir, "subject.jwt") },
        }),
      );
      process.env.GOOGLE_APPLICATION_CREDENTIALS = join(dir, "adc.json");
      process.env.GOOGLE_CLOUD_PROJECT = "comfort-test";
      const reporter = recordingReporter();
      const c = googleCredentials({ env: {}, reporter });
      expect(c.kind).toBe("adc");
      expect(await c.accessToken()).toBe("federated-token");
      expect(reporter.secrets).toContain("federated-token");
      expect(new URLSearchParams(google.requests.find((r) => r.url === "/v1/token")!.body).get("subject_token")).toBe("file-subject-token");
      expect(await c.invokerHeaders("https://svc.run.app")).toEqual({});
      await rm(dir, { recursive: true, force: true });
    });

    it("without any credentials the error says how to provide them, exit 2", async () => {
      process.env.GOOGLE_APPLICATION_CREDENTIALS = join(tmpdir(), "no-such-adc-file.json");
      const c = googleCredentials({ env: {} });
      const e = await c.accessToken().catch((error: unknown) => error);
      expect(e).toBeInstanceOf(PipelineError);
      expect((e as PipelineError).exitCode).toBe(2);
      expect((e as Error).message).toMatch(/^no Google credentials: set up Workload Identity Federation \(workload-identity-provider\), Application Default Credentials, or CLOUD_RUN_ACCESS_TOKEN \(.+\)$/);
    });
  });
});

function resultFile(overrides: Partial<DeployResultFile> = {}): DeployResultFile {
  return DeployResultFileSchema.parse({
    schema_version: 1,
    status: "succeeded",
    rolled_back: false,
    environment: "production",
    target: "cloud-run",
    model: { name: "thermal-comfort", version: 1, content_sha256: "a".repeat(64) },
    image: `europe-docker.pkg.dev/p/r/thermal-comfort@sha256:${"b".repeat(64)}`,
    image_digest: `sha256:${"b".repeat(64)}`,
    revision: "thermal-comfort-00002-xyz",
    service_url: "https://thermal-comfort-abc.a.run.app",
    tag_url: "https://c-thermal-comfort-abc.a.run.app",
    tag: "c-0123456",
    git_sha: "0123456789abcdef0123456789abcdef01234567",
    time: "2026-12-01T10:00:00.000Z",
    first_deploy: false,
    previous_split: [{ revision: "thermal-comfort-00001-abc", percent: 100 }],
    final_split: [{ revision: "thermal-comfort-00002-xyz", percent: 100 }],
    smoke: { passed: true, checks: [] },
    canary: { passed: true, steps: [] },
    timings: { started_at: "2026-12-01T09:55:00.000Z", finished_at: "2026-12-01T10:00:00.000Z", seconds_to_full_traffic: 300, seconds_to_restore: null },
    api_retries: 0,
    ...overrides,
  });
}

describe("deploy results into the registry", () => {
  it("a preview and a local run are not deployments; a result without digest, URL or sha is skipped naming what is missing", () => {
    const reporter = recordingReporter();
    expect(deploymentRecordOf(resultFile({ status: "preview" }), reporter)).toBeNull();
    expect(deploymentRecordOf(resultFile({ target: "local" }), reporter)).toBeNull();
    expect(reporter.warnings).toEqual([]);
    expect(deploymentRecordOf(resultFile({ image_digest: null, service_url: "", git_sha: null }), reporter, "out/deploy.json")).toBeNull();
    expect(reporter.warnings).toEqual(["out/deploy.json: not recorded in the registry (no image digest, service URL, git sha)"]);
    expect(deploymentRecordOf(resultFile({ status: "rolled_back", rolled_back: true }))).toMatchObject({ model: "thermal-comfort", version: 1, deployment: { status: "rolled_back", environment: "production", revision: "thermal-comfort-00002-xyz" } });
  });

  it("readDeployResult names the file and what is wrong with it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "deploy-result-"));
    await expect(readDeployResult(join(dir, "missing.json"))).rejects.toThrow(`${join(dir, "missing.json")}: cannot read the deploy result (ENOENT)`);
    await writeFile(join(dir, "broken.json"), "{ not json");
    await expect(readDeployResult(join(dir, "broken.json"))).rejects.toThrow(new RegExp(`^${join(dir, "broken.json")}: cannot read the deploy result \\(.*JSON`));
    await writeFile(join(dir, "wrong.json"), JSON.stringify({ ...resultFile(), status: "maybe" }));
    const e = await readDeployResult(join(dir, "wrong.json")).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(new RegExp(`^${join(dir, "wrong.json")}: not a deploy result: status: `));
    await writeFile(join(dir, "array.json"), "[]");
    await expect(readDeployResult(join(dir, "array.json"))).rejects.toThrow(`${join(dir, "array.json")}: not a deploy result: (root): `);
    await rm(dir, { recursive: true, force: true });
  });

  it("recordDeploymentResults writes every recordable result into the registry and skips the rest", async () => {
    const { root } = await makeDeployRoot({});
    const dir = join(root, "out");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "staging.json"), JSON.stringify(resultFile({ environment: "staging", model: { name: "thermal-comfort", version: 2, content_sha256: "a".repeat(64) } })));
    await writeFile(join(dir, "preview.json"), JSON.stringify(resultFile({ status: "preview" })));
    await writeFile(join(dir, "failed.json"), JSON.stringify(resultFile({ status: "failed", git_sha: "fedcba9876543210fedcba9876543210fedcba98" })));
    const reporter = recordingReporter();
    const n = await recordDeploymentResults(root, [join(dir, "staging.json"), join(dir, "preview.json"), join(dir, "failed.json")], reporter);
    expect(n).toBe(2);
    expect(reporter.infos).toEqual(["registry: thermal-comfort@v2 succeeded in staging (thermal-comfort-00002-xyz)", "registry: thermal-comfort@v1 failed in production (thermal-comfort-00002-xyz)"]);
    const [v1, v2] = (await readRegistry(root)).models["thermal-comfort"]!.versions;
    expect(v2!.deployments.map((d) => [d.environment, d.status])).toEqual([["staging", "succeeded"]]);
    expect(v2!.tags).toContain("deployed-0123456");
    expect(v1!.deployments.map((d) => [d.environment, d.status])).toEqual([["production", "failed"]]);
    // A failed deployment is recorded, but does not tag the version as deployed.
    expect(v1!.tags.some((t) => t === "deployed-fedcba9")).toBe(false);
    // Nothing to record writes nothing.
    const before = await readFile(join(root, "models/registry.yaml"), "utf8");
    expect(await recordDeploymentResults(root, [join(dir, "preview.json")], recordingReporter())).toBe(0);
    expect(await readFile(join(root, "models/registry.yaml"), "utf8")).toBe(before);
  });
});

describe("the model a deploy ships and its smoke rows", () => {
  async function deployRoot() {
    const r = await makeDeployRoot({ local: { target: "local", service: "thermal-comfort-local" } });
    const loaded = await loadConfig("config/pipeline.yaml", r.root);
    return { ...r, config: loaded.config };
  }

  it("refuses a model.json the registry does not list and that has no serving.json", async () => {
    const { root, v1Path, config } = await deployRoot();
    await mkdir(join(root, "scratch"), { recursive: true });
    await copyFile(v1Path, join(root, "scratch/model.json"));
    const e = await resolveDeployModel("scratch/model.json", root, config).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toBe("--model scratch/model.json: not a registered version (deploy production, name@vN, or a model.json the registry lists or with serving.json beside it)");
  });

  it("refuses a registered version whose file is gone, naming the path", async () => {
    const { root, v2Path, config } = await deployRoot();
    await rm(v2Path);
    await expect(resolveDeployModel("thermal-comfort@v2", root, config)).rejects.toThrow(`--model thermal-comfort@v2: cannot read ${v2Path} (ENOENT)`);
  });

  it("refuses a serving.json whose content hash is not the model's, and accepts the right one", async () => {
    const { root, v1Path, config } = await deployRoot();
    const dir = join(root, "baked");
    await mkdir(dir, { recursive: true });
    await copyFile(v1Path, join(dir, "model.json"));
    const bytes = await readFile(v1Path);
    const content = modelContentHash(parseModel(bytes.toString("utf8"), v1Path));
    const identity = { name: "thermal-comfort", version: 1, sha256: sha256Hex(bytes), content_sha256: "0".repeat(64) };
    await writeFile(join(dir, "serving.json"), JSON.stringify(identity));
    await expect(resolveDeployModel("baked/model.json", root, config)).rejects.toThrow(`--model baked/model.json: content hash ${content} does not match the serving.json`);
    await writeFile(join(dir, "serving.json"), JSON.stringify({ ...identity, content_sha256: content }));
    expect(await resolveDeployModel("baked/model.json", root, config)).toMatchObject({ name: "thermal-comfort", version: 1, contentSha256: content, path: join(dir, "model.json") });
  });

  it("smoke cases: the config's sanity cases plus a rows file, each expecting what the artifact predicts", async () => {
    const { root, config } = await deployRoot();
    const model = await resolveDeployModel("thermal-comfort@v1", root, config);
    const row = { ta: 22, tr: 22, rh: 45, vel: 0.1, clo: 0.7, met: 1.1, t_out: 12, season: "winter", building_type: "office", cooling_type: "air conditioned" };
    await writeFile(join(root, "rows.json"), JSON.stringify({ records: [row, { ...row, ta: 30, tr: 30 }] }));
    const cases = await smokeCases(model, config, "rows.json", root);
    expect(cases.map((c) => c.name)).toEqual([...config.promotion.gates.sanity.cases.map((c) => c.name), "rows.json row 1", "rows.json row 2"]);
    expect(cases.every((c) => model.artifact.classes.includes(c.expect!))).toBe(true);
    // The sanity cases keep their forbidden classes, and the expected class is never one of them.
    const hot = cases.find((c) => c.name === "hot and humid is never cool")!;
    expect(hot.expectNot).toEqual(["cool"]);
    expect(hot.expect).not.toBe("cool");
  });

  it("smoke rows that cannot be read, are not records, or that the model refuses are errors naming the file or case", async () => {
    const { root, config } = await deployRoot();
    const model = await resolveDeployModel("thermal-comfort@v1", root, config);
    await expect(smokeCases(model, config, "nope.json", root)).rejects.toThrow(/^nope\.json: cannot read smoke rows \(ENOENT/);
    await writeFile(join(root, "empty.json"), "[]");
    await expect(smokeCases(model, config, "empty.json", root)).rejects.toThrow(/^empty\.json: expected a non-empty list of records; at \(root\): /);
    await writeFile(join(root, "nested.json"), JSON.stringify([{ ta: { deep: 1 } }]));
    await expect(smokeCases(model, config, "nested.json", root)).rejects.toThrow(/^nested\.json: expected a non-empty list of records; at 0\.ta: /);
    await writeFile(join(root, "refused.json"), JSON.stringify([{ ta: "warm-ish", season: "summer" }]));
    const e = await smokeCases(model, config, "refused.json", root).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(/^smoke case "refused\.json row 1": the model refuses its input \(.*ta/);
  });

  it("a sanity case the artifact itself fails is caught before deploying; without cases the smoke records come from the training profile", async () => {
    const { root, config } = await deployRoot();
    const model = await resolveDeployModel("thermal-comfort@v1", root, config);
    const hotInput = config.promotion.gates.sanity.cases[0]!.input;
    const predicted = (await smokeCases(model, config, undefined, root))[0]!.expect!;
    const other = model.artifact.classes.find((c) => c !== predicted)!;
    const withCases = (cases: unknown[]): PipelineConfig => ({ ...config, promotion: { ...config.promotion, gates: { ...config.promotion.gates, sanity: { ...config.promotion.gates.sanity, cases } } } }) as PipelineConfig;
    await expect(smokeCases(model, withCases([{ name: "expects another class", input: hotInput, expect: other }]), undefined, root)).rejects.toThrow(
      `smoke case "expects another class": thermal-comfort@v1 predicts "${predicted}", the sanity case expects "${other}"; this model should not have passed validate-model`,
    );
    await expect(smokeCases(model, withCases([{ name: "forbids it", input: hotInput, expect_not: [predicted] }]), undefined, root)).rejects.toThrow(`smoke case "forbids it": thermal-comfort@v1 predicts "${predicted}", which the sanity case forbids`);
    // No configured cases (as `pipeline init` writes): the training quartiles and medians, each expecting
    // the artifact's own answer.
    const typical = await smokeCases(model, withCases([]), undefined, root);
    expect(typical.map((c) => c.name)).toEqual(["typical record (training medians, most frequent categories)", "training lower quartiles", "training upper quartiles"]);
    const profile = model.artifact.reference_profile.columns;
    const ta = profile.ta!;
    const season = profile.season!;
    if (ta.kind !== "number" || season.kind !== "category") throw new Error("the committed v1 profiles ta as a number and season as a category");
    expect([typical[1]!.input.ta, typical[0]!.input.ta, typical[2]!.input.ta]).toEqual([ta.quantiles[25], ta.quantiles[50], ta.quantiles[75]]);
    expect(typical[0]!.input.season).toBe(Object.entries(season.counts).sort((a, b) => b[1] - a[1])[0]![0]);
    const predictor = compilePredictor(model.artifact);
    for (const c of typical) expect(c.expect).toBe(model.artifact.classes[predictor.predictRecord(c.input).classIndex]);
    for (const f of model.artifact.features) expect(Object.keys(typical[0]!.input)).toContain(f.name);
    // A profile that describes none of the features leaves nothing to send: a usage error.
    const bare = { ...model, artifact: { ...model.artifact, reference_profile: { ...model.artifact.reference_profile, columns: {} } } };
    await expect(smokeCases(bare, withCases([]), undefined, root)).rejects.toThrow("no smoke rows: add promotion.gates.sanity.cases to the config or set environments.<env>.smoke.rows_file");
  });
});

describe("the Cloud Run Admin API client against a real HTTP server", () => {
  const clock = (sleeps: number[]): Clock => ({ now: () => Date.now(), sleep: async (ms) => void sleeps.push(ms) });
  const api = (url: string, sleeps: number[] = [], retries = 2) => new CloudRunApi({ apiUrl: `${url}/`, token: async () => "api-token", clock: clock(sleeps), retry: { retries, baseMs: 100, maxMs: 1000 }, random: () => 1 });

  it("lists revisions across pages and reads an operation", async () => {
    const server = await listen((req) => {
      const u = new URL(req.url ?? "/", "http://x");
      if (u.pathname.endsWith("/revisions")) {
        return u.searchParams.get("pageToken") === "p2"
          ? { status: 200, json: { revisions: [{ name: "svc-00003" }] } }
          : { status: 200, json: { revisions: [{ name: "svc-00001" }, { name: "svc-00002" }], nextPageToken: "p2" } };
      }
      if (u.pathname.startsWith("/v2/projects/p/locations/r/operations/")) return { status: 200, json: { name: "projects/p/locations/r/operations/op1", done: true } };
      return { status: 404, json: { error: { status: "NOT_FOUND" } } };
    });
    const client = api(server.url);
    expect((await client.listRevisions("projects/p/locations/r/services/svc")).map((r) => r.name)).toEqual(["svc-00001", "svc-00002", "svc-00003"]);
    expect(server.requests.map((r) => r.url)).toEqual(["/v2/projects/p/locations/r/services/svc/revisions", "/v2/projects/p/locations/r/services/svc/revisions?pageToken=p2"]);
    expect(await client.getOperation("projects/p/locations/r/operations/op1")).toEqual({ name: "projects/p/locations/r/operations/op1", done: true });
    expect(server.requests.every((r) => r.auth === "Bearer api-token")).toBe(true);
    expect(client.retried).toBe(0);
  });

  it("retries a dropped connection with backoff, then fails naming the call", async () => {
    let n = 0;
    const flaky = await listen(() => (++n === 1 ? "drop" : { status: 200, json: { name: "projects/p/locations/r/services/svc" } }));
    const sleeps: number[] = [];
    const reporter = recordingReporter();
    const client = new CloudRunApi({ apiUrl: flaky.url, token: async () => "t", clock: clock(sleeps), retry: { retries: 2, baseMs: 100, maxMs: 1000 }, random: () => 1, reporter });
    expect((await client.getService("projects/p/locations/r/services/svc"))?.name).toBe("projects/p/locations/r/services/svc");
    expect(sleeps).toEqual([100]);
    expect(client.retried).toBe(1);
    expect(reporter.infos[0]).toMatch(/^Cloud Run API GET \/v2\/projects\/p\/locations\/r\/services\/svc: .+; retrying in 0\.1 s \(attempt 2 of 3\)$/);

    const dead = await listen(() => "drop");
    const deadSleeps: number[] = [];
    const e = await api(dead.url, deadSleeps).getService("projects/p/locations/r/services/svc").catch((error: unknown) => error);
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as Error).message).toMatch(/^Cloud Run API GET \/v2\/projects\/p\/locations\/r\/services\/svc: /);
    expect(deadSleeps).toEqual([100, 200]);
    expect(dead.requests).toHaveLength(3);
  });

  it("an answer that is not JSON, not the expected shape, or an HTML error page is an error naming the call", async () => {
    const server = await listen((req) => {
      if (req.url?.includes("html-error")) return { status: 502, text: "<html>Bad gateway</html>" };
      if (req.url?.includes("not-json")) return { status: 200, text: "<html>proxy login</html>" };
      if (req.url?.includes("bad-create")) return { status: 400, json: { error: { code: 400, status: "INVALID_ARGUMENT", message: "template.containers[0].image: required" } } };
      return { status: 200, json: { done: true } };
    });
    const client = api(server.url);
    await expect(client.getService("projects/p/locations/r/services/not-json")).rejects.toThrow("Cloud Run API GET /v2/projects/p/locations/r/services/not-json: the answer is not JSON: <html>proxy login</html>");
    await expect(client.getOperation("projects/p/locations/r/operations/shape")).rejects.toThrow("Cloud Run API GET /v2/projects/p/locations/r/operations/shape: unexpected answer at name: ");
    const html = await client.getRevision("projects/p/locations/r/services/s/revisions/html-error").catch((error: unknown) => error);
    expect(html).toBeInstanceOf(CloudRunApiError);
    expect((html as CloudRunApiError).httpStatus).toBe(502);
    expect((html as Error).message).toBe("Cloud Run API GET /v2/projects/p/locations/r/services/s/revisions/html-error: 502 Bad Gateway: <html>Bad gateway</html>");
    const bad = await client.createService("projects/p/locations/r", "bad-create", { template: {} }).catch((error: unknown) => error);
    expect((bad as CloudRunApiError).status).toBe("INVALID_ARGUMENT");
    expect((bad as PipelineError).exitCode).toBe(2);
    expect((bad as Error).message).toContain("400 INVALID_ARGUMENT: template.containers[0].image: required");
  });
});
