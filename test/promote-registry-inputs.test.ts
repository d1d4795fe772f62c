import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { GateFailure, InputError } from "../pipeline/core/errors.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { gitHubFromEnvironment } from "../pipeline/promote/github-setup.js";
import { readMetricsView } from "../pipeline/promote/metrics-view.js";
import { failedGates, jsonErrorPosition, readPromotionSource, ValidationReportViewSchema } from "../pipeline/promote/source.js";
import { assertRegistryValid, checkRegistry } from "../pipeline/registry/check.js";
import { RegistryLockError, withRegistryLock } from "../pipeline/registry/lock.js";
import { writeRegistry } from "../pipeline/registry/store.js";
import { git } from "./helpers/git.js";
import { startScriptedServer } from "./helpers/github-mock.js";
import { modelArtifact, registeredVersion, registryOf, validationReport, writeModelDir } from "./helpers/registry-fixtures.js";

/**
 * What promotion reads before it writes anything, and the registry's own guards: the training
 * output and reports (each refusal names the file and what is wrong), the lenient metrics reader
 * behind cards and PR bodies, where the GitHub client gets its token and repository, the registry
 * check on artifacts that are not plain files, and the registry lock when it is busy or lost.
 */

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function scratch(prefix = "promote-in-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

describe("reading a promotion's source", () => {
  it("refuses a missing path, a folder without model.json, and a model.json that is not JSON, saying where", async () => {
    const root = await scratch();
    await expect(readPromotionSource(root, "out/none")).rejects.toThrow("out/none: no such model directory or model.json");
    await mkdir(join(root, "out/empty"), { recursive: true });
    await expect(readPromotionSource(root, "out/empty")).rejects.toThrow(`${join(root, "out/empty/model.json")}: model.json not found (train writes it with --out DIR)`);
    await mkdir(join(root, "out/broken"), { recursive: true });
    await writeFile(join(root, "out/broken/model.json"), '{\n  "name": "x",\n  oops\n}');
    const e = await readPromotionSource(root, "out/broken").catch((error: unknown) => error);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe(`${join(root, "out/broken/model.json")}: invalid JSON (syntax error at line 3, column 3)`);
    // The parser's message (which quotes the file) is not repeated.
    expect((e as Error).message).not.toContain("oops");
  });

  it("jsonErrorPosition never quotes the content", () => {
    const position = (text: string) => {
      try {
        JSON.parse(text);
        return null;
      } catch (error) {
        return jsonErrorPosition(error as Error, text);
      }
    };
    expect(position("")).toBe("unexpected end of input");
    expect(position('{"a": 1}\n  x')).toBe("syntax error at line 2, column 3");
    // V8 quotes the text in some messages instead of giving a position: then only "not JSON".
    expect(position("[1,]")).toBe("not JSON");
    expect(jsonErrorPosition(new Error("something else entirely"), "")).toBe("not JSON");
  });

  it("refuses an artifact changed after training (content hash) and a name that cannot be registered", async () => {
    const root = await scratch();
    const dir = await writeModelDir(join(root, "out/model"));
    const artifact = JSON.parse(await readFile(join(dir, "model.json"), "utf8")) as Record<string, unknown>;
    await writeFile(join(dir, "model.json"), JSON.stringify({ ...artifact, content_sha256: "0".repeat(64) }));
    await expect(readPromotionSource(root, "out/model")).rejects.toThrow(`${join(dir, "model.json")}: content_sha256 ${"0".repeat(64)} does not match the model's content; the file was changed after training`);
    const renamed = modelArtifact({ name: "Thermal_Comfort" });
    await writeFile(join(dir, "model.json"), JSON.stringify(renamed));
    await expect(readPromotionSource(root, "out/model/model.json")).rejects.toThrow(`${join(dir, "model.json")}: name "Thermal_Comfort" must be lowercase letters, digits and hyphens to be registered`);
  });

  it("copies the reports beside the artifact (with the validation markdown), and reads the data report's drift", async () => {
    const root = await scratch();
    const dir = await writeModelDir(join(root, "out/model"));
    const artifact = modelArtifact();
    await writeFile(join(dir, "model.json"), JSON.stringify({ ...artifact, content_sha256: modelContentHash(artifact) }));
    await writeFile(join(root, "out/mv.json"), JSON.stringify(validationReport(false)));
    await writeFile(join(root, "out/mv.md"), "# Model validation\n");
    const source = await readPromotionSource(root, "out/model", "out/mv.json", { drift: { passed: true, columns: [] } });
    expect(source.extras.map((x) => x.name)).toEqual(["metrics.json", "report.md", "validation-report.json", "validation-report.md", "data-validation-report.json"]);
    expect(source.validationFile).toBe(join(root, "out/mv.json"));
    expect(source.dataDrift).toEqual({ passed: true, columns: [] });
    // The latency gate is skipped, so only the champion gate counts as failed.
    expect(failedGates(source.validation!).map((g) => g.name)).toEqual(["champion:macro_f1"]);
  });

  it("refuses reports that are missing or are not the report they claim to be", async () => {
    const root = await scratch();
    await writeModelDir(join(root, "out/model"));
    await expect(readPromotionSource(root, "out/model", "out/nope.json")).rejects.toThrow("out/nope.json: validation report not found");
    await writeFile(join(root, "out/list.json"), JSON.stringify([1, 2]));
    const e = await readPromotionSource(root, "out/model", "out/list.json").catch((error: unknown) => error);
    expect(e).toBeInstanceOf(GateFailure);
    expect((e as Error).message).toMatch(/^list\.json.*not a validate-model report; refusing to promote/);
    await writeFile(join(root, "out/data.json"), "42");
    await expect(readPromotionSource(root, "out/model", undefined, "out/data.json")).rejects.toThrow("data.json: not a validate-data report (expected a JSON object)");
    await expect(readPromotionSource(root, "out/model", undefined, "out/missing-data.json")).rejects.toThrow("out/missing-data.json: data validation report not found");
  });

  it("a report with slices in an unknown shape keeps its verdict and drops the slices", () => {
    const view = ValidationReportViewSchema.parse({ passed: true, gates: [], slices: "not a list" });
    expect(view.passed).toBe(true);
    expect(view.slices).toBeUndefined();
  });
});

describe("the lenient metrics reader", () => {
  const classes = ["cool", "neutral", "warm"];

  it("finds metrics nested under `metrics`, confusion given with labels, per-class rows as a list, importance as a list", () => {
    const view = readMetricsView(
      [
        "not an object",
        {
          metrics: {
            macro_f1: 0.5,
            n: 100,
            confusion: { matrix: [[1, 2], [3, 4]], labels: ["a", "b"] },
            per_class: [{ class: "cool", recall: 0.7, support: 40 }, { label: "warm", recall: 0.4 }, { recall: 0.1 }],
            importance: [
              { feature: "ta", importance: 0.2 },
              { name: "rh", value: 0.5 },
              { feature: "vel", importance: "n/a" },
            ],
          },
        },
      ],
      classes,
    );
    expect(view.scalars).toEqual({ macro_f1: 0.5 });
    expect(view.confusion).toEqual({ labels: ["a", "b"], matrix: [[1, 2], [3, 4]] });
    expect(view.perClass).toEqual({ cool: { recall: 0.7 }, warm: { recall: 0.4 } });
    expect(view.importance).toEqual([
      { feature: "rh", value: 0.5 },
      { feature: "ta", value: 0.2 },
    ]);
  });

  it("labels a matrix of another size by index, a confusion object by `classes`, and importance by mean or by impurity", () => {
    const byIndex = readMetricsView([{ accuracy: 0.6, confusion_matrix: [[1, 0], [0, 1]], feature_importance: { ta: { mean: 0.3, std: 0.1 }, rh: { mean: 0.4, std: 0.1 } } }], classes);
    expect(byIndex.confusion).toEqual({ labels: ["0", "1"], matrix: [[1, 0], [0, 1]] });
    expect(byIndex.importance).toEqual([
      { feature: "rh", value: 0.4 },
      { feature: "ta", value: 0.3 },
    ]);
    const byClasses = readMetricsView([{ accuracy: 0.6, confusion: { matrix: [[5]], classes: ["only"] }, importance: { impurity: { ta: 0.9, rh: 0.1 } } }], classes);
    expect(byClasses.confusion).toEqual({ labels: ["only"], matrix: [[5]] });
    expect(byClasses.importance.map((x) => x.feature)).toEqual(["ta", "rh"]);
    const defaultLabels = readMetricsView([{ accuracy: 0.6, confusion: { matrix: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] } }], classes);
    expect(defaultLabels.confusion?.labels).toEqual(classes);
  });

  it("reads slices as a list, or per column as a list of values, counting rows from rows, n or support", () => {
    const asList = readMetricsView([{ accuracy: 0.6, slices: [{ column: "season", value: "summer", rows: 40, macro_f1: 0.5 }, { value: "no column" }] }], classes);
    expect(asList.slices).toEqual([{ column: "season", value: "summer", rows: 40, metrics: { macro_f1: 0.5 } }]);
    const perColumn = readMetricsView(
      [
        {
          accuracy: 0.6,
          slices: {
            season: [
              { value: "winter", n: 60, metrics: { macro_f1: 0.35 } },
              { name: "autumn", support: 5, accuracy: 0.2 },
            ],
            building_type: { office: { macro_f1: 0.5 } },
            ignored: 3,
          },
        },
      ],
      classes,
    );
    expect(perColumn.slices).toEqual([
      { column: "season", value: "winter", rows: 60, metrics: { macro_f1: 0.35 } },
      { column: "season", value: "autumn", rows: 5, metrics: { accuracy: 0.2 } },
      { column: "building_type", value: "office", rows: null, metrics: { macro_f1: 0.5 } },
    ]);
  });

  it("the first source wins for every part, later ones fill what it lacks", () => {
    const view = readMetricsView([{ test: { macro_f1: 0.52 } }, { accuracy: 0.6, macro_f1: 0.4, per_class: { cool: { f1: 0.7 } } }], classes);
    expect(view.scalars).toEqual({ macro_f1: 0.52, accuracy: 0.6 });
    expect(view.perClass).toEqual({ cool: { f1: 0.7 } });
    expect(view.confusion).toBeNull();
  });
});

