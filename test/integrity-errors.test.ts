import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { describeFailure } from "../cli/run-command.js";
import { onInterrupt } from "../pipeline/core/cleanup.js";
import { GateFailure } from "../pipeline/core/errors.js";
import { maskSecrets, registerSecret } from "../pipeline/core/mask.js";
import { PROJECT_ROOT, runCli, TSX_LOADER } from "./helpers/cli.js";
import { bundleAction, runAction } from "./helpers/action.js";
import { git, makeTestRepo } from "./helpers/git.js";
import { startScriptedServer } from "./helpers/github-mock.js";
import { boundValidationReport, writeModelDir } from "./helpers/registry-fixtures.js";

/**
 * Issue 10: tokens never printed, whatever path a message takes (case 6); OS errors are clear
 * errors naming the path, exit 2, stack traces only with --debug (case 12); the promote action's
 * default inputs get the default-token warning (case 14).
 */

const V1 = "models/thermal-comfort/v1/model.json";

async function recordsFile(): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), "records-")), "records.json");
  await writeFile(file, JSON.stringify([{ ta: 22, rh: 50, clo: 0.6, met: 1.1, season: "summer", building_type: "office", cooling_type: "air conditioned" }]));
  return file;
}

describe("tokens never reach the output (case 6)", () => {
  it("a token in the remote URL is masked in the error about the URL", async () => {
    const repo = await makeTestRepo();
    const urlToken = "ghs_0123456789abcdefURLTOKEN0123456789";
    await git(repo.work, "remote", "set-url", "origin", `https://x-access-token:${urlToken}@git.example.invalid/team/comfort.git`);
    const model = await writeModelDir(join(repo.work, "..", "out"));
    const r = await runCli(["promote", "--model", model, "--unvalidated", "--open-pr"], { cwd: repo.work, env: { PROMOTION_TOKEN: "ghp_anotherTokenFromTheEnvironment0001", GITHUB_REPOSITORY: "", GH_TOKEN: "", GITHUB_TOKEN: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: "https:\/\/x-access-token:\*\*\*@git\.example\.invalid\/team\/comfort\.git": expected a repository as owner\/name/);
    expect(r.stdout + r.stderr).not.toContain(urlToken);
    expect(r.stdout + r.stderr).not.toContain("ghp_anotherToken");
  }, 30_000);

  it("a GitHub API error that echoes the token is a clear, masked error without a stack trace (stack only with --debug)", async () => {
    const repo = await makeTestRepo();
    const token = "ghp_echoedBackByTheApi0123456789abcdef";
    const server = await startScriptedServer(() => ({ status: 401, body: { message: `Bad credentials: ${token}` } }));
    try {
      const model = await writeModelDir(join(repo.work, "..", "out"));
      const report = join(repo.work, "..", "mv.json");
      await writeFile(report, JSON.stringify(await boundValidationReport(model, { file: "config/pipeline.yaml", root: repo.work })));
      const env = { GITHUB_API_URL: server.url, PROMOTION_TOKEN: token, GITHUB_REPOSITORY: "octo/comfort", GH_TOKEN: "", GITHUB_TOKEN: "" };
      const args = ["promote", "--model", model, "--validation-report", report, "--open-pr"];
      const r = await runCli(args, { cwd: repo.work, env });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/error: GitHub API: findOpenPullRequest failed \(HTTP 401\): Bad credentials: \*\*\*/);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(r.stdout + r.stderr).not.toContain(token);
      const debug = await runCli(["--debug", ...args], { cwd: repo.work, env });
      expect(debug.code).toBe(1);
      expect(debug.stderr).toMatch(/\n\s+at /);
      expect(debug.stdout + debug.stderr).not.toContain(token);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it("one masking path: registered secrets and token-looking strings, in every message", () => {
    registerSecret("s3cr3t-value-registered");
    const text = "a s3cr3t-value-registered b ghp_abcdefghij0123456789 c github_pat_11ABCDEFG0123456789_xyz d https://user:hunter2pass@host/x e Authorization: token abcdefghijklmnop0123";
    const masked = maskSecrets(text);
    expect(masked).toBe("a *** b *** c *** d https://user:***@host/x e Authorization: token ***");
    // An internal error is masked too, and has no stack unless asked.
    const internal = describeFailure(new TypeError("cannot read ghs_internalTokenValue01234 of undefined"), false);
    expect(internal.text).toMatch(/^internal error: TypeError: cannot read \*\*\* of undefined\n\(this is a bug in the pipeline; run again with --debug for the stack trace\)\n$/);
    expect(describeFailure(new TypeError("x"), true).text).toMatch(/\n\s+at /);
    expect(describeFailure(new GateFailure("gate ghp_abcdefghij0123456789"), false)).toEqual({ text: "error: gate ***\n", exitCode: 1 });
  });
});

function osError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path, errno: -1 });
}

describe("write failures are clear errors, not crashes (case 12)", () => {
  it("--out naming a directory: exit 2 naming the path, no stack, no temporary file left", async () => {
    const dir = await mkdtemp(join(tmpdir(), "out-dir-"));
    await mkdir(join(dir, "predictions"));
    const r = await runCli(["predict", "--model", V1, "--input", await recordsFile(), "--out", join(dir, "predictions")], { cwd: PROJECT_ROOT });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`error: ${join(dir, "predictions")}: is a directory; name a file to write`));
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(await readdir(dir)).toEqual(["predictions"]);
    const root = await runCli(["predict", "--model", V1, "--input", await recordsFile(), "--out", "/"], { cwd: PROJECT_ROOT });
    expect(root.code).toBe(2);
    expect((await readdir("/")).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  }, 60_000);

  it("EACCES (a real one: the step runs as nobody): exit 2 naming the path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "no-access-"));
    await chmod(dir, 0o755);
    const input = await recordsFile();
    await chmod(join(input, ".."), 0o755);
    // The unprivileged user must reach the checkout itself (a clone under a 0700 mktemp folder is not
    // reachable): let it traverse each ancestor for the duration of the test, then put the modes back.
    const restored: [string, number][] = [];
    for (let d = PROJECT_ROOT; d !== dirname(d); d = dirname(d)) {
      const mode = (await stat(d)).mode & 0o7777;
      if ((mode & 0o001) === 0) {
        restored.push([d, mode]);
        await chmod(d, mode | 0o001);
      }
    }
    const r = await new Promise<{ code: number | null; stderr: string }>((resolvePromise, reject) => {
      const child = spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "--import", TSX_LOADER, resolve(PROJECT_ROOT, "cli/main.ts"), "predict", "--model", V1, "--input", input, "--out", join(dir, "p.json")], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, HOME: "/tmp" },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => resolvePromise({ code, stderr }));
    }).finally(async () => {
      for (const [d, mode] of restored) await chmod(d, mode);
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`error: ${join(dir, "p.json")}: cannot open it: permission denied \\[EACCES\\]`));
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  }, 60_000);

  it("EPERM, ENOSPC, EROFS and EISDIR from any write become exit-2 errors naming the path", () => {
    const cases: [string, string, RegExp][] = [
      ["EPERM", "rename", /\/repo\/models\/registry\.yaml: cannot write it: operation not permitted \[EPERM\]/],
      ["ENOSPC", "write", /\/repo\/models\/registry\.yaml: cannot write it: no space left on the device \[ENOSPC\]/],
      ["EROFS", "open", /\/repo\/models\/registry\.yaml: cannot open it: read-only file system \[EROFS\]/],
      ["EISDIR", "open", /\/repo\/models\/registry\.yaml: cannot open it: is a directory, expected a file \[EISDIR\]/],
      ["EACCES", "mkdir", /\/repo\/models\/registry\.yaml: cannot write it: permission denied \[EACCES\]/],
    ];
    for (const [code, syscall, message] of cases) {
      const failure = describeFailure(osError(code, syscall, "/repo/models/registry.yaml"), false);
      expect(failure.exitCode, code).toBe(2);
      expect(failure.text, code).toMatch(message);
      expect(failure.text, code).not.toMatch(/internal error|\n\s+at /);
    }
  });
});

