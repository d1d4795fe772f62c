/**
 * Two builds of `pipeline serve` side by side: this checkout's and the one of an earlier commit, in
 * alternating rounds (the noise of a shared machine then weighs on both alike). Per round, each
 * server answers `POST /predict/batch` of the dataset's first 1,000 rows on one connection, or
 * `POST /predict` on 50 connections with `--route predict`; printed are rows/s and the server's
 * CPU per row (utime + stime from /proc over the measured seconds: both threads of a shared batch).
 * It is how a change on the request path is measured before it is kept.
 *
 *   npx tsx bench/serve-compare.ts --base REV [--route batch|predict] [--rounds 4] [--seconds 5]
 *
 * The base is checked out with `git worktree` under out/bench/compare/ and compiled there.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { benchConfig, buildServer, cpuMs, entrypointNodeFlags, fmt, load, machine, MODEL, OUT, RECORD, ROOT, startPipelineServer } from "./serve-common.js";

interface Args {
  base: string;
  route: "batch" | "predict";
  rounds: number;
  seconds: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { base: "", route: "batch", rounds: 4, seconds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--base") args.base = value();
    else if (a === "--route") {
      const r = value();
      if (r !== "batch" && r !== "predict") throw new Error(`--route: batch or predict, got ${r}`);
      args.route = r;
    } else if (a === "--rounds") args.rounds = Number(value());
    else if (a === "--seconds") args.seconds = Number(value());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.base) throw new Error("--base REV is required (the commit to compare with)");
  if (!(args.rounds >= 1) || !(args.seconds >= 1)) throw new Error("--rounds and --seconds must be positive");
  return args;
}

const git = (args: string[], cwd = ROOT) => {
  const r = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout.trim();
};

/** The base commit compiled in its own worktree; returns its dist/cli/main.js. */
async function buildBase(rev: string): Promise<{ main: string; sha: string }> {
  const sha = git(["rev-parse", "--verify", `${rev}^{commit}`]);
  const dir = path.join(ROOT, "out/bench/compare", sha.slice(0, 12));
  if (!existsSync(path.join(dir, "dist/cli/main.js"))) {
    await rm(dir, { recursive: true, force: true });
    git(["worktree", "prune"]);
    git(["worktree", "add", "--detach", dir, sha]);
    await symlink(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    const built = spawnSync(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "."], { cwd: dir, stdio: "inherit" });
    if (built.status !== 0) throw new Error(`compiling ${rev} failed`);
  }
  return { main: path.join(dir, "dist/cli/main.js"), sha };
}

/** The 1,000 records bench/serve.ts writes (the dataset's first rows, as a client sends them). */
async function batchBody(): Promise<string> {
  const file = path.join(OUT, "batch-records.json");
  if (!existsSync(file)) throw new Error(`${path.relative(ROOT, file)} is missing: run npm run bench:serve once, it writes the records`);
  return JSON.stringify({ records: JSON.parse(await readFile(file, "utf8")) as unknown[] });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  await mkdir(OUT, { recursive: true });
  const flags = await entrypointNodeFlags();
  const head = await buildServer();
  const base = await buildBase(args.base);
  const config = await benchConfig();
  const batch = args.route === "batch";
  const body = batch ? await batchBody() : JSON.stringify(RECORD);
  const rowsPerRequest = batch ? (JSON.parse(body) as { records: unknown[] }).records.length : 1;
  const url = batch ? "/predict/batch" : "/predict";
  const connections = batch ? 1 : 50;
  console.log(`bench/serve-compare: ${url}, ${connections} connection(s), ${args.rounds} alternating rounds of ${args.seconds} s, ${MODEL}`);
  console.log(`base ${base.sha.slice(0, 12)} (${args.base}) against this checkout; machine: ${machine()}`);

  const servers = { base: [...flags, base.main], head };
  const results: Record<"base" | "head", { rows: number; cpu: number }[]> = { base: [], head: [] };
  for (let r = 0; r < args.rounds; r++) {
    const order = r % 2 === 0 ? (["base", "head"] as const) : (["head", "base"] as const);
    for (const which of order) {
      const server = await startPipelineServer(servers[which], config);
      try {
        await load(`${server.url}${url}`, body, { connections, seconds: 2 });
        const before = await cpuMs(server.child.pid!);
        const got = await load(`${server.url}${url}`, body, { connections, seconds: args.seconds });
        const cpu = (await cpuMs(server.child.pid!)) - before;
        if (got.errors || got.non2xx) throw new Error(`${which}: ${got.errors} errors, ${got.non2xx} non-2xx answers`);
        const rows = got.total * rowsPerRequest;
        results[which].push({ rows: rows / args.seconds, cpu: (cpu * 1000) / rows });
        console.log(`  round ${r + 1} ${which.padEnd(4)}: ${fmt(rows / args.seconds, 0)} rows/s, server CPU ${fmt((cpu * 1000) / rows, 2)} µs per row`);
      } finally {
        await server.stop();
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const range = (xs: number[], d = 0) => `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;
  const rows = { base: results.base.map((x) => x.rows), head: results.head.map((x) => x.rows) };
  const cpu = { base: results.base.map((x) => x.cpu), head: results.head.map((x) => x.cpu) };
  console.log(`\nrows/s: base ${range(rows.base)}, this checkout ${range(rows.head)}; medians ${fmt(median(rows.head) / median(rows.base), 2)}x`);
  console.log(`server CPU per row: base ${range(cpu.base, 2)} µs, this checkout ${range(cpu.head, 2)} µs`);
  const out = path.join(OUT, `compare-${args.route}.json`);
  await writeFile(out, JSON.stringify({ base: args.base, base_sha: base.sha, route: url, rounds: args.rounds, seconds: args.seconds, results, machine: machine() }, null, 2));
  console.log(`written: ${path.relative(ROOT, out)}`);
}

main().catch((error: unknown) => {
  console.error(`bench/serve-compare: ${(error as Error).message}`);
  process.exit(1);
});
