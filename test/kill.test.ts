import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { checkRegistry } from "../pipeline/registry/check.js";
import { readRegistry } from "../pipeline/registry/store.js";
import type { Registry } from "../pipeline/registry/schema.js";
import { SLOW_IO_ENV } from "../pipeline/promote/stage.js";
import { PROJECT_ROOT, TSX_LOADER } from "./helpers/cli.js";
import { scratchRoot, writeModelDir } from "./helpers/registry-fixtures.js";
import { rng } from "./validate-data-fixtures.js";

/**
 * SIGKILL the promote step at random points and check that the registry always parses and passes
 * `checkRegistry` (and only grows). PIPELINE_TEST_SLOW_IO makes each file write wait, so the write
 * phase lasts about a second instead of a few milliseconds and random kills land inside it.
 *
 * Kill points: most trials wait for the step's "no validate-model report" warning, which it prints
 * right before its first write, and then a seeded random delay spread over the measured write phase;
 * a few trials kill at a random moment from spawn (during start-up, before anything is written).
 */
const SLOW_IO_MS = 120;
const TRIALS_PER_LANE = 11;
const CLI = resolve(PROJECT_ROOT, "cli/main.ts");


interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ms from spawn to the pre-write warning, and to exit. */
  writesStartAt: number | null;
  endedAt: number;
}

/** Runs `pipeline promote`; `killAfter` decides when (relative to spawn or to the write phase) to SIGKILL it. */
function runPromote(root: string, modelDir: string, killAfter: { from: "spawn" | "writes"; ms: number } | null): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, ["--import", TSX_LOADER, CLI, "promote", "--model", modelDir], {
      cwd: root,
      env: { ...process.env, [SLOW_IO_ENV]: String(SLOW_IO_MS) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let writesStartAt: number | null = null;
    let stderr = "";
    const kill = () => child.kill("SIGKILL");
    if (killAfter?.from === "spawn") setTimeout(kill, killAfter.ms);
    child.stderr.on("data", (d) => {
      stderr += d;
      if (writesStartAt === null && stderr.includes("no validate-model report")) {
        writesStartAt = Date.now() - started;
        if (killAfter?.from === "writes") setTimeout(kill, killAfter.ms);
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code, signal, writesStartAt, endedAt: Date.now() - started }));
  });
}

type Outcome = "killed before writing" | "killed mid-write (orphan folder)" | "killed after the registry write" | "completed";

async function lane(seed: number): Promise<Outcome[]> {
  const random = rng(seed);
  const root = await scratchRoot("kill-test-");
  // Each run promotes a different artifact (the same bytes are never registered twice).
  let runs = 0;
  const freshModel = () => writeModelDir(join(root, `train-out-${++runs}`), { seed: (seed % 100) + runs });
  // An unkilled run: registers v1 and measures the write phase.
  const baseline = await runPromote(root, await freshModel(), null);
  expect(baseline.code).toBe(0);
  const writePhase = baseline.endedAt - (baseline.writesStartAt ?? 0);
  let previous: Registry = await readRegistry(root);
  const outcomes: Outcome[] = [];
  for (let trial = 0; trial < TRIALS_PER_LANE; trial++) {
    const next = Math.max(0, ...(previous.models["thermal-comfort"]?.versions.map((v) => v.version) ?? [])) + 1;
    const killAfter = trial % 5 === 4 ? { from: "spawn" as const, ms: Math.floor(random() * (baseline.writesStartAt ?? 1000)) } : { from: "writes" as const, ms: Math.floor(random() * writePhase * 0.9) };
    const run = await runPromote(root, await freshModel(), killAfter);
    // The invariant under test: whatever the kill point, the registry parses and passes the check.
    const registry = await readRegistry(root);
    const result = await checkRegistry(root, registry, { previous });
    expect(result.problems, `trial ${trial} (seed ${seed}, kill ${killAfter.from}+${killAfter.ms} ms)`).toEqual([]);
    const registered = registry.models["thermal-comfort"]!.versions.some((v) => v.version === next);
    if (run.signal !== "SIGKILL") outcomes.push("completed");
    else if (registered) outcomes.push("killed after the registry write");
    else if (existsSync(join(root, `models/thermal-comfort/v${next}`))) outcomes.push("killed mid-write (orphan folder)");
    else outcomes.push("killed before writing");
    previous = registry;
  }
  // A killed run never blocks the next one: an unkilled promotion still succeeds over any orphan.
  const after = await runPromote(root, await freshModel(), null);
  expect(after.code).toBe(0);
  expect((await checkRegistry(root, await readRegistry(root), { previous })).ok).toBe(true);
  return outcomes;
}

describe("promote survives SIGKILL at any point", () => {
  it(`leaves a valid registry in ${2 * TRIALS_PER_LANE} killed runs`, async () => {
    const outcomes = (await Promise.all([lane(20261121), lane(7)])).flat();
    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
    console.info(`kill test outcomes: ${JSON.stringify(counts)}`);
    expect(outcomes).toHaveLength(2 * TRIALS_PER_LANE);
    expect(outcomes.filter((o) => o !== "completed").length).toBeGreaterThanOrEqual(20);
  }, 120_000);
});
