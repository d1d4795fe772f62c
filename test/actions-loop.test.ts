import { beforeAll, describe, expect, it } from "vitest";
import { cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { bundleAction, runAction } from "./helpers/action.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { git, makeTestRepo, remoteFile } from "./helpers/git.js";
import { startScriptedServer } from "./helpers/github-mock.js";
import { RegistrySchema } from "../pipeline/registry/schema.js";

const bundles: Record<string, string> = {};
beforeAll(async () => {
  for (const step of ["train", "validate-model", "promote"]) bundles[step] = await bundleAction(step);
}, 180_000);

const TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";

describe("train → validate-model → promote actions, as a workflow runs them", () => {
  it("trains a candidate, gates it, and opens the promotion pull request", async () => {
    const repo = await makeTestRepo();
    const ws = repo.work;
    await cp(join(PROJECT_ROOT, "data"), join(ws, "data"), { recursive: true });
    await writeFile(
      join(ws, "config/quick.yaml"),
      "extends: pipeline.yaml\ntraining:\n  candidates:\n    - { name: tree-d8, algorithm: decision_tree, params: { max_depth: 8, min_samples_leaf: 5, class_weight: balanced } }\nsplit: { cv_folds: 2 }\n",
    );
    await git(ws, "add", ".");
    await git(ws, "commit", "-q", "-m", "data and quick config");
    await git(ws, "push", "-q", "origin", "main");

    const trained = await runAction(bundles.train!, { config: "config/quick.yaml", candidate: "tree-d8", out: "out/tree-d8" }, { workspace: ws });
    expect(trained.code, trained.stdout + trained.stderr).toBe(0);
    expect(trained.outputs.candidate).toBe("tree-d8");
    expect(Number(trained.outputs["macro-f1"])).toBeGreaterThan(0.4);
    expect(trained.summary).toContain("tree-d8");

    const gated = await runAction(bundles["validate-model"]!, { model: "out/tree-d8/model.json", config: "config/quick.yaml", report: "reports/mv.json" }, { workspace: ws });
    expect(gated.code, gated.stdout).toBe(0);
    expect(gated.outputs.passed).toBe("true");

    // GitHub's REST API, scripted: no open PR yet, create returns #7, labels accepted.
    const api = await startScriptedServer((_n, req) => {
      if (req.method === "GET" && req.url.startsWith("/repos/acme/thermal-comfort/pulls")) return { status: 200, body: [] };
      if (req.method === "POST" && req.url === "/repos/acme/thermal-comfort/pulls")
        return { status: 201, body: { number: 7, html_url: "https://github.com/acme/thermal-comfort/pull/7", state: "open", head: { ref: "promote/thermal-comfort-v1" } } };
      if (req.method === "POST" && req.url.endsWith("/labels")) return { status: 200, body: [{ name: "model-promotion" }] };
      return { status: 404, body: { message: `unexpected ${req.method} ${req.url}` } };
    });
    try {
      const promoted = await runAction(
        bundles.promote!,
        { model: "out/tree-d8", "validation-report": "reports/mv.json", config: "config/quick.yaml", "open-pr": "true", token: TOKEN, "token-kind": "pat" },
        { workspace: ws, env: { GITHUB_API_URL: api.url } },
      );
      expect(promoted.code, promoted.stdout + promoted.stderr).toBe(0);
      expect(promoted.outputs).toMatchObject({ version: "1", branch: "promote/thermal-comfort-v1", "pull-request-number": "7" });
      // The token is registered for masking and otherwise never printed.
      const lines = (promoted.stdout + promoted.stderr).split("\n").filter((l) => l.includes(TOKEN));
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.filter((l) => l !== `::add-mask::${TOKEN}`), lines.join("\n")).toEqual([]);
      const create = api.requests.find((r) => r.method === "POST" && r.url.endsWith("/pulls"))!;
      const body = JSON.parse(create.body) as { head: string; base: string; body: string };
      expect(body).toMatchObject({ head: "promote/thermal-comfort-v1", base: "main" });
      expect(body.body).toContain("```mermaid");
    } finally {
      await api.stop();
    }
    // The promotion branch on the remote carries the registry change: v1 validated and production.
    const registry = RegistrySchema.parse(parse((await remoteFile(repo.remote, "promote/thermal-comfort-v1", "models/registry.yaml"))!));
    expect([...registry.models["thermal-comfort"]!.versions[0]!.tags].sort()).toEqual(["production", "validated"]);
    // main is untouched until a person merges the pull request.
    expect(await remoteFile(repo.remote, "main", "models/registry.yaml")).toBeNull();
    expect(JSON.parse(await readFile(join(ws, "reports/mv.json"), "utf8")).passed).toBe(true);
  }, 300_000);
});
