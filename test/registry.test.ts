import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../pipeline/core/errors.js";
import { checkRegistry } from "../pipeline/registry/check.js";
import { formatTable, listModels, modelHistory, parseVersionRef, showVersion } from "../pipeline/registry/query.js";
import { parseRegistry, readRegistry, recordDeployment, REGISTRY_FILE, serializeRegistry, writeRegistry } from "../pipeline/registry/store.js";
import { registeredVersion, registryOf } from "./helpers/registry-fixtures.js";

const tmp = () => mkdtemp(join(tmpdir(), "registry-test-"));

describe("registry store", () => {
  it("reads a missing registry as empty", async () => {
    expect(await readRegistry(await tmp())).toEqual({ version: 1, models: {} });
  });

  it("names the file and position of invalid YAML", async () => {
    const root = await tmp();
    await mkdir(join(root, "models"));
    await writeFile(join(root, REGISTRY_FILE), "version: 1\nmodels: [unclosed\n");
    await expect(readRegistry(root)).rejects.toThrow(/models\/registry\.yaml:\d+:\d+: invalid YAML/);
  });

  it("names the key path of a schema violation", async () => {
    const root = await tmp();
    const v = await registeredVersion(root, 1, ["validated"]);
    const raw = registryOf([v]) as unknown as { models: Record<string, { versions: Record<string, unknown>[] }> };
    raw.models["thermal-comfort"]!.versions[0]!.artifact = { path: "x", sha256: "not-a-hash" };
    await writeFile(join(root, REGISTRY_FILE), JSON.stringify(raw));
    const error = await readRegistry(root).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toContain("models/registry.yaml");
    expect((error as Error).message).toContain("models.thermal-comfort.versions.0.artifact.sha256");
  });

  it("writes atomically in a stable order and round-trips", async () => {
    const root = await tmp();
    const v1 = await registeredVersion(root, 1, ["validated", "archived"]);
    const v2 = await registeredVersion(root, 2, ["validated", "production"]);
    const other = await registeredVersion(root, 1, ["validated"], "another-model");
    const shuffled = { version: 1 as const, models: { "thermal-comfort": { versions: [v2, v1] }, "another-model": { versions: [other] } } };
    await writeRegistry(root, shuffled);
    const text = await readFile(join(root, REGISTRY_FILE), "utf8");
    expect(text.indexOf("another-model")).toBeLessThan(text.indexOf("thermal-comfort"));
    expect(text.indexOf("version: 1\n        created_at")).toBeLessThan(text.indexOf("version: 2\n        created_at"));
    const back = await readRegistry(root);
    expect(back.models["thermal-comfort"]!.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(serializeRegistry(back)).toBe(text);
    // no temporary files left behind
    expect((await readdir(join(root, "models"))).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses to write an invalid registry", async () => {
    const root = await tmp();
    const v = await registeredVersion(root, 1, ["validated"]);
    await expect(writeRegistry(root, registryOf([{ ...v, tags: ["shiny" as never] }]))).rejects.toThrow(/refusing to write/);
  });
});

describe("recordDeployment", () => {
  it("appends the deployment, tags a success deployed-<sha>, and keeps the check green against the base", async () => {
    const root = await tmp();
    const v1 = await registeredVersion(root, 1, ["validated", "production"]);
    const base = registryOf([v1]);
    const deployment = { environment: "production", image_digest: `sha256:${"c".repeat(64)}`, revision: "thermal-00001", url: "https://run.example.test", time: "2026-11-21T10:00:00Z", git_sha: "abcdef0123456789", status: "succeeded" as const };
    const after = recordDeployment(base, "thermal-comfort", 1, deployment);
    expect(after.models["thermal-comfort"]!.versions[0]!.tags).toEqual(["validated", "production", "deployed-abcdef0"]);
    expect(after.models["thermal-comfort"]!.versions[0]!.deployments).toEqual([deployment]);
    expect(base.models["thermal-comfort"]!.versions[0]!.deployments).toEqual([]);
    expect(await checkRegistry(root, after, { previous: base })).toEqual({ ok: true, problems: [] });
    const failed = recordDeployment(after, "thermal-comfort", 1, { ...deployment, git_sha: "1234567", status: "failed" });
    expect(failed.models["thermal-comfort"]!.versions[0]!.tags).toEqual(["validated", "production", "deployed-abcdef0"]);
    expect(() => recordDeployment(base, "thermal-comfort", 2, deployment)).toThrow(/thermal-comfort@v2 is not in the registry/);
  });
});

describe("registry check: one test per invariant", () => {
  async function problemsOf(build: (root: string) => Promise<Parameters<typeof checkRegistry>[1]>, previous?: (root: string) => Promise<Parameters<typeof checkRegistry>[1]>) {
    const root = await tmp();
    const registry = await build(root);
    const result = await checkRegistry(root, registry, { previous: previous ? await previous(root) : undefined });
    return result;
  }

  it("accepts a valid registry, and ignores unregistered folders", async () => {
    const result = await problemsOf(async (root) => {
      await mkdir(join(root, "models/thermal-comfort/v9"), { recursive: true });
      return registryOf([await registeredVersion(root, 1, ["validated", "archived"]), await registeredVersion(root, 2, ["validated", "production"])]);
    });
    expect(result).toEqual({ ok: true, problems: [] });
  });

  it("rejects two production versions", async () => {
    const r = await problemsOf(async (root) => registryOf([await registeredVersion(root, 1, ["validated", "production"]), await registeredVersion(root, 2, ["validated", "production"])]));
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.rule)).toEqual(["single-production"]);
    expect(r.problems[0]!.message).toMatch(/v1, v2/);
  });

  it("rejects production that is not validated", async () => {
    const r = await problemsOf(async (root) => registryOf([await registeredVersion(root, 1, ["training", "production"])]));
    expect(r.problems.map((p) => [p.rule, p.version])).toEqual([["production-requires-validated", 1]]);
  });

  it("rejects an archived production version", async () => {
    const r = await problemsOf(async (root) => registryOf([await registeredVersion(root, 1, ["validated", "archived", "production"])]));
    expect(r.problems.map((p) => p.rule)).toEqual(["archived-not-production"]);
  });

  it("rejects a missing artifact", async () => {
    const r = await problemsOf(async (root) => {
      const v = await registeredVersion(root, 1, ["validated"]);
      return registryOf([{ ...v, artifact: { ...v.artifact, path: "models/thermal-comfort/v1/gone.json" } }]);
    });
    expect(r.problems.map((p) => p.rule)).toEqual(["artifact-missing"]);
    expect(r.problems[0]!.message).toContain("does not exist");
  });

  it("rejects an artifact whose bytes changed", async () => {
    const r = await problemsOf(async (root) => {
      const v = await registeredVersion(root, 1, ["validated"]);
      await writeFile(join(root, v.artifact.path), "tampered");
      return registryOf([v]);
    });
    expect(r.problems.map((p) => p.rule)).toEqual(["artifact-sha256"]);
  });

  it("rejects an artifact path outside the repository", async () => {
    const r = await problemsOf(async (root) => {
      const v = await registeredVersion(root, 1, ["validated"]);
      return registryOf([{ ...v, artifact: { ...v.artifact, path: "../elsewhere/model.json" } }]);
    });
    expect(r.problems.map((p) => p.rule)).toEqual(["artifact-path"]);
  });

  it("rejects duplicate or decreasing versions", async () => {
    const r = await problemsOf(async (root) => registryOf([await registeredVersion(root, 2, ["validated"]), await registeredVersion(root, 1, ["validated"])]));
    expect(r.problems.map((p) => p.rule)).toEqual(["versions-increasing"]);
    const dup = await problemsOf(async (root) => registryOf([await registeredVersion(root, 1, ["validated"]), await registeredVersion(root, 1, ["validated"])]));
    expect(dup.problems.map((p) => p.rule)).toEqual(["versions-increasing"]);
  });

  it("rejects a version removed relative to the base branch", async () => {
    let v1!: Awaited<ReturnType<typeof registeredVersion>>;
    const r = await problemsOf(
      async (root) => {
        v1 = await registeredVersion(root, 1, ["validated"]);
        return registryOf([await registeredVersion(root, 2, ["validated"])]);
      },
      async () => registryOf([v1]),
    );
    expect(r.problems.map((p) => [p.rule, p.version])).toEqual([["version-removed", 1]]);
  });

  it("rejects a rewritten version but allows tag and deployment changes", async () => {
    const root = await tmp();
    const v1 = await registeredVersion(root, 1, ["validated", "production"]);
    const retagged = { ...v1, tags: ["validated" as const, "archived" as const], deployments: [{ environment: "staging", image_digest: `sha256:${"a".repeat(64)}`, revision: "r1", url: "https://example.test", time: "2026-11-02T00:00:00Z", git_sha: "abcdef1", status: "succeeded" as const }] };
    expect((await checkRegistry(root, registryOf([retagged]), { previous: registryOf([v1]) })).ok).toBe(true);
    const rewritten = { ...v1, metrics: { ...v1.metrics, macro_f1: 0.99 } };
    const r = await checkRegistry(root, registryOf([rewritten]), { previous: registryOf([v1]) });
    expect(r.problems.map((p) => p.rule)).toEqual(["version-rewritten"]);
    expect(r.problems[0]!.message).toContain("metrics");
  });
});