describe("the GitHub client for a promotion", () => {
  it("without --open-pr there is no client, and without a token a warning says the PR will not be opened", async () => {
    const reporter = recordingReporter();
    expect(await gitHubFromEnvironment("/nonexistent", { remote: "origin" }, reporter, { PROMOTION_TOKEN: "ghp_x" })).toEqual({ token: undefined, github: null });
    const none = await gitHubFromEnvironment("/nonexistent", { openPr: true, remote: "origin" }, reporter, {});
    expect(none.github).toBeNull();
    expect(none.token).toBeUndefined();
    expect(reporter.warnings).toEqual(["no GitHub token (PROMOTION_TOKEN, GH_TOKEN or GITHUB_TOKEN, or --token-env NAME): the branch will be pushed but no pull request opened"]);
  });

  it("takes the repository from the remote URL when none is given, talks to GITHUB_API_URL, and keeps the token secret", async () => {
    const repo = await scratch("gh-setup-");
    await git(repo, "init", "-q", "-b", "main");
    await git(repo, "remote", "add", "origin", "git@github.com:octo/comfort.git");
    const server = await startScriptedServer(() => ({ status: 200, body: [{ number: 7, html_url: "https://github.test/octo/comfort/pull/7", head: { ref: "promote/thermal-comfort-v2", repo: { full_name: "octo/comfort" } }, title: "Promote v2" }] }));
    try {
      const reporter = recordingReporter();
      const { token, github } = await gitHubFromEnvironment(repo, { openPr: true, remote: "origin" }, reporter, { GH_TOKEN: "ghp_0123456789abcdefghij", GITHUB_API_URL: server.url, GITHUB_REPOSITORY: "" });
      expect(token).toEqual({ value: "ghp_0123456789abcdefghij", kind: "pat" });
      expect(reporter.secrets).toEqual(["ghp_0123456789abcdefghij"]);
      expect(await github!.findOpenPullRequest("promote/thermal-comfort", "main")).toEqual({ number: 7, url: "https://github.test/octo/comfort/pull/7", head: "promote/thermal-comfort-v2", title: "Promote v2" });
      expect(server.requests[0]!.url).toMatch(/^\/repos\/octo\/comfort\/pulls\?/);
      // An explicit repository wins over GITHUB_REPOSITORY and the remote.
      const explicit = await gitHubFromEnvironment(repo, { openPr: true, remote: "origin", repo: "team/other" }, reporter, { GH_TOKEN: "ghp_0123456789abcdefghij", GITHUB_API_URL: server.url, GITHUB_REPOSITORY: "octo/comfort" });
      await explicit.github!.findOpenPullRequest("promote/", "main");
      expect(server.requests[1]!.url).toMatch(/^\/repos\/team\/other\/pulls\?/);
    } finally {
      await server.stop();
    }
  });
});

