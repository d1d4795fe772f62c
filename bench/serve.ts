/**
 * Benchmark of the prediction service (a benchmark, not a test: it prints ratios, asserts nothing).
 *
 *   npm run bench:serve            (npx tsx bench/serve.ts [--seconds 10] [--rounds 3] [--connections 50] [--python /usr/bin/python3] [--no-fastapi] [--node-flags "..."])
 *
 * In one run, each server alone on the machine in turn, autocannon POSTs the same record to /predict:
 *   (a) a bare node:http server that parses the body and answers a fixed JSON: this machine's ceiling;
 *   (b) FastAPI + uvicorn + scikit-learn serving a RandomForestClassifier of the production forest's
 *       size, trained on the same data (bench/serve_fastapi.py);
 *   (c) `pipeline serve` with the production forest (models/thermal-comfort/v1/model.json), run as
 *       the image runs it (dist/ from `npm run build`, the Dockerfile ENTRYPOINT's node flags unless
 *       --node-flags is given), with its defaults: every prediction logged, monitoring on;
 *   (d) the floor of any server that predicts: node:http, JSON.parse, the contract and the same
 *       forest, no log, monitor, metrics or limits (bench/serve-floor.ts).
 * Then /predict/batch with 1,000 rows of the dataset against scikit-learn's in-process predict_proba
 * on the same rows, and the server's resident memory with the model loaded.
 * Goals (issue 7): (c) >= 0.7x (a) throughput, p99 <= 10 ms, no errors, RSS <= 100 MB, batch >= 2x.
 */
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { readDataset } from "../pipeline/data/csv.js";
import type { DatasetConfig } from "../pipeline/config/schema.js";
import { cellText } from "../pipeline/data/table.js";
import { benchConfig, buildServer, fmt, load, loadWithCpu, machine, MODEL, OUT, RECORD, ROOT, rssMb, sklearnParams, startCeilingServer, startFastApiServer, startFloorServer, startPipelineServer, type CpuPerRequest, type LoadResult } from "./serve-common.js";

interface Args {
  seconds: number;
  rounds: number;
  connections: number;
  python: string;
  fastapi: boolean;
  /** Node flags for the server (default: those of the Dockerfile's ENTRYPOINT). */
  nodeFlags?: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seconds: 10, rounds: 3, connections: 50, python: "/usr/bin/python3", fastapi: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--seconds") args.seconds = Number(argv[++i]);
    else if (a === "--connections") args.connections = Number(argv[++i]);
    else if (a === "--rounds") args.rounds = Number(argv[++i]);
    else if (a === "--python") args.python = argv[++i]!;
    else if (a === "--no-fastapi") args.fastapi = false;
    else if (a === "--node-flags") args.nodeFlags = argv[++i]!.split(" ").filter(Boolean);
    else throw new Error(`unknown option ${a}`);
  }
  if (!(args.seconds >= 1) || !(args.connections >= 1)) throw new Error("--seconds and --connections must be positive");
  return args;
}

const CSV = "data/thermal-comfort.csv";

/** The first 1,000 rows of the dataset as JSON records (the features only, as a client would send them). */
async function batchRecords(n: number): Promise<Record<string, string | number | null>[]> {
  const features = Object.keys(RECORD);
  const numeric = new Set(["ta", "tr", "rh", "vel", "clo", "met", "t_out"]);
  const columns: Record<string, unknown> = {};
  for (const f of features) columns[f] = { type: "category", required: false, aliases: [], normalize: false };
  const dataset = { path: CSV, delimiter: ",", columns, label: { column: "\u0000", binning: { kind: "categorical" } }, features, derived: [], slices: [] } as unknown as DatasetConfig;
  const { table } = await readDataset(path.join(ROOT, CSV), dataset);
  const out: Record<string, string | number | null>[] = [];
  for (let r = 0; r < Math.min(n, table.rowCount); r++) {
    const rec: Record<string, string | number | null> = {};
    for (const f of features) {
      const text = cellText(table.columns.get(f)!, r);
      rec[f] = text === "" ? null : numeric.has(f) ? Number(text) : text;
    }
    out.push(rec);
  }
  return out;
}

/** Several runs as one: requests summed over time, the worst p99 (percentiles do not average). */
function combine(runs: LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number) => runs.reduce((acc, r) => acc + f(r), 0);
  return {
    requests_per_second: sum((r) => r.requests_per_second) / runs.length,
    p50_ms: Math.max(...runs.map((r) => r.p50_ms)),
    p99_ms: Math.max(...runs.map((r) => r.p99_ms)),
    max_ms: Math.max(...runs.map((r) => r.max_ms)),
    total: sum((r) => r.total),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
  };
}

