import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { writeDirAtomic } from "../pipeline/core/atomic.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { ModelArtifactSchema } from "../pipeline/model/artifact-schema.js";
import { promote } from "../pipeline/promote/index.js";
import { checkRegistry } from "../pipeline/registry/check.js";
import { readRegistry, serializeRegistry } from "../pipeline/registry/store.js";
import { validateModel } from "../pipeline/validate-model/index.js";
import { PROJECT_ROOT, runCli } from "./helpers/cli.js";
import { boundValidationReport, registeredVersion, registryOf, scratchRoot, validationReport, writeModelDir } from "./helpers/registry-fixtures.js";

/**
 * Issue 10, the promotion side, through the real CLI on scratch repositories: a report binds to
 * its artifact (case 1), no report means no validated version (case 2), an unchanged model is
 * "nothing to promote" (case 3), times are reproducible (case 4), a broken registry is never
 * written on (case 7), models/ never resolves outside (case 9), stale folders are never published
 * (case 10), and train never leaves a mixed output folder (case 12).
 */

const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");
const CONFIG = "config/pipeline.yaml";

async function modelIn(root: string, name: string, seed: number, options: { macroF1?: number } = {}): Promise<string> {
  return writeModelDir(join(root, "..", `${name}-${seed}-${Math.random().toString(36).slice(2)}`, "out"), { seed, ...options });
}

async function reportFile(_root: string, value: unknown): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), "report-")), "model-validation.json");
  await writeFile(file, JSON.stringify(value));
  return file;
}

const boundTo = (root: string, modelDir: string, passed = true) => boundValidationReport(modelDir, { file: CONFIG, root }, passed);

async function promoteCli(root: string, modelDir: string, report: string | null, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return runCli(["promote", "--model", modelDir, ...(report ? ["--validation-report", report] : []), ...extra], { cwd: root, env });
}

/** Promotes through the library (set-up only; the cases under test run the CLI). */
async function promoteLib(root: string, modelDir: string): Promise<void> {
  const { config } = await loadConfig(CONFIG, root);
  const result = await promote({ root, config, modelPath: modelDir, validationReport: await boundTo(root, modelDir), reporter: recordingReporter(), openPr: false });
  expect(result.changed).toBe(true);
}

/** A scratch root with v1 promoted with its own report. */
async function rootWithPromotedV1(): Promise<{ root: string; v1Dir: string }> {
  const root = await scratchRoot("integrity-promote-");
  const v1Dir = await modelIn(root, "good", 1);
  await promoteLib(root, v1Dir);
  return { root, v1Dir };
}

async function registryBytes(root: string): Promise<Buffer> {
  return readFile(join(root, "models/registry.yaml"));
}

describe("a validation report binds to its artifact and configuration (case 1)", () => {
  it("refuses another model's passing report, an empty report, a failed one and one made with another config", async () => {
    const { root } = await rootWithPromotedV1();
    const before = await registryBytes(root);
    const good = await modelIn(root, "good", 2);
    const bad = await modelIn(root, "bad", 3, { macroF1: 0.2 });
    const goodReport = await reportFile(root, await boundTo(root, good));

    const borrowed = await promoteCli(root, bad, goodReport);
    expect(borrowed.code).toBe(1);
    expect(borrowed.stderr).toMatch(/refusing to promote: .*model-validation\.json: the report is about artifact sha256 [0-9a-f]{64}, not this one \([0-9a-f]{64}\)/);

    const empty = await promoteCli(root, bad, await reportFile(root, {}));
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/refusing to promote: .*not a validate-model report|not a complete validate-model report/);

    const failed = await promoteCli(root, good, await reportFile(root, await boundTo(root, good, false)));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/the validate-model report failed \(champion:macro_f1\)/);

    const otherConfig = { ...(await boundTo(root, good)), config_sha256: "c".repeat(64) };
    const loosened = await promoteCli(root, good, await reportFile(root, otherConfig));
    expect(loosened.code).toBe(1);
    expect(loosened.stderr).toMatch(/the report was made with configuration sha256 c{64}, promote runs with [0-9a-f]{64}/);

    const legacy: Record<string, unknown> = await boundTo(root, good);
    delete legacy.config_sha256;
    const unnamed = await promoteCli(root, good, await reportFile(root, legacy));
    expect(unnamed.code).toBe(1);
    expect(unnamed.stderr).toMatch(/does not name the configuration it was made with/);

    // Nothing was written by any refused promotion.
    expect((await registryBytes(root)).equals(before)).toBe(true);
    expect(await readdir(join(root, "models/thermal-comfort"))).toEqual(["v1"]);
    // Its own report promotes it.
    const ok = await promoteCli(root, good, goodReport);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/thermal-comfort v2 .*replaces production v1\)\nchanged=true\n$/);
  }, 60_000);
});

