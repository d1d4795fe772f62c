import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { deploy } from "../pipeline/deploy/index.js";
import { readRegistry } from "../pipeline/registry/store.js";
import { PROJECT_ROOT, TSX_LOADER } from "./helpers/cli.js";
import { makeDeployRoot, removeDeployRoots } from "./helpers/deploy-fixture.js";

/** The local target with the real server as a child process (what runs where buildah or an image is missing). */

const LOCAL = { local: { target: "local", service: "thermal-comfort-local", smoke: { ready_checks: 2, interval_seconds: 0.2, timeout_seconds: 20, request_timeout_seconds: 10, warmup_requests: 5 } } };
const CLI = [process.execPath, "--import", TSX_LOADER, join(PROJECT_ROOT, "cli/main.ts")];

afterAll(removeDeployRoots);

describe("deploy --env local", () => {
  it("starts the server on a free 127.0.0.1 port, passes the same smoke checks, and stops it", async () => {
    const { root } = await makeDeployRoot(LOCAL);
    const { config } = await loadConfig(join(root, "config/pipeline.yaml"), root);
    const registryBefore = await readRegistry(root);
    const out = await deploy({ config, root, environment: "local", model: "thermal-comfort@v1", gitSha: null, reporter: recordingReporter(), cliCommand: CLI, forceProcess: true, record: true });
    try {
      expect(out.result.outcome, out.result.reason).toBe("deployed");
      expect(out.result.serviceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(out.result.smoke!.checks.map((c) => c.name)).toEqual(["ready", ...config.promotion.gates.sanity.cases.map((c) => `predict: ${c.name}`), "warm-up"]);
      const r = await fetch(`${out.result.serviceUrl}/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(config.promotion.gates.sanity.cases[0]!.input) });
      expect(r.status).toBe(200);
      expect(r.headers.get("x-model-version")).toBe("1");
    } finally {
      await out.local!.stop();
    }
    await expect(fetch(`${out.result.serviceUrl}/health`)).rejects.toThrow();
    // A laptop run is not a deployment: the registry is untouched even with record.
    expect(await readRegistry(root)).toEqual(registryBefore);
  }, 120_000);

  it("refuses a model file changed after its registration before starting anything", async () => {
    const { root } = await makeDeployRoot(LOCAL, { tamperV2: true });
    const { config } = await loadConfig(join(root, "config/pipeline.yaml"), root);
    await expect(deploy({ config, root, environment: "local", model: "thermal-comfort@v2", gitSha: null, reporter: recordingReporter(), cliCommand: CLI, forceProcess: true })).rejects.toThrow(/sha256 [0-9a-f]+ does not match the registry/);
  }, 120_000);

  it("fails with the server's own last words when it dies before it is ready", async () => {
    const { root } = await makeDeployRoot(LOCAL);
    const { config } = await loadConfig(join(root, "config/pipeline.yaml"), root);
    const dying = [process.execPath, "-e", "console.error('cannot bind: EACCES'); process.exit(3)"];
    const out = await deploy({ config, root, environment: "local", model: "thermal-comfort@v1", gitSha: null, reporter: recordingReporter(), cliCommand: dying, forceProcess: true });
    expect(out.result.outcome).toBe("failed");
    expect(out.result.reason).toMatch(/the server exited \(code 3\): cannot bind: EACCES/);
  }, 120_000);
});