describe("registry queries", () => {
  it("lists, shows and tells the history", async () => {
    const root = await tmp();
    const v1 = await registeredVersion(root, 1, ["validated", "archived"]);
    const v2 = { ...(await registeredVersion(root, 2, ["validated", "production"])), deployments: [{ environment: "production", image_digest: `sha256:${"b".repeat(64)}`, revision: "thermal-00002", url: "https://run.example.test", time: "2026-11-05T10:00:00Z", git_sha: "1234567890", status: "succeeded" as const }] };
    const registry = registryOf([v1, v2]);
    expect(listModels(registry)).toEqual([{ name: "thermal-comfort", versions: 2, latest: 2, production: 2, metrics: v2.metrics, last_deployed: "2026-11-05T10:00:00Z" }]);
    expect(showVersion(registry, parseVersionRef("thermal-comfort")).version.version).toBe(2);
    expect(showVersion(registry, parseVersionRef("thermal-comfort@v1")).version.version).toBe(1);
    expect(() => showVersion(registry, parseVersionRef("thermal-comfort@v7"))).toThrow(/no version v7/);
    expect(() => parseVersionRef("Bad Name")).toThrow(/name@vN/);
    expect(modelHistory(registry, "thermal-comfort").map((e) => `${e.event} v${e.version}`)).toEqual(["registered v1", "registered v2", "deployed v2"]);
    expect(formatTable(["a", "bb"], [["xyz", 1]])).toBe("a    bb\n---  --\nxyz  1\n");
  });

  it("parses text with a named source", () => {
    expect(() => parseRegistry("version: 2\nmodels: {}\n", "main:models/registry.yaml")).toThrow(/main:models\/registry\.yaml: invalid registry\n {2}version: expected one of 1, got 2/);
  });
});