describe("without a report nothing becomes validated (case 2)", () => {
  it("refuses; --unvalidated registers the version untagged, production stays, and it cannot be rolled back to", async () => {
    const { root } = await rootWithPromotedV1();
    const model = await modelIn(root, "plain", 2);
    const refused = await promoteCli(root, model, null);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to promote thermal-comfort: no validate-model report\. Pass this model's report with --validation-report FILE, or --unvalidated/);
    const untagged = await promoteCli(root, model, null, ["--unvalidated"]);
    expect(untagged.code, untagged.stderr).toBe(0);
    expect(untagged.stdout).toMatch(/thermal-comfort v2 → models\/thermal-comfort\/v2 \(untagged: not validated\)\nchanged=true/);
    const registry = await readRegistry(root);
    expect(registry.models["thermal-comfort"]!.versions.map((v) => [v.version, v.tags])).toEqual([
      [1, ["validated", "production"]],
      [2, []],
    ]);
    expect((await checkRegistry(root, registry)).ok).toBe(true);
    const rollback = await runCli(["rollback", "thermal-comfort", "--to", "v2"], { cwd: root });
    expect(rollback.code).toBe(2);
    expect(rollback.stderr).toMatch(/thermal-comfort@v2 is not validated; only a validated version may be production/);
  }, 60_000);
});

/** The same model as `dir` (same predictive content), retrained at another time from another commit. */
async function retrained(dir: string): Promise<string> {
  const artifact = ModelArtifactSchema.parse(JSON.parse(await readFile(join(dir, "model.json"), "utf8")));
  artifact.lineage.created_at = "2026-12-24T18:00:00.000Z";
  artifact.lineage.git_sha = "fedcba9876543210fedcba9876543210fedcba98";
  const out = join(await mkdtemp(join(tmpdir(), "retrained-")), "out");
  await mkdir(out);
  for (const f of ["metrics.json", "report.md"]) await writeFile(join(out, f), await readFile(join(dir, f)));
  await writeFile(join(out, "model.json"), JSON.stringify(artifact) + "\n");
  return out;
}