function line(name: string, r: LoadResult): string {
  return `${name.padEnd(28)} ${fmt(r.requests_per_second, 0).padStart(8)} req/s   p50 ${fmt(r.p50_ms).padStart(6)} ms   p99 ${fmt(r.p99_ms).padStart(7)} ms   errors ${r.errors + r.timeouts}   non-2xx ${r.non2xx}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const body = JSON.stringify(RECORD);
  const warm = { connections: args.connections, seconds: 2 };
  const run = { connections: args.connections, seconds: args.seconds };
  console.log(`bench/serve: ${args.connections} connections, ${args.rounds} rounds of ${args.seconds} s per server, POST /predict with ${MODEL}`);
  console.log(`machine at start: ${machine()}`);

  const serverCommand = await buildServer(args.nodeFlags === undefined ? {} : { nodeFlags: args.nodeFlags });
  const records = await batchRecords(1000);
  const recordsFile = path.join(OUT, "batch-records.json");
  await writeFile(recordsFile, JSON.stringify(records));
  const batchBody = JSON.stringify({ records });

  // (a) the ceiling, (c) the pipeline server and (d) the floor, all started, measured in rotating
  // rounds: other work on a shared machine then weighs on all alike, and the per-round ratios show how much it moved.
  const ceiling = await startCeilingServer();
  const floor = await startFloorServer(MODEL);
  const server = await startPipelineServer(serverCommand, await benchConfig());
  const rssReady = await rssMb(server.child.pid!);
  await load(`${ceiling.url}/predict`, body, warm);
  await load(`${server.url}/predict`, body, warm);
  await load(`${floor.url}/predict`, body, warm);
  const rounds: Record<"a" | "c" | "d", LoadResult & { cpu: CpuPerRequest }>[] = [];
  const started = { a: ceiling, c: server, d: floor };
  for (let r = 0; r < args.rounds; r++) {
    const order = (["a", "c", "d"] as const).map((_, i, all) => all[(i + r) % all.length]!);
    const got: Partial<(typeof rounds)[number]> = {};
    for (const key of order) got[key] = await loadWithCpu(`${started[key].url}/predict`, body, started[key].child.pid!, run);
    const x = { a: got.a!, c: got.c!, d: got.d! };
    rounds.push(x);
    console.log(`  round ${r + 1}: ceiling ${fmt(x.a.requests_per_second, 0)} req/s, pipeline serve ${fmt(x.c.requests_per_second, 0)} req/s (${fmt(x.c.requests_per_second / x.a.requests_per_second, 2)}x), floor ${fmt(x.d.requests_per_second, 0)} req/s (${fmt(x.d.requests_per_second / x.a.requests_per_second, 2)}x), load average ${os.loadavg()[0]!.toFixed(1)}`);
  }
  await ceiling.stop();
  await floor.stop();
  const a = combine(rounds.map((x) => x.a));
  const c = combine(rounds.map((x) => x.c));
  const d = combine(rounds.map((x) => x.d));
  const ratios = rounds.map((x) => x.c.requests_per_second / x.a.requests_per_second).sort((p, q) => p - q);
  const floorRatios = rounds.map((x) => x.d.requests_per_second / x.a.requests_per_second).sort((p, q) => p - q);
  const rssLoaded = await rssMb(server.child.pid!);
  const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  const cpu = Object.fromEntries((["a", "c", "d"] as const).map((key) => [key, { server_us: median(rounds.map((x) => x[key].cpu.server_us)), load_generator_us: median(rounds.map((x) => x[key].cpu.load_generator_us)) }])) as Record<"a" | "c" | "d", CpuPerRequest>;
  const cores = os.availableParallelism();
  // What the machine allows: the server and the load generator share its cores, so at R req/s they need R × (s + g) µs per second.
  const bound = (x: CpuPerRequest) => (cores * 1e6) / (x.server_us + x.load_generator_us);
  const neededUs = (cores * 1e6) / (0.7 * a.requests_per_second) - cpu.c.load_generator_us;
  // Warmed as /predict is: the first large batch starts the helper thread, which loads the model.
  await load(`${server.url}/predict/batch`, batchBody, { connections: 1, seconds: 2 });
  const batch = await load(`${server.url}/predict/batch`, batchBody, { connections: 1, seconds: args.seconds });
  const rssAfterBatch = await rssMb(server.child.pid!);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  await server.stop();
  const rejected = [...metrics.matchAll(/^input_rejections_total\{reason="([^"]+)"\} (\d+)/gm)].map((m) => `${m[1]}=${m[2]}`);

  // (b) FastAPI + scikit-learn, and scikit-learn's in-process batch predict_proba
  let b: LoadResult | null = null;
  let sklearnBatch: { rows_per_second: number; sklearn: string } | null = null;
  if (args.fastapi) {
    const params = await sklearnParams();
    const fastapi = await startFastApiServer(args.python, CSV, params);
    await load(`${fastapi.url}/predict`, body, warm);
    b = await load(`${fastapi.url}/predict`, body, run);
    await fastapi.stop();
    const py = spawnSync(args.python, [path.join(ROOT, "bench/serve_fastapi.py"), "batch", CSV, params, recordsFile, "30"], { cwd: ROOT, encoding: "utf8" });
    if (py.status !== 0) throw new Error(`serve_fastapi.py batch failed:\n${py.stderr}`);
    sklearnBatch = JSON.parse(py.stdout.trim().split("\n").at(-1)!);
  }

  const batchRows = batch.requests_per_second * records.length;
  console.log(`machine at end: ${machine()}`);
  console.log("");
  console.log(line("(a) node:http ceiling", a) + "   (mean of rounds; p99 the worst round)");
  if (b) console.log(line("(b) FastAPI + scikit-learn", b));
  console.log(line("(c) pipeline serve", c));
  console.log(line("(d) floor (forest only)", d));
  console.log("");
  console.log(`throughput (c)/(a): ${fmt(c.requests_per_second / a.requests_per_second, 2)}x over all rounds; per round ${ratios.map((x) => fmt(x, 2)).join(", ")} (median ${fmt(ratios[Math.floor(ratios.length / 2)]!, 2)}x)   (goal >= 0.7x)`);
  console.log(`throughput (d)/(a): ${fmt(d.requests_per_second / a.requests_per_second, 2)}x; per round ${floorRatios.map((x) => fmt(x, 2)).join(", ")}   (what any server that predicts gets before logging, monitoring and limits)`);
  if (b) console.log(`throughput (c)/(b): ${fmt(c.requests_per_second / b.requests_per_second, 0)}x   p99 (b)/(c): ${fmt(b.p99_ms / c.p99_ms, 0)}x`);
  console.log(`CPU per request (medians of rounds), server (all threads) + load generator: (a) ${fmt(cpu.a.server_us, 1)} + ${fmt(cpu.a.load_generator_us, 1)} µs, (c) ${fmt(cpu.c.server_us, 1)} + ${fmt(cpu.c.load_generator_us, 1)} µs, (d) ${fmt(cpu.d.server_us, 1)} + ${fmt(cpu.d.load_generator_us, 1)} µs`);
  console.log(`  on ${cores} cores that allows at most (a) ${fmt(bound(cpu.a), 0)}, (c) ${fmt(bound(cpu.c), 0)}, (d) ${fmt(bound(cpu.d), 0)} req/s, on any number of threads; 0.7x of (a) needs (c) at <= ${fmt(neededUs, 1)} µs of server CPU per request`);
  console.log(`p99 (c): ${fmt(c.p99_ms)} ms   (goal <= 10 ms)`);
  console.log(`errors (c): ${c.errors + c.timeouts + c.non2xx}   (goal 0)${rejected.length ? `; server counted rejections: ${rejected.join(", ")}` : ""}`);
  console.log(`resident memory (c): ${fmt(rssReady)} MB when ready, ${fmt(rssLoaded)} MB after the load, ${fmt(rssAfterBatch)} MB after the batches   (goal <= 100 MB)`);
  console.log(`/predict/batch (1,000 rows over HTTP): ${fmt(batchRows, 0)} rows/s (p99 ${fmt(batch.p99_ms)} ms per batch, errors ${batch.errors + batch.non2xx})`);
  if (sklearnBatch) console.log(`scikit-learn ${sklearnBatch.sklearn} predict_proba in-process, same rows: ${fmt(sklearnBatch.rows_per_second, 0)} rows/s   ratio ${fmt(batchRows / sklearnBatch.rows_per_second, 2)}x   (goal >= 2x)`);

  const summary = { when: new Date().toISOString(), args, rounds, ceiling: a, fastapi: b, pipeline: c, floor: d, cpu_per_request: { ...cpu, cores, bound_rps: { a: bound(cpu.a), c: bound(cpu.c), d: bound(cpu.d) }, server_us_for_0_7x: neededUs }, rss_mb: { ready: rssReady, after_load: rssLoaded, after_batch: rssAfterBatch }, batch: { rows_per_second: batchRows, p99_ms: batch.p99_ms, errors: batch.errors + batch.non2xx }, sklearn_batch: sklearnBatch };
  await writeFile(path.join(OUT, "serve.json"), JSON.stringify(summary, null, 2) + "\n");
  console.log(`\nwritten: ${path.relative(ROOT, path.join(OUT, "serve.json"))}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