describe("interrupt cleanup is attached only while needed", () => {
  it("adds SIGINT/SIGTERM listeners while a cleanup is registered and removes them after", () => {
    const before = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    const offA = onInterrupt(() => {});
    const offB = onInterrupt(() => {});
    expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).toEqual([before[0]! + 1, before[1]! + 1]);
    offA();
    expect(process.listenerCount("SIGTERM")).toBe(before[1]! + 1);
    offB();
    // A server's own SIGTERM drain (or `pipeline run` keeping its service) is not preempted afterwards.
    expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).toEqual(before);
  });
});

describe("the promote action's default inputs get the default-token warning (case 14)", () => {
  it("with token defaulting to github.token (a ghs_ token), the warning is printed", async () => {
    const bundle = await bundleAction("promote");
    const action = parse(await readFile(join(PROJECT_ROOT, "actions/promote/action.yml"), "utf8")) as { inputs: Record<string, { default?: string }> };
    const defaultToken = "ghs_theWorkflowsOwnToken0123456789";
    // Every input the runner fills from its default, with `${{ github.token }}` as the runner expands it.
    const inputs: Record<string, string> = {};
    for (const [name, spec] of Object.entries(action.inputs)) if (spec.default !== undefined) inputs[name] = spec.default.replace("${{ github.token }}", defaultToken);
    expect(inputs.token).toBe(defaultToken);
    const repo = await makeTestRepo();
    const model = await writeModelDir(join(repo.work, "..", "out"));
    const run = await runAction(bundle, { ...inputs, model }, { workspace: repo.work, env: { GITHUB_API_URL: "http://127.0.0.1:9" } });
    expect(run.stdout).toMatch(/::warning::Opening the promotion PR with the default GITHUB_TOKEN/);
    expect(run.stdout.split("\n").filter((l) => l.includes(defaultToken) && l !== `::add-mask::${defaultToken}`)).toEqual([]);
    // An App token passed explicitly (another value than the workflow's own) gets no warning.
    const app = await runAction(bundle, { ...inputs, token: "ghs_anAppInstallationToken0123456789", model }, { workspace: repo.work, env: { GITHUB_API_URL: "http://127.0.0.1:9" } });
    expect(app.stdout).not.toMatch(/default GITHUB_TOKEN/);
  }, 120_000);
});
