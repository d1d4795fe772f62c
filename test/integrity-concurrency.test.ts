import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { checkRegistry } from "../pipeline/registry/check.js";
import { readRegistry } from "../pipeline/registry/store.js";
import type { Registry } from "../pipeline/registry/schema.js";
import { SLOW_IO_ENV } from "../pipeline/promote/stage.js";
import { PROJECT_ROOT, runCli, TSX_LOADER } from "./helpers/cli.js";
import { boundValidationReport, scratchRoot, writeModelDir } from "./helpers/registry-fixtures.js";
import type { WorkerAnswer, WorkerRequest } from "./helpers/registry-worker.js";

/**
 * Issue 10, case 5: two promotions started together in one checkout, and a promotion against a
 * rollback, 20 rounds each. Each operation runs in its own process (test/helpers/registry-worker.ts),
 * both get their command at the same moment, and PIPELINE_TEST_SLOW_IO stretches every write so the
 * read-modify-write windows overlap: without the registry lock one update is lost in most rounds.
 * After every round: no version lost, distinct versions, the registry passes its check and only grew.
 */
const ROUNDS = 20;
const SLOW_IO_MS = 15;
const WORKER = resolve(PROJECT_ROOT, "test/helpers/registry-worker.ts");
const NAME = "thermal-comfort";

class Worker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, (a: WorkerAnswer) => void>();
  private nextId = 1;
  stderr = "";

  constructor() {
    this.child = spawn(process.execPath, ["--import", TSX_LOADER, WORKER], { env: { ...process.env, [SLOW_IO_ENV]: String(SLOW_IO_MS), SOURCE_DATE_EPOCH: "" }, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d) => (this.stderr += d));
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      const answer = JSON.parse(line) as WorkerAnswer;
      this.pending.get(answer.id)?.(answer);
      this.pending.delete(answer.id);
    });
  }

  send(command: WorkerRequest): Promise<WorkerAnswer> {
    const id = this.nextId++;
    return new Promise((resolvePromise) => {
      this.pending.set(id, resolvePromise);
      this.child.stdin.write(JSON.stringify({ ...command, id }) + "\n");
    });
  }

  stop(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

const workers: Worker[] = [];
afterAll(() => {
  for (const w of workers) w.stop();
});

let seed = 100;
async function freshModel(root: string): Promise<{ model: string; report: string }> {
  const model = await writeModelDir(join(await mkdtemp(join(tmpdir(), "concurrent-model-")), "out"), { seed: ++seed });
  const report = join(model, "..", "model-validation.json");
  await writeFile(report, JSON.stringify(await boundValidationReport(model, { file: "config/pipeline.yaml", root })));
  return { model, report };
}

const versionsOf = (registry: Registry) => registry.models[NAME]?.versions.map((v) => v.version) ?? [];
const productionOf = (registry: Registry) => registry.models[NAME]?.versions.find((v) => v.tags.includes("production"))?.version ?? null;

async function afterRound(root: string, previous: Registry, label: string): Promise<Registry> {
  const registry = await readRegistry(root);
  expect((await checkRegistry(root, registry, { previous })).problems, label).toEqual([]);
  return registry;
}

describe("concurrent writers in one checkout (case 5)", () => {
  it(`${ROUNDS} rounds of two promotions at once: each gets its own version, none is lost`, async () => {
    const [a, b] = [new Worker(), new Worker()];
    workers.push(a, b);
    const root = await scratchRoot("concurrent-promote-");
    let previous = await readRegistry(root);
    for (let round = 1; round <= ROUNDS; round++) {
      const label = `round ${round}`;
      const [ma, mb] = await Promise.all([freshModel(root), freshModel(root)]);
      const [ra, rb] = await Promise.all([a.send({ op: "promote", root, ...ma }), b.send({ op: "promote", root, ...mb })]);
      expect(ra.ok && rb.ok, `${label}: ${JSON.stringify([ra, rb])} ${a.stderr}${b.stderr}`).toBe(true);
      if (!ra.ok || !rb.ok) return;
      expect(ra.version, label).not.toBe(rb.version);
      const registry = await afterRound(root, previous, label);
      expect(versionsOf(registry), label).toEqual([...versionsOf(previous), ...[ra.version, rb.version].sort((x, y) => x - y)]);
      // The second writer replaced the first one's production: the chain has no gap.
      const [first, second] = ra.version < rb.version ? [ra, rb] : [rb, ra];
      expect(second.replaced, label).toBe(first.version);
      expect(first.replaced, label).toBe(productionOf(previous));
      expect(productionOf(registry), label).toBe(second.version);
      previous = registry;
    }
    expect(versionsOf(previous)).toHaveLength(2 * ROUNDS);
  }, 240_000);

  it(`${ROUNDS} rounds of a promotion against a rollback: both land, in one order or the other`, async () => {
    const [p, r] = [new Worker(), new Worker()];
    workers.push(p, r);
    const root = await scratchRoot("concurrent-rollback-");
    for (let i = 0; i < 2; i++) {
      const first = await p.send({ op: "promote", root, ...(await freshModel(root)) });
      expect(first.ok, JSON.stringify(first)).toBe(true);
    }
    let previous = await readRegistry(root);
    for (let round = 1; round <= ROUNDS; round++) {
      const label = `round ${round}`;
      const before = productionOf(previous)!;
      // Roll back to the newest archived validated version while a new model is promoted.
      const target = previous.models[NAME]!.versions.filter((v) => v.tags.includes("archived") && v.tags.includes("validated")).at(-1)!.version;
      const fresh = await freshModel(root);
      const [rp, rr] = await Promise.all([p.send({ op: "promote", root, ...fresh }), r.send({ op: "rollback", root, name: NAME, to: target })]);
      expect(rp.ok && rr.ok, `${label}: ${JSON.stringify([rp, rr])} ${p.stderr}${r.stderr}`).toBe(true);
      if (!rp.ok || !rr.ok) return;
      const registry = await afterRound(root, previous, label);
      expect(versionsOf(registry), label).toEqual([...versionsOf(previous), rp.version]);
      // Serial in one order or the other; a lost update (both started from `before`) fits neither.
      const rollbackFirst = rr.from === before && rp.replaced === target && productionOf(registry) === rp.version;
      const promoteFirst = rp.replaced === before && rr.from === rp.version && productionOf(registry) === target;
      expect(rollbackFirst || promoteFirst, `${label}: promote ${JSON.stringify(rp)}, rollback ${JSON.stringify(rr)}, production ${productionOf(registry)}`).toBe(true);
      previous = registry;
    }
  }, 240_000);

  it("two CLI promotions started together print distinct versions and both are registered", async () => {
    const root = await scratchRoot("concurrent-cli-");
    const [ma, mb] = await Promise.all([freshModel(root), freshModel(root)]);
    const env = { [SLOW_IO_ENV]: String(SLOW_IO_MS) };
    const [ra, rb] = await Promise.all([ma, mb].map((m) => runCli(["promote", "--model", m.model, "--validation-report", m.report, "--json"], { cwd: root, env })));
    expect(ra!.code, ra!.stderr).toBe(0);
    expect(rb!.code, rb!.stderr).toBe(0);
    const versions = [ra!, rb!].map((r) => (JSON.parse(r.stdout) as { version: number }).version).sort();
    expect(versions).toEqual([1, 2]);
    const registry = await readRegistry(root);
    expect(versionsOf(registry)).toEqual([1, 2]);
    expect((await checkRegistry(root, registry)).ok).toBe(true);
  }, 60_000);
});
