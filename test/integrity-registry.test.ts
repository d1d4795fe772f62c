import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkRegistry } from "../pipeline/registry/check.js";
import { readRegistry, serializeRegistry } from "../pipeline/registry/store.js";
import { runCli } from "./helpers/cli.js";
import { git, makeTestRepo } from "./helpers/git.js";
import { registeredVersion, registryOf, scratchRoot } from "./helpers/registry-fixtures.js";

/**
 * Issue 10, the registry side: paths that are not regular files inside the repository (case 9),
 * a published report that belongs to another artifact (case 10), git arguments (case 11) and
 * hostile YAML (case 13). Each case runs the real CLI on a scratch repository.
 */

async function rootWithV1(): Promise<string> {
  const root = await scratchRoot("integrity-registry-");
  const v1 = await registeredVersion(root, 1, ["validated", "production"]);
  await writeFile(join(root, "models/registry.yaml"), serializeRegistry(registryOf([v1])));
  return root;
}

const SECRET_TEXT = "TOP-SECRET-CONTENT-0123456789 that is not JSON";

describe("artifact paths: regular files inside the repository (case 9)", () => {
  it("a model.json symlinked to a file outside the repository fails the check, and its content is never printed", async () => {
    const root = await rootWithV1();
    const outside = join(await mkdtemp(join(tmpdir(), "outside-")), "secret.txt");
    await writeFile(outside, SECRET_TEXT);
    await rm(join(root, "models/thermal-comfort/v1/model.json"));
    await symlink(outside, join(root, "models/thermal-comfort/v1/model.json"));
    const r = await runCli(["registry", "check"], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[artifact-not-regular\] thermal-comfort@v1: artifact models\/thermal-comfort\/v1\/model\.json is a symbolic link/);
    // Reading the linked file as a model fails without echoing its first bytes.
    const predict = await runCli(["predict", "--model", "models/thermal-comfort/v1/model.json", "--input", "records.json"], { cwd: root });
    expect(predict.code).toBe(2);
    expect(predict.stdout + predict.stderr).not.toContain("TOP-SECRET");
  });

  it("a symlink to /dev/zero and a FIFO fail the check promptly instead of hanging it", async () => {
    const root = await rootWithV1();
    const file = join(root, "models/thermal-comfort/v1/model.json");
    await rm(file);
    await symlink("/dev/zero", file);
    const zero = await runCli(["registry", "check"], { cwd: root });
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/\[artifact-not-regular\]/);
    await rm(file);
    execFileSync("mkfifo", [file]);
    const fifo = await runCli(["registry", "check"], { cwd: root });
    expect(fifo.code).toBe(1);
    expect(fifo.stderr).toMatch(/\[artifact-not-regular\] thermal-comfort@v1: artifact models\/thermal-comfort\/v1\/model\.json is a FIFO/);
  }, 30_000);

  it("a version folder symlinked outside the repository fails the check", async () => {
    const root = await rootWithV1();
    const elsewhere = await mkdtemp(join(tmpdir(), "elsewhere-"));
    const v1 = join(root, "models/thermal-comfort/v1");
    await writeFile(join(elsewhere, "model.json"), await readFile(join(v1, "model.json")));
    await rm(v1, { recursive: true });
    await symlink(elsewhere, v1);
    const result = await checkRegistry(root, await readRegistry(root));
    expect(result.problems.map((p) => p.rule)).toEqual(["artifact-path"]);
    expect(result.problems[0]!.message).toMatch(/resolves outside the repository/);
  });

  it("models/ itself resolving outside the repository fails the check", async () => {
    const root = await rootWithV1();
    const elsewhere = await mkdtemp(join(tmpdir(), "models-elsewhere-"));
    execFileSync("cp", ["-r", join(root, "models/."), elsewhere]);
    await rm(join(root, "models"), { recursive: true });
    await symlink(elsewhere, join(root, "models"));
    const r = await runCli(["registry", "check"], { cwd: root });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/models: the models folder resolves to .*outside the repository/);
  });
});