describe("an unchanged model is nothing to promote (case 3)", () => {
  it("a retrained copy of v1 (other lineage, other bytes) ends with nothing to promote, exit 0, changed=false, nothing written", async () => {
    const { root, v1Dir } = await rootWithPromotedV1();
    const before = await registryBytes(root);
    const again = await retrained(v1Dir);
    expect(sha256(await readFile(join(again, "model.json")))).not.toBe(sha256(await readFile(join(v1Dir, "model.json"))));
    const r = await promoteCli(root, again, await reportFile(root, await boundTo(root, again)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/nothing to promote: this is the same model as thermal-comfort@v1 \[validated, production\] \(content sha256 [0-9a-f]{12}…; only lineage or times differ\); nothing was written/);
    expect(r.stdout).toBe("nothing to promote: the same model as thermal-comfort@v1\nchanged=false\n");
    expect((await registryBytes(root)).equals(before)).toBe(true);
    expect(await readdir(join(root, "models/thermal-comfort"))).toEqual(["v1"]);
    const json = await promoteCli(root, again, await reportFile(root, await boundTo(root, again)), ["--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ changed: false, sameAs: 1, version: 1, files: [] });
  }, 60_000);

  it("recognises a version registered without content_sha256 (like the committed v1) by computing it from the artifact", async () => {
    const root = await scratchRoot("integrity-legacy-");
    const legacy = await registeredVersion(root, 1, ["validated", "production"]);
    expect(legacy.content_sha256).toBeUndefined();
    await writeFile(join(root, "models/registry.yaml"), serializeRegistry(registryOf([legacy])));
    const before = await registryBytes(root);
    const same = await retrained(await writeModelDir(join(await mkdtemp(join(tmpdir(), "legacy-src-")), "out"), { seed: 1 }));
    const r = await promoteCli(root, same, await reportFile(root, await boundTo(root, same)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/changed=false/);
    expect((await registryBytes(root)).equals(before)).toBe(true);
  }, 30_000);

  it("an artifact whose recorded content_sha256 does not match its trees is refused", async () => {
    const root = await scratchRoot("integrity-tamper-");
    const dir = await modelIn(root, "tampered", 7);
    const artifact = JSON.parse(await readFile(join(dir, "model.json"), "utf8")) as Record<string, unknown>;
    await writeFile(join(dir, "model.json"), JSON.stringify({ ...artifact, content_sha256: "e".repeat(64) }) + "\n");
    const r = await promoteCli(root, dir, null, ["--unvalidated"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/content_sha256 e{64} does not match the model's content; the file was changed after training/);
    expect(existsSync(join(root, "models"))).toBe(false);
  }, 30_000);

  it("a new version records its content_sha256 in the registry", async () => {
    const { root, v1Dir } = await rootWithPromotedV1();
    const v1 = (await readRegistry(root)).models["thermal-comfort"]!.versions[0]!;
    const artifact = ModelArtifactSchema.parse(JSON.parse(await readFile(join(v1Dir, "model.json"), "utf8")));
    expect(v1.content_sha256).toBe(modelContentHash(artifact));
  }, 30_000);

  it("validate-model names the registered version a challenger is the same model as (the committed v1)", async () => {
    const loaded = await loadConfig(CONFIG, PROJECT_ROOT);
    const reporter = recordingReporter();
    const report = await validateModel({ config: loaded.config, root: PROJECT_ROOT, modelPath: "models/thermal-comfort/v1/model.json", champion: null, reporter, measureLatency: false });
    expect(report.same_as).toBe("thermal-comfort@v1");
    expect(report.config_sha256).toBe(loaded.sha256);
    expect(reporter.warnings.join("\n")).toMatch(/the challenger is the same model as thermal-comfort@v1 \(same content hash\): promoting it would change nothing/);
  }, 120_000);
});

describe("reproducible times (case 4)", () => {
  it("two CLI runs of train --candidate tree-d10 give byte-identical model.json; SOURCE_DATE_EPOCH pins created_at", async () => {
    const out = await mkdtemp(join(tmpdir(), "repro-"));
    const run = (name: string, env: NodeJS.ProcessEnv = {}) => runCli(["train", "--candidate", "tree-d10", "--out", join(out, name)], { cwd: PROJECT_ROOT, env: { SOURCE_DATE_EPOCH: "", ...env } });
    const [a, b, pinned] = await Promise.all([run("a"), run("b"), run("pinned", { SOURCE_DATE_EPOCH: "1767225600" })]);
    for (const r of [a, b, pinned]) expect(r.code, r.stderr).toBe(0);
    const [ma, mb, mp] = await Promise.all(["a", "b", "pinned"].map((n) => readFile(join(out, n, "model.json"))));
    expect(sha256(ma!)).toBe(sha256(mb!));
    const lineage = (bytes: Buffer) => ModelArtifactSchema.parse(JSON.parse(bytes.toString("utf8"))).lineage;
    expect(lineage(mp!).created_at).toBe("2026-01-01T00:00:00.000Z");
    // The artifact records its identity; the pinned run is the same model as the others.
    const artifact = ModelArtifactSchema.parse(JSON.parse(ma!.toString("utf8")));
    expect(artifact.content_sha256).toBe(modelContentHash(artifact));
    expect(ModelArtifactSchema.parse(JSON.parse(mp!.toString("utf8"))).content_sha256).toBe(artifact.content_sha256);
    // Without SOURCE_DATE_EPOCH the time is the trained commit's, which lineage names.
    expect(lineage(ma!).git_sha).toMatch(/^[0-9a-f]{40}$/);
  }, 240_000);

  it("SOURCE_DATE_EPOCH pins the registry's created_at: two promotions of the same inputs give identical registries", async () => {
    const roots = [await scratchRoot("integrity-sde-a-"), await scratchRoot("integrity-sde-b-")];
    const model = await writeModelDir(join(await mkdtemp(join(tmpdir(), "sde-")), "out"), { seed: 4 });
    for (const root of roots) {
      const r = await promoteCli(root, model, await reportFile(root, await boundTo(root, model)), [], { SOURCE_DATE_EPOCH: "1767225600" });
      expect(r.code, r.stderr).toBe(0);
    }
    const [a, b] = await Promise.all(roots.map(registryBytes));
    expect(a!.equals(b!)).toBe(true);
    expect((await readRegistry(roots[0]!)).models["thermal-comfort"]!.versions[0]!.created_at).toBe("2026-01-01T00:00:00.000Z");
    const bad = await promoteCli(roots[0]!, model, null, ["--unvalidated"], { SOURCE_DATE_EPOCH: "yesterday" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/SOURCE_DATE_EPOCH="yesterday": expected a non-negative integer/);
  }, 60_000);
});

describe("promote and rollback never write on a broken registry (case 7)", () => {
  async function brokenVariants(): Promise<{ label: string; root: string; rule: RegExp }[]> {
    const make = async (label: string, rule: RegExp, mutate: (root: string) => Promise<void>) => {
      const { root } = await rootWithPromotedV1();
      await promoteLib(root, await modelIn(root, "next", 2));
      await mutate(root);
      return { label, root, rule };
    };
    const editRegistry = (fn: (text: string) => string) => async (root: string) => writeFile(join(root, "models/registry.yaml"), fn(await readFile(join(root, "models/registry.yaml"), "utf8")));
    return Promise.all([
      make("two production tags", /\[single-production\]/, editRegistry((t) => t.replace(/- validated\n(\s+)- archived/, "- validated\n$1- production"))),
      make("a wrong sha256", /\[artifact-sha256\]/, async (root) => writeFile(join(root, "models/thermal-comfort/v1/model.json"), "{}\n")),
      make("a missing artifact", /\[artifact-missing\]/, async (root) => rm(join(root, "models/thermal-comfort/v1/model.json"))),
      make("duplicate versions", /\[versions-increasing\]/, editRegistry((t) => t.replace(/version: 2\n/, "version: 1\n"))),
    ]);
  }

  it("refuses with exit 1 naming the broken rule, and leaves the registry as it was", async () => {
    for (const { label, root, rule } of await brokenVariants()) {
      const before = await registryBytes(root);
      const model = await modelIn(root, "third", 3);
      const r = await promoteCli(root, model, await reportFile(root, await boundTo(root, model)));
      expect(r.code, `${label}: ${r.stderr}`).toBe(1);
      expect(r.stderr, label).toMatch(/refusing to write: models\/registry\.yaml already fails `pipeline registry check`/);
      expect(r.stderr, label).toMatch(rule);
      const rb = await runCli(["rollback", "thermal-comfort", "--to", "v1"], { cwd: root });
      expect(rb.code, label).toBe(1);
      expect(rb.stderr, label).toMatch(rule);
      expect((await registryBytes(root)).equals(before), label).toBe(true);
      expect(existsSync(join(root, "models/thermal-comfort/v3")), label).toBe(false);
    }
  }, 120_000);

  it("an empty or comment-only registry.yaml never lets a promotion overwrite the committed v1", async () => {
    for (const text of ["", "# all gone\n"]) {
      const { root } = await rootWithPromotedV1();
      const v1 = await readFile(join(root, "models/thermal-comfort/v1/model.json"));
      await writeFile(join(root, "models/registry.yaml"), text);
      const model = await modelIn(root, "other", 5);
      const r = await promoteCli(root, model, await reportFile(root, await boundTo(root, model)));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/models\/registry\.yaml: the registry is empty/);
      expect((await readFile(join(root, "models/thermal-comfort/v1/model.json"))).equals(v1)).toBe(true);
    }
  }, 60_000);
});

describe("models/ never resolves outside the repository (case 9)", () => {
  it("promote refuses a models/ symlinked elsewhere and writes nothing there", async () => {
    const root = await scratchRoot("integrity-models-link-");
    const elsewhere = await mkdtemp(join(tmpdir(), "models-target-"));
    await symlink(elsewhere, join(root, "models"));
    const model = await modelIn(root, "m", 1);
    const r = await promoteCli(root, model, await reportFile(root, await boundTo(root, model)));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models: the models folder resolves to .*outside the repository .*refusing to write there/);
    expect(await readdir(elsewhere)).toEqual([]);
  }, 30_000);
});

describe("nothing an earlier run left is published (case 10)", () => {
  it("an unregistered v2 folder from a killed promotion is replaced whole by the next promotion's own files", async () => {
    const { root } = await rootWithPromotedV1();
    const stale = join(root, "models/thermal-comfort/v2");
    await mkdir(stale, { recursive: true });
    await writeFile(join(stale, "validation-report.json"), JSON.stringify({ ...validationReport(), challenger: { sha256: "d".repeat(64) } }));
    await writeFile(join(stale, "validation-report.md"), "# a report of another model\n");
    await writeFile(join(stale, "leftover.bin"), "old bytes");
    const model = await modelIn(root, "fresh", 2);
    const r = await promoteCli(root, model, await reportFile(root, await boundTo(root, model)));
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(stale)).sort()).toEqual(["card.md", "metrics.json", "model.json", "report.md", "validation-report.json"]);
    const published = JSON.parse(await readFile(join(stale, "validation-report.json"), "utf8")) as { challenger: { sha256: string } };
    expect(published.challenger.sha256).toBe(sha256(await readFile(join(stale, "model.json"))));
    expect((await checkRegistry(root, await readRegistry(root))).ok).toBe(true);
    // No staging folder is left beside the versions.
    expect((await readdir(join(root, "models/thermal-comfort"))).sort()).toEqual(["v1", "v2"]);
  }, 60_000);
});

describe("train never leaves a mixed output folder (case 12)", () => {
  it("a failed write keeps the previous output whole; a folder with foreign files is refused", async () => {
    const dir = join(await mkdtemp(join(tmpdir(), "train-out-")), "out");
    await writeDirAtomic(dir, [
      { name: "model.json", data: "old model\n" },
      { name: "metrics.json", data: "old metrics\n" },
    ]);
    // The second file cannot be written (not bytes): nothing of this run lands.
    await expect(writeDirAtomic(dir, [{ name: "model.json", data: "new model\n" }, { name: "metrics.json", data: 42 as unknown as string }])).rejects.toThrow();
    expect(await readFile(join(dir, "model.json"), "utf8")).toBe("old model\n");
    expect(await readFile(join(dir, "metrics.json"), "utf8")).toBe("old metrics\n");
    expect((await readdir(join(dir, ".."))).sort()).toEqual(["out"]);
    // A successful run replaces the folder whole.
    await writeDirAtomic(dir, [{ name: "model.json", data: "new model\n" }, { name: "metrics.json", data: "new metrics\n" }]);
    expect(await readFile(join(dir, "metrics.json"), "utf8")).toBe("new metrics\n");
    expect((await readdir(join(dir, ".."))).sort()).toEqual(["out"]);

    const root = await scratchRoot("integrity-train-out-");
    await mkdir(join(root, "out"), { recursive: true });
    await writeFile(join(root, "out/notes.txt"), "mine");
    const r = await runCli(["train", "--candidate", "tree-d10", "--data", join(PROJECT_ROOT, "data/thermal-comfort.csv"), "--out", "out"], { cwd: root });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/out: holds files this step does not write \(notes\.txt\); name a new or empty folder/);
    expect(await readdir(join(root, "out"))).toEqual(["notes.txt"]);
  }, 120_000);
});
