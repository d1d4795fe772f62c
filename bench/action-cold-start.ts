/**
 * Benchmark: cold start of each committed action bundle, the way the runner starts it (`node
 * actions/<step>/dist/index.js` with INPUT_* variables), measured to the first refused input: the
 * run is in an empty workspace, so every action stops at its first input it cannot use (a missing
 * required input, or a config file that is not there). That is load + parse inputs, plus one error
 * line. Baseline in the same run: `node -e 0`, Node's own start-up. Goal: ≤ 300 ms per action.
 *
 *   npx tsx bench/action-cold-start.ts [--runs 15]
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function time(args: string[], env: NodeJS.ProcessEnv, cwd: string): { ms: number; status: number | null } {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, cwd, stdio: "ignore" });
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, status: r.status };
}

const workspace = mkdtempSync(join(tmpdir(), "cold-start-"));
const outputFile = join(workspace, "output");
writeFileSync(outputFile, "");
const env = { PATH: process.env.PATH, GITHUB_ACTIONS: "true", GITHUB_WORKSPACE: workspace, GITHUB_OUTPUT: outputFile, RUNNER_TEMP: workspace };

const node = median(Array.from({ length: RUNS }, () => time(["-e", "0"], env, workspace).ms));
const rows: string[] = [];
for (const name of readdirSync(join(ROOT, "actions")).sort()) {
  const bundle = join(ROOT, "actions", name, "dist", "index.js");
  if (!existsSync(bundle)) continue;
  time([bundle], env, workspace); // one warm-up for the file cache, as a runner's disk has it after checkout
  const samples = Array.from({ length: RUNS }, () => time([bundle], env, workspace));
  const ms = median(samples.map((s) => s.ms));
  rows.push(`| ${name} | ${ms.toFixed(0)} | ${(ms - node).toFixed(0)} | ${(ms / node).toFixed(2)}x | ${ms <= 300 ? "yes" : "NO"} | ${samples[0]!.status} |`);
}
console.log(`Cold start of the bundled actions, median of ${RUNS} runs, Node ${process.version}`);
console.log(`baseline: node -e 0 = ${node.toFixed(0)} ms\n`);
console.log("| action | ms | over Node's start | ratio to Node's start | ≤ 300 ms | exit |");
console.log("|---|---:|---:|---:|---|---:|");
for (const r of rows) console.log(r);