describe("a published report must be the artifact's own (case 10)", () => {
  it("a validation-report.json beside a registered artifact naming another artifact fails the check", async () => {
    const root = await rootWithV1();
    const report = { version: 1, passed: true, challenger: { sha256: "a".repeat(64) } };
    await writeFile(join(root, "models/thermal-comfort/v1/validation-report.json"), JSON.stringify(report));
    const r = await runCli(["registry", "check"], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[report-mismatch\] thermal-comfort@v1: models\/thermal-comfort\/v1\/validation-report\.json is not the report of this artifact \(it names sha256 a{64}/);
  });

  it("a content_sha256 that does not match the artifact fails the check", async () => {
    const root = await scratchRoot("integrity-content-");
    const v1 = { ...(await registeredVersion(root, 1, ["validated", "production"])), content_sha256: "b".repeat(64) };
    const result = await checkRegistry(root, registryOf([v1]));
    expect(result.problems.map((p) => p.rule)).toEqual(["content-sha256"]);
  });
});

describe("git arguments of registry check --base (case 11)", () => {
  it("an option-looking --base is a revision, never an option: no file is written and the command fails", async () => {
    const repo = await makeTestRepo();
    await mkdir(join(repo.work, "models"), { recursive: true });
    await writeFile(join(repo.work, "models/registry.yaml"), serializeRegistry(registryOf([])));
    await git(repo.work, "add", ".");
    await git(repo.work, "commit", "-q", "-m", "registry");
    const target = join(repo.work, "leak.txt");
    const r = await runCli(["registry", "check", "--base", `--output=${target}`], { cwd: repo.work });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--base "--output=.*": a git revision cannot start with "-"/);
    expect(existsSync(target)).toBe(false);
    const empty = await runCli(["registry", "check", "--base", ""], { cwd: repo.work });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/--base: empty; name a branch, tag or commit/);
    const unknown = await runCli(["registry", "check", "--base", "no-such-branch"], { cwd: repo.work });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--base "no-such-branch": unknown revision/);
    const ok = await runCli(["registry", "check", "--base", "HEAD"], { cwd: repo.work });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/only grows from HEAD/);
  }, 30_000);
});

describe("hostile YAML in the registry and the config (case 13)", () => {
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]", "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]", "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]", "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]", "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]", "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]", ""].join("\n");

  async function registryCheckOf(text: string | Buffer) {
    const root = await scratchRoot("integrity-yaml-");
    await mkdir(join(root, "models"), { recursive: true });
    await writeFile(join(root, "models/registry.yaml"), text);
    return runCli(["registry", "check"], { cwd: root });
  }

  it("an alias bomb in the registry is refused with a clear message, no stack trace", async () => {
    const r = await registryCheckOf(`version: 1\nmodels: {}\n${bomb}`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: models\/registry\.yaml: invalid YAML: too many alias expansions \(limit 100\)/);
    expect(r.stderr).not.toMatch(/internal error|ReferenceError|\n\s+at /);
  });

  it("an alias bomb in the config is refused the same way", async () => {
    const root = await scratchRoot("integrity-yaml-config-");
    await writeFile(join(root, "config/bomb.yaml"), `extends: pipeline.yaml\n${bomb}`);
    const r = await runCli(["train", "--config", "config/bomb.yaml", "--out", "out"], { cwd: root });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config\/bomb\.yaml: invalid YAML: too many alias expansions/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });

  it("invalid UTF-8 in the registry is refused with its line", async () => {
    const text = Buffer.concat([Buffer.from("version: 1\nmodels:\n  thermal-comfort:\n    description: caf"), Buffer.from([0xe9]), Buffer.from("\n    versions: []\n")]);
    const r = await registryCheckOf(text);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models\/registry\.yaml:4:\d+: not valid UTF-8 \(byte 0xe9\)/);
  });

  it("a __proto__ key and duplicate keys in the registry are refused", async () => {
    const proto = await registryCheckOf("version: 1\nmodels: {}\n__proto__:\n  polluted: true\n");
    expect(proto.code).toBe(2);
    expect(proto.stderr).toMatch(/models\/registry\.yaml:3: invalid YAML: the key "__proto__" is not allowed/);
    const dup = await registryCheckOf("version: 1\nmodels: {}\nmodels: {}\n");
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/models\/registry\.yaml:3:1: invalid YAML: duplicate key/);
  });

  it("an empty or comment-only registry is an error, not an empty registry", async () => {
    for (const text of ["", "# nothing here\n"]) {
      const r = await registryCheckOf(text);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/models\/registry\.yaml: the registry is empty/);
    }
  });

  it("an unordered range and NaN/Infinity in the config are named as such", async () => {
    const root = await scratchRoot("integrity-yaml-range-");
    await writeFile(
      join(root, "config/bad.yaml"),
      ["extends: pipeline.yaml", "dataset:", "  columns:", "    ta: { type: number, range: [45, 5] }", "    rh: { type: number, range: [.nan, .inf] }", ""].join("\n"),
    );
    const r = await runCli(["train", "--config", "config/bad.yaml", "--out", "out"], { cwd: root });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/dataset\.columns\.ta\.range: a range is \[min, max\] with min <= max, got \[45,5\]/);
    expect(r.stderr).toMatch(/dataset\.columns\.rh\.range\.0: expected a number, got NaN/);
    expect(r.stderr).toMatch(/dataset\.columns\.rh\.range\.1: expected a number, got Infinity/);
    expect(await readdir(root)).not.toContain("out");
  });
});
