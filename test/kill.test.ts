import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { checkRegistry } from "../pipeline/registry/check.js";
import { parseRegistry, readRegistry } from "../pipeline/registry/store.js";
import type { Registry } from "../pipeline/registry/schema.js";
import { SLOW_IO_ENV } from "../pipeline/promote/stage.js";
import { WORKTREE_PREFIX } from "../pipeline/promote/propose.js";
import { PROJECT_ROOT, TSX_LOADER } from "./helpers/cli.js";
import { git, makeTestRepo, remoteFile, TEST_GIT_ENV } from "./helpers/git.js";
import { boundValidationReport, scratchRoot, writeModelDir } from "./helpers/registry-fixtures.js";
import { rng } from "./validate-data-fixtures.js";

/**
 * Kill the promote step at random points (SIGKILL, which nothing can catch, and SIGTERM, which
 * the step must clean up after) and check that the registry always parses and passes
 * `checkRegistry` (and only grows), that nothing temporary is left behind a SIGTERM, and that a
 * later run is never blocked by what a SIGKILL left. PIPELINE_TEST_SLOW_IO makes each file write
 * wait, so the write phase lasts about a second instead of a few milliseconds and kills land inside it.
 *
 * Kill points: most trials wait for the step's "staging" line, which it prints right before its
 * first write, and then a seeded random delay spread over the measured write phase; a few trials
 * kill at a random moment from spawn (during start-up, before anything is written).
 */
const SLOW_IO_MS = 120;
const TRIALS_PER_LANE = 11;
const CLI = resolve(PROJECT_ROOT, "cli/main.ts");
const WRITES_START = "staging ";

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ms from spawn to the pre-write line, and to exit. */
  writesStartAt: number | null;
  endedAt: number;
  stderr: string;
  pid: number;
}

type Kill = { from: "spawn" | "writes"; ms: number; signal: "SIGKILL" | "SIGTERM" };