describe("the registry check on artifacts that are not plain files", () => {
  it("reports models/ resolving outside the repository and trusts nothing under it", async () => {
    const root = await scratch();
    const elsewhere = await scratch("elsewhere-");
    const v1 = await registeredVersion(elsewhere, 1, ["validated", "production"]);
    await symlink(join(elsewhere, "models"), join(root, "models"));
    const check = await checkRegistry(root, registryOf([v1]));
    expect(check.ok).toBe(false);
    expect(check.problems.map((p) => p.rule)).toEqual(["models-outside"]);
    expect(check.problems[0]!.message).toContain("outside the repository");
  });

  it("names an artifact that is a FIFO, one that cannot be looked up, and reports that are not this artifact's", async () => {
    const root = await scratch();
    const v1 = await registeredVersion(root, 1, ["validated", "production"]);
    const v2 = await registeredVersion(root, 2, ["validated"]);
    const v3 = await registeredVersion(root, 3, ["validated"]);
    // v1's folder gets a validation report that is a directory; v2's one that is not JSON.
    await mkdir(join(root, "models/thermal-comfort/v1/validation-report.json"));
    await writeFile(join(root, "models/thermal-comfort/v2/validation-report.json"), "not json");
    // v3's artifact is replaced by a FIFO.
    await rm(join(root, v3.artifact.path));
    execFileSync("mkfifo", [join(root, v3.artifact.path)]);
    const long = { ...v3, version: 4, artifact: { ...v3.artifact, path: `models/${"n".repeat(300)}/model.json` } };
    const registry = registryOf([v1, v2, v3, long]);
    const check = await checkRegistry(root, registry);
    expect(check.problems.map((p) => [p.rule, p.version])).toEqual([
      ["report-mismatch", 1],
      ["report-mismatch", 2],
      ["artifact-not-regular", 3],
      ["artifact-missing", 4],
    ]);
    const [r1, r2, r3, r4] = check.problems.map((p) => p.message);
    expect(r1).toBe("thermal-comfort@v1: models/thermal-comfort/v1/validation-report.json: validation report is a directory; expected a regular file");
    expect(r2).toBe(`thermal-comfort@v2: models/thermal-comfort/v2/validation-report.json is not the report of this artifact (it names sha256 nothing, the artifact is ${v2.artifact.sha256})`);
    expect(r3).toBe("thermal-comfort@v3: artifact models/thermal-comfort/v3/model.json is a FIFO; expected a regular file");
    expect(r4).toBe(`thermal-comfort@v4: artifact models/${"n".repeat(300)}/model.json cannot be read (ENAMETOOLONG)`);
    // Promote and rollback refuse to write on top of it, listing every problem.
    const e = await assertRegistryValid(root, registry, "models/registry.yaml").catch((error: unknown) => error);
    expect(e).toBeInstanceOf(GateFailure);
    expect((e as Error).message.split("\n")).toEqual(["refusing to write: models/registry.yaml already fails `pipeline registry check`; fix it first:", ...check.problems.map((p) => `  [${p.rule}] ${p.message}`)]);
  });
});