/** Runs `pipeline promote` with this model's own validation report; `kill` decides when to signal it. */
async function runPromote(root: string, modelDir: string, kill: Kill | null, extra: string[] = []): Promise<Run> {
  const report = join(modelDir, "..", "model-validation.json");
  await writeFile(report, JSON.stringify(await boundValidationReport(modelDir, { file: "config/pipeline.yaml", root })));
  return new Promise((resolvePromise, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, ["--import", TSX_LOADER, CLI, "promote", "--model", modelDir, "--validation-report", report, ...extra], {
      cwd: root,
      // A SIGKILLed writer's lock goes stale after 2 s instead of 5 s, so the lanes do not mostly wait.
      env: { ...process.env, ...TEST_GIT_ENV, [SLOW_IO_ENV]: String(SLOW_IO_MS), PIPELINE_LOCK_STALE_MS: "2000", PROMOTION_TOKEN: "", GH_TOKEN: "", GITHUB_TOKEN: "" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let writesStartAt: number | null = null;
    let stderr = "";
    const signal = () => child.kill(kill!.signal);
    if (kill?.from === "spawn") setTimeout(signal, kill.ms);
    child.stderr.on("data", (d) => {
      stderr += d;
      if (writesStartAt === null && stderr.includes(WRITES_START)) {
        writesStartAt = Date.now() - started;
        if (kill?.from === "writes") setTimeout(signal, kill.ms);
      }
    });
    child.on("error", reject);
    child.on("close", (code, sig) => resolvePromise({ code, signal: sig, writesStartAt, endedAt: Date.now() - started, stderr, pid: child.pid ?? -1 }));
  });
}

/**
 * A SIGTERM'd promotion exits through its cleanup handler with 128 + 15 once it has something to
 * clean up; before that (start-up) the default action ends it by the signal; or it had finished.
 */
function expectTermHandled(run: Run, label: string): void {
  if (run.signal !== null) expect(run.signal, label).toBe("SIGTERM");
  else expect([0, 143], `${label}: ${run.stderr}`).toContain(run.code);
}

const terminated = (run: Run) => run.code === 143 || run.signal === "SIGTERM";

type Outcome = "killed before writing" | "killed mid-write (nothing published)" | "killed after the registry write" | "completed";

async function lane(seed: number, signal: Kill["signal"]): Promise<Outcome[]> {
  const random = rng(seed);
  const root = await scratchRoot("kill-test-");
  // Each run promotes a different model (the same model is never registered twice).
  let runs = 0;
  const freshModel = () => writeModelDir(join(root, `train-out-${++runs}`, "out"), { seed: (seed % 100) + runs });
  // An unkilled run: registers v1 and measures the write phase.
  const baseline = await runPromote(root, await freshModel(), null);
  expect(baseline.code, baseline.stderr).toBe(0);
  const writePhase = baseline.endedAt - (baseline.writesStartAt ?? 0);
  let previous: Registry = await readRegistry(root);
  const outcomes: Outcome[] = [];
  for (let trial = 0; trial < TRIALS_PER_LANE; trial++) {
    const next = Math.max(0, ...(previous.models["thermal-comfort"]?.versions.map((v) => v.version) ?? [])) + 1;
    const kill: Kill =
      trial % 5 === 4 ? { from: "spawn", ms: Math.floor(random() * (baseline.writesStartAt ?? 1000)), signal } : { from: "writes", ms: Math.floor(random() * writePhase * 0.9), signal };
    const label = `trial ${trial} (seed ${seed}, ${signal} ${kill.from}+${kill.ms} ms)`;
    const run = await runPromote(root, await freshModel(), kill);
    // The invariant under test: whatever the kill point, the registry parses and passes the check.
    const registry = await readRegistry(root);
    const result = await checkRegistry(root, registry, { previous });
    expect(result.problems, label).toEqual([]);
    const registered = registry.models["thermal-comfort"]!.versions.some((v) => v.version === next);
    // A version folder is published whole by rename: it exists only complete, with its own report.
    if (existsSync(join(root, `models/thermal-comfort/v${next}`))) {
      expect((await readdir(join(root, `models/thermal-comfort/v${next}`))).sort(), label).toEqual(["card.md", "metrics.json", "model.json", "report.md", "validation-report.json"]);
    }
    if (signal === "SIGTERM") {
      expectTermHandled(run, label);
      // The handler removed its staging folder.
      expect((await readdir(join(root, "models/thermal-comfort"))).filter((n) => n.startsWith(".staging-")), label).toEqual([]);
    }
    const killed = signal === "SIGKILL" ? run.signal === "SIGKILL" : terminated(run);
    if (!killed) outcomes.push("completed");
    else if (registered) outcomes.push("killed after the registry write");
    else if (run.writesStartAt !== null) outcomes.push("killed mid-write (nothing published)");
    else outcomes.push("killed before writing");
    previous = registry;
  }
  // A killed run never blocks the next one: an unkilled promotion still succeeds over anything left.
  const after = await runPromote(root, await freshModel(), null);
  expect(after.code, after.stderr).toBe(0);
  expect((await checkRegistry(root, await readRegistry(root), { previous })).ok).toBe(true);
  return outcomes;
}

function tally(outcomes: string[]): string {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return JSON.stringify(counts);
}

describe("promote survives SIGKILL and SIGTERM at any point", () => {
  it(`leaves a valid registry in ${2 * TRIALS_PER_LANE} SIGKILLed and ${TRIALS_PER_LANE} SIGTERMed runs, and no staging folder after SIGTERM`, async () => {
    // Three lanes in three scratch repositories at once.
    const [a, b, term] = await Promise.all([lane(20261121, "SIGKILL"), lane(7, "SIGKILL"), lane(31, "SIGTERM")]);
    const killed = [...a, ...b];
    console.info(`kill test outcomes (SIGKILL): ${tally(killed)}; (SIGTERM): ${tally(term)}`);
    expect(killed).toHaveLength(2 * TRIALS_PER_LANE);
    expect(killed.filter((o) => o !== "completed").length).toBeGreaterThanOrEqual(16);
    expect(term.filter((o) => o !== "completed").length).toBeGreaterThanOrEqual(8);
  }, 240_000);
});

/** Worktrees of the repository other than the main checkout. */
async function extraWorktrees(work: string): Promise<string[]> {
  const list = await git(work, "worktree", "list", "--porcelain");
  return list
    .split("\n")
    .filter((l) => l.startsWith("worktree "))
    .map((l) => l.slice(9))
    .filter((p) => resolve(p) !== resolve(work));
}

async function leftoverTempWorktrees(pid: number): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith(`${WORKTREE_PREFIX}${pid}-`));
}

describe("promote --open-pr survives SIGKILL and SIGTERM in its worktree", () => {
  it("SIGTERM removes the worktree; after SIGKILL the next run prunes it and promotes the same version", async () => {
    const random = rng(4242);
    const outcomes: string[] = [];
    const repo = await makeTestRepo();
    let runs = 0;
    const freshModel = () => writeModelDir(join(repo.work, "..", `train-out-${++runs}`, "out"), { seed: 50 + runs });
    // Measure the write phase once: a promotion pushed and then deleted from the remote again.
    const baseline = await runPromote(repo.work, await freshModel(), null, ["--open-pr"]);
    expect(baseline.code, baseline.stderr).toBe(0);
    await git(repo.work, "push", "-q", "origin", "--delete", "promote/thermal-comfort-v1");
    const writePhase = baseline.endedAt - (baseline.writesStartAt ?? 0);
    const killedPids: number[] = [];
    for (let trial = 0; trial < 8; trial++) {
      const signal = trial % 2 === 0 ? "SIGTERM" : "SIGKILL";
      const kill: Kill = { from: "writes", ms: Math.floor(random() * writePhase * 0.6), signal };
      const label = `open-pr trial ${trial} (${signal} writes+${kill.ms} ms)`;
      const model = await freshModel();
      const run = await runPromote(repo.work, model, kill, ["--open-pr"]);
      const pushed = (await remoteFile(repo.remote, "refs/heads/promote/thermal-comfort-v1", "models/registry.yaml")) !== null;
      if (signal === "SIGTERM") {
        expectTermHandled(run, label);
        expect(await extraWorktrees(repo.work), label).toEqual([]);
        outcomes.push(run.code === 143 ? "SIGTERM cleaned up" : terminated(run) ? "SIGTERM before any worktree" : "completed");
      } else {
        outcomes.push(run.signal === "SIGKILL" ? "SIGKILL left its worktree" : "completed");
        if (run.signal === "SIGKILL") killedPids.push(run.pid);
      }
      // The caller's checkout is never touched, whatever happened.
      expect((await git(repo.work, "status", "--porcelain")).trim(), label).toBe("");
      if (pushed) await git(repo.work, "push", "-q", "origin", "--delete", "promote/thermal-comfort-v1");
      // The next promotion of the same version is not blocked by a leftover worktree or branch checkout.
      const again = await runPromote(repo.work, model, null, ["--open-pr"]);
      expect(again.code, `${label}: ${again.stderr}`).toBe(0);
      expect(await extraWorktrees(repo.work), label).toEqual([]);
      const proposed = parseRegistry((await remoteFile(repo.remote, "refs/heads/promote/thermal-comfort-v1", "models/registry.yaml"))!);
      expect(proposed.models["thermal-comfort"]!.versions.map((v) => v.version), label).toEqual([1]);
      await git(repo.work, "push", "-q", "origin", "--delete", "promote/thermal-comfort-v1");
    }
    // What the SIGKILLed runs left in the temporary directory was pruned by the runs after them.
    for (const pid of killedPids) expect(await leftoverTempWorktrees(pid), `pid ${pid}`).toEqual([]);
    console.info(`kill test outcomes (--open-pr): ${tally(outcomes)}`);
    expect(outcomes.filter((o) => o === "SIGTERM cleaned up").length).toBeGreaterThanOrEqual(2);
    expect(outcomes.filter((o) => o === "SIGKILL left its worktree").length).toBeGreaterThanOrEqual(2);
  }, 240_000);
});