describe("the registry lock", () => {
  it("a writer that cannot get the lock in time is told who may hold it and when it goes stale", async () => {
    const root = await scratch();
    await writeRegistry(root, registryOf([await registeredVersion(root, 1, ["validated"])]));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const first = withRegistryLock(root, async () => {
      entered();
      await held;
      return "first";
    });
    await inside;
    const e = await withRegistryLock(root, async () => "second", { waitMs: 300, staleMs: 10_000 }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(RegistryLockError);
    expect((e as Error).message).toBe("models/.registry.lock: another promotion, rollback or deployment is writing the registry; gave up after 0 s (if no such process runs, the lock goes stale after 10 s)");
    release();
    expect(await first).toBe("first");
    // Free again: the next writer gets it at once.
    expect(await withRegistryLock(root, async () => "third", { waitMs: 300 })).toBe("third");
  });

  it("a lock taken away while its holder writes is reported, not silently ignored", async () => {
    const root = await scratch();
    const lockPath = join(root, "custom.lock");
    const e = await withRegistryLock(
      root,
      async () => {
        await rm(lockPath, { recursive: true, force: true });
        // Past the first refresh (proper-lockfile refreshes at most once a second).
        await new Promise((r) => setTimeout(r, 1600));
        return "written";
      },
      { lockPath, staleMs: 2_000 },
    ).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(RegistryLockError);
    expect((e as Error).message).toMatch(new RegExp(`^${lockPath}: the registry lock was lost while writing \\(.+\\); check the registry with \`pipeline registry check\`$`));
  });
});
